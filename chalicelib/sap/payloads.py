"""What the engine sends to SAP: typed contacts, permissions and interactions.

The normalized record is mapped onto these models (by the pipeline, not here). Each model
knows its SAP entity set, its key and its OData V2 JSON body, and `DispatchRecord.problems`
checks every body against the shipped metadata (field names, maximum lengths, keys)
before anything is sent. A `DispatchMessage` is the body of one message on the SAP
dispatch FIFO queue: many records per message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.sap import metadata
from chalicelib.sap.metadata import CONTACT_SERVICE, INTERACTION_SERVICE

# Namespace for the deterministic ids derived from a record (uuid5).
_NAMESPACE = uuid.UUID("6f1c3c52-33b9-4b7e-9d51-5b1b0c1d6a10")


def odata_datetime(value: datetime | date) -> str:
    """OData V2 JSON date literal `/Date(<ms since epoch>)/` (UTC), as SAP Gateway expects."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)})/"


def key_predicate(keys: dict[str, str]) -> str:
    """`(A='x',B='y')` with OData quoting ('' for ') and URL escaping."""
    parts = []
    for name, value in keys.items():
        literal = value.replace("'", "''")
        parts.append(f"{name}='{quote(literal, safe='')}'")
    return "(" + ",".join(parts) + ")"


class _SapModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def _body(self, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in self.model_dump(by_alias=True, exclude_none=True).items():
            if not name[:1].isupper():
                continue  # our own fields (no SAP alias) stay home
            if isinstance(value, (datetime, date)):
                value = odata_datetime(value)
            elif isinstance(value, Decimal):
                value = str(value)  # Edm.Decimal is a JSON string in OData V2
            body[name] = value
        body.update(extra)
        return body


class SapContact(_SapModel):
    """A contact's origin data (API_MKT_CONTACT_SRV ContactOriginData), upserted by PUT."""

    contact_origin: str = Field(alias="ContactOrigin")
    contact_id: str = Field(alias="ContactID")
    origin_timestamp: datetime = Field(alias="OriginDataLastChgUTCDateTime")
    email: str | None = Field(default=None, alias="EmailAddress")
    first_name: str | None = Field(default=None, alias="FirstName")
    last_name: str | None = Field(default=None, alias="LastName")
    full_name: str | None = Field(default=None, alias="FullName")
    phone: str | None = Field(default=None, alias="PhoneNumber")
    mobile: str | None = Field(default=None, alias="MobileNumber")
    country: str | None = Field(default=None, alias="Country")
    region: str | None = Field(default=None, alias="AddressRegion")
    city: str | None = Field(default=None, alias="CityName")
    postal_code: str | None = Field(default=None, alias="ContactPostalCode")
    street: str | None = Field(default=None, alias="StreetName")
    house_number: str | None = Field(default=None, alias="AddressHouseNumber")
    language: str | None = Field(default=None, alias="Language")
    gender: str | None = Field(default=None, alias="GenderCode")
    birth_date: date | None = Field(default=None, alias="BirthDate")
    is_consumer: bool | None = Field(default=True, alias="IsConsumer")
    # Origin of the additional ID that carries the email (SAP customizing; EMAIL is standard)
    email_id_origin: str = "EMAIL"

    @property
    def keys(self) -> dict[str, str]:
        return {"ContactOrigin": self.contact_origin, "ContactID": self.contact_id}

    def origin_data(self) -> dict[str, Any]:
        return self._body()

    def additional_ids(self) -> list[dict[str, Any]]:
        """The email as an additional ID (AdditionalIDs entity), so SAP can merge contacts."""
        if not self.email:
            return []
        return [
            {
                "ContactOrigin": self.contact_origin,
                "ContactID": self.contact_id,
                "InteractionContactAdditionalOrigin": self.email_id_origin,
                "InteractionContactAdditionalExternalID": self.email,
            }
        ]


class SapPermission(_SapModel):
    """A marketing permission (consent) of a contact (API_MKT_CONTACT_SRV MarketingPermissions)."""

    contact_origin: str = Field(alias="ContactOrigin")
    contact_id: str = Field(alias="ContactID")
    permission_origin: str = Field(default="EMAIL", alias="ContactPermissionOrigin")
    permission_id: str = Field(alias="ContactPermissionID")  # e.g. the email address
    marketing_area: str = Field(default="CXXGLOBAL", alias="MarketingArea")
    communication_medium: str = Field(default="EMAIL", alias="CommunicationMedium")
    communication_category: str = Field(default="", alias="CommunicationCategory")
    opt_in: Literal["Y", "N", "U"] = Field(alias="ContactPermission")
    timestamp: datetime = Field(alias="PermissionUTCDateTime")
    source_system: str | None = Field(default=None, alias="PermissionSourceSystem")
    source_system_type: str | None = Field(default=None, alias="PermissionSourceSystemType")
    source_object_type: str | None = Field(default=None, alias="PermissionSourceObjectType")
    source_object: str | None = Field(default=None, alias="PermissionSourceObject")

    @property
    def keys(self) -> dict[str, str]:
        key_names = metadata.load(CONTACT_SERVICE).entity_set("MarketingPermissions").keys
        body = self.body()
        return {name: body[name] for name in key_names}

    def body(self) -> dict[str, Any]:
        return self._body()


class SapInteraction(_SapModel):
    """An interaction (API_MKT_INTERACTION_SRV Interactions), created by POST.

    POST is not idempotent, so (source_system, source_object_type, source_object,
    interaction_type) must identify the interaction uniquely: it is how an in-doubt send is
    looked up in SAP. One document has one interaction per type (its versions').
    """

    contact_origin: str = Field(alias="InteractionContactOrigin")
    contact_id: str = Field(alias="InteractionContactId")
    communication_medium: str = Field(alias="CommunicationMedium")
    interaction_type: str = Field(alias="InteractionType")
    timestamp: datetime = Field(alias="InteractionTimeStampUTC")
    source_system: str = Field(alias="SourceSystem")
    source_system_type: str | None = Field(default=None, alias="SourceSystemType")
    source_object_type: str = Field(alias="InteractionSourceObjectType")
    source_object: str = Field(alias="InteractionSourceObject")
    source_object_additional_id: str | None = Field(default=None, alias="InteractionSourceObjectAddlID")
    source_timestamp: datetime | None = Field(default=None, alias="InteractionSourceTimeStampUTC")
    marketing_area: str | None = Field(default=None, alias="MarketingArea")
    campaign_id: str | None = Field(default=None, alias="CampaignID")
    language: str | None = Field(default=None, alias="InteractionLanguage")
    amount: Decimal | None = Field(default=None, alias="InteractionAmount")
    currency: str | None = Field(default=None, alias="InteractionCurrency")
    content_subject: str | None = Field(default=None, alias="InteractionContentSubject")
    content: str | None = Field(default=None, alias="InteractionContent")  # custom answers, see outbox
    status: str | None = Field(default=None, alias="InteractionStatus")
    reason: str | None = Field(default=None, alias="InteractionReason")
    device_type: str | None = Field(default=None, alias="DeviceType")

    @property
    def natural_key(self) -> tuple[str, str, str, str]:
        return (self.source_system, self.source_object_type, self.source_object, self.interaction_type)

    def body(self) -> dict[str, Any]:
        return self._body()


class DispatchRecord(_SapModel):
    """One normalized record as SAP sees it: the contact, its consents, its interactions.

    `record_id` must be deterministic (the same input record always gets the same id):
    the dispatch ledger keys on it, so an upstream duplicate is never sent twice. It is one
    interaction of a document (`normalize/versions.interaction_key`); `document_id` is the
    document the State Keeper hears about (the record id itself where it is not given).
    `subject_id` is the pseudonymous subject (HMAC of the email), safe for logs and state.
    """

    record_id: str = Field(min_length=1, max_length=200)
    subject_id: str = Field(min_length=1, max_length=200)
    document_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact: SapContact | None = None
    permissions: list[SapPermission] = Field(default_factory=list)
    interactions: list[SapInteraction] = Field(default_factory=list)

    @field_validator("interactions")
    @classmethod
    def _unique_interactions(cls, value: list[SapInteraction]) -> list[SapInteraction]:
        keys = [interaction.natural_key for interaction in value]
        if len(keys) != len(set(keys)):
            raise ValueError("interactions of one record must have distinct source objects")
        return value

    @property
    def document(self) -> str:
        """The State Keeper's document of this record."""
        return self.document_id or self.record_id

    def problems(self) -> list[str]:
        """Everything SAP's metadata would reject, without values; empty when sendable."""
        contact_service = metadata.load(CONTACT_SERVICE)
        found: list[str] = []
        if self.contact is not None:
            found += metadata.problems(
                contact_service.entity_set("ContactOriginData"), self.contact.origin_data(), creating=True
            )
            for additional in self.contact.additional_ids():
                found += metadata.problems(contact_service.entity_set("AdditionalIDs"), additional, creating=True)
        for permission in self.permissions:
            found += metadata.problems(
                contact_service.entity_set("MarketingPermissions"), permission.body(), creating=True
            )
        interactions = metadata.load(INTERACTION_SERVICE).entity_set("Interactions")
        for interaction in self.interactions:
            found += metadata.problems(interactions, interaction.body(), creating=True)
        if not (self.contact or self.permissions or self.interactions):
            found.append("record has nothing to send")
        return sorted(set(found))

    def occurred_at(self) -> datetime | None:
        """When the record's interaction happened (the latest one), else the contact's time.

        What an erasure tombstone is compared with: the outbox sets both from the normalized
        record's `interaction.occurred_at`.
        """
        times = [i.timestamp for i in self.interactions] or (
            [self.contact.origin_timestamp] if self.contact is not None else []
        )
        if not times:
            return None
        return max(t if t.tzinfo else t.replace(tzinfo=UTC) for t in times)

    def personal_values(self) -> list[str]:
        """Values that must never leave in an error message (for redaction)."""
        values: list[str] = []
        if self.contact is not None:
            contact = self.contact
            values += [
                v
                for v in (
                    contact.email,
                    contact.first_name,
                    contact.last_name,
                    contact.full_name,
                    contact.phone,
                    contact.mobile,
                    contact.street,
                    contact.contact_id,
                )
                if v
            ]
        values += [permission.permission_id for permission in self.permissions]
        values += [interaction.content for interaction in self.interactions if interaction.content]
        return values


class DispatchMessage(BaseModel):
    """The body of one message on the SAP dispatch FIFO queue."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    records: list[DispatchRecord] = Field(min_length=1)

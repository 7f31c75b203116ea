"""The SAP outbox: normalized records mapped to SAP's models and queued on the dispatch FIFO queue.

`to_dispatch_record` is the one mapping from the normalized schema to what SAP sees:
- the contact is keyed by the pseudonymous subject id (`ContactOrigin` DATA_ENGINE), so one
  person's records from every platform land on one SAP contact; the email also travels as
  an additional ID so SAP can merge it with contacts from elsewhere;
- a stated marketing consent becomes a `MarketingPermissions` entry for the email;
- the interaction is keyed by (source platform, DOCUMENT, document id, interaction type):
  deterministic, so an in-doubt send can be looked up in SAP and is never created twice;
  each version of a document sends its own interaction (a check-in, a refund), and the
  dispatch ledger keys on (document, interaction type), so SAP receives each once
  (`normalize/versions.py`);
- the custom answers of a lead form or registration travel as the interaction's
  `InteractionContent` (`answers_content`).
The mapping reads no clock: the same record always maps to the same payload.

Records without a subject id (Amazon's general order report carries no buyer email, name
or phone) are not sent. An interaction needs a contact in SAP, and a contact per order
without any contact data would only add unmergeable contacts (SAP Marketing Cloud is
licensed per contact). They stay in the lake; `send` returns them as unsendable with
`NO_SUBJECT_FOR_SAP`. Records that break SAP's metadata (e.g. an email longer than 241
characters) come back with `INVALID_FOR_SAP`; names and free texts are cut to SAP's
lengths instead, as SAP's own file import does.

`SapOutbox.send` packs many records per message (one `DispatchMessage` body, at most
`MAX_MESSAGE_BYTES`). A subject's records always share one message group (a shard of the
subject id), so SQS FIFO keeps them in order while other shards are dispatched in
parallel. The deduplication id is a hash of the body: a chunk normalized twice within
SQS's five-minute window queues its records once, and after that the dispatch ledger
keeps SAP from seeing them twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from chalicelib.normalize.schema import Answer, InteractionType, NormalizedRecord
from chalicelib.normalize.versions import first_of_each_interaction, interaction_key
from chalicelib.queues import send_batches
from chalicelib.sap import metadata
from chalicelib.sap.exceptions import OutboxUnavailable
from chalicelib.sap.metadata import CONTACT_SERVICE, INTERACTION_SERVICE
from chalicelib.sap.payloads import DispatchMessage, DispatchRecord, SapContact, SapInteraction, SapPermission
from chalicelib.subjects.shards import DEFAULT_SHARDS, shard_of

log = logging.getLogger(__name__)

# SAP customizing: the contact origin of our contacts and the interaction types and medium
# must exist in the tenant (Manage Contact Origins, Interaction Types).
CONTACT_ORIGIN = "DATA_ENGINE"
PERMISSION_ORIGIN = "EMAIL"
COMMUNICATION_MEDIUM = "WEB"
SOURCE_OBJECT_TYPE = "DOCUMENT"
INTERACTION_TYPES: dict[InteractionType, str] = {
    InteractionType.REGISTRATION: "EVENT_REGISTRATION",
    InteractionType.TICKET_PURCHASE: "TICKET_PURCHASE",
    InteractionType.CHECK_IN: "EVENT_ATTENDANCE",
    InteractionType.CANCELLATION: "EVENT_CANCELLATION",
    InteractionType.REFUND: "REFUND",
    InteractionType.LEAD_FORM: "LEAD_FORM",
    InteractionType.ORDER: "SALES_ORDER",
}

# Reason codes of records that are not queued (State Keeper reason codes)
NO_SUBJECT = "NO_SUBJECT_FOR_SAP"
INVALID_FOR_SAP = "INVALID_FOR_SAP"

RECORDS_PER_MESSAGE = 100  # the dispatcher's records per $batch: one message, one request per service
MAX_MESSAGE_BYTES = 240 * 1024  # below SQS's 256 KB
SEND_ATTEMPTS = 5
# InteractionContent has no MaxLength in the EDMX (an unbounded string); bounded here so
# one record stays a small part of a dispatch message
ANSWERS_CONTENT_MAX = 4000


class Unsendable(Exception):
    """A normalized record SAP cannot take; `reason_code` says why (no values)."""

    def __init__(self, reason_code: str) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code


def _cut(value: str | None, service: str, entity_set: str, name: str) -> str | None:
    """A free text cut to SAP's maximum length for the property."""
    if value is None:
        return None
    limit = metadata.load(service).entity_set(entity_set).properties[name].max_length
    return value[:limit] if limit else value


def answers_content(answers: list[Answer]) -> str | None:
    """The answers as one text, `question: value, value; question: value`, for SAP.

    Interaction's `InteractionContent` is the one property meant for free text of any
    length (`Edm.String` without MaxLength, neither sortable nor filterable): the other
    texts are short codes and ids, and `InteractionContentSubject` (255) holds the event
    name. Interests, tags and additional objects need values maintained in SAP's
    customizing, which free answers are not. The question is its label where the platform
    gives one, else its key; the text is cut to the limit (the metadata's MaxLength where it
    declares one, else ANSWERS_CONTENT_MAX), ending in "…" when cut.
    """
    if not answers:
        return None
    text = "; ".join(f"{answer.label or answer.key}: {', '.join(answer.values)}" for answer in answers)
    declared = metadata.load(INTERACTION_SERVICE).entity_set("Interactions").properties["InteractionContent"]
    limit = min(declared.max_length or ANSWERS_CONTENT_MAX, ANSWERS_CONTENT_MAX)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_dispatch_record(record: NormalizedRecord) -> DispatchRecord:
    """What SAP gets for one normalized record; raises `Unsendable` when it cannot be sent."""
    if not record.subject_id:
        raise Unsendable(NO_SUBJECT)
    contact, interaction, source = record.contact, record.interaction, record.lineage.source
    at = interaction.occurred_at
    full_name = " ".join(part for part in (contact.first_name, contact.last_name) if part) or None
    sap_contact = SapContact(
        contact_origin=CONTACT_ORIGIN,
        contact_id=record.subject_id,
        origin_timestamp=at,
        email=contact.email,
        first_name=_cut(contact.first_name, CONTACT_SERVICE, "ContactOriginData", "FirstName"),
        last_name=_cut(contact.last_name, CONTACT_SERVICE, "ContactOriginData", "LastName"),
        full_name=_cut(full_name, CONTACT_SERVICE, "ContactOriginData", "FullName"),
        phone=contact.phone,
        country=contact.country,
        language=contact.language.upper() if contact.language else None,
    )
    permissions = []
    consent = contact.marketing_consent
    if consent is not None and contact.email:
        permissions.append(
            SapPermission(
                contact_origin=CONTACT_ORIGIN,
                contact_id=record.subject_id,
                permission_origin=PERMISSION_ORIGIN,
                permission_id=contact.email,
                opt_in="Y" if consent.granted else "N",
                timestamp=consent.at or at,
                source_system=source,
                source_object_type=SOURCE_OBJECT_TYPE,
                source_object=record.document_id,
            )
        )
    event = record.event
    sap_interaction = SapInteraction(
        contact_origin=CONTACT_ORIGIN,
        contact_id=record.subject_id,
        communication_medium=COMMUNICATION_MEDIUM,
        interaction_type=INTERACTION_TYPES[interaction.type],
        timestamp=at,
        source_system=source,
        source_object_type=SOURCE_OBJECT_TYPE,
        source_object=record.document_id,
        source_object_additional_id=event.id if event and event.id and len(event.id) <= 50 else None,
        language=contact.language.upper() if contact.language else None,
        amount=interaction.amount,
        currency=interaction.currency if interaction.amount is not None else None,
        content_subject=_cut(
            event.name if event else None, INTERACTION_SERVICE, "Interactions", "InteractionContentSubject"
        ),
        content=answers_content(record.answers),
    )
    dispatch_record = DispatchRecord(
        record_id=interaction_key(record.document_id, interaction.type),
        document_id=record.document_id,
        subject_id=record.subject_id,
        contact=sap_contact,
        permissions=permissions,
        interactions=[sap_interaction],
    )
    if dispatch_record.problems():
        raise Unsendable(INVALID_FOR_SAP)
    return dispatch_record


@dataclass
class OutboxResult:
    """What `send` did: document ids queued, and the ones not sent with their reason code."""

    queued: list[str] = field(default_factory=list)
    unsendable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxMessage:
    body: str
    group_id: str
    deduplication_id: str
    document_ids: tuple[str, ...]  # of its records, in order (a document once per interaction type)


def pack(
    records: list[DispatchRecord], shards: int = DEFAULT_SHARDS, per_message: int = RECORDS_PER_MESSAGE
) -> list[OutboxMessage]:
    """Messages for `records`: per shard, in input order, at most `per_message` records and MAX_MESSAGE_BYTES."""
    by_shard: dict[int, list[DispatchRecord]] = {}
    for record in records:
        by_shard.setdefault(shard_of(record.subject_id, shards), []).append(record)
    messages: list[OutboxMessage] = []
    for shard, shard_records in sorted(by_shard.items()):
        pending = [shard_records[i : i + per_message] for i in range(0, len(shard_records), per_message)]
        while pending:
            group = pending.pop(0)
            body = DispatchMessage(records=group).model_dump_json(exclude_defaults=False)
            if len(body.encode()) > MAX_MESSAGE_BYTES and len(group) > 1:
                half = len(group) // 2
                pending[:0] = [group[:half], group[half:]]
                continue
            messages.append(
                OutboxMessage(
                    body=body,
                    group_id=f"subjects-{shard}",
                    deduplication_id=hashlib.sha256(body.encode()).hexdigest(),
                    document_ids=tuple(r.document for r in group),
                )
            )
    return messages


class SapOutbox:
    """Queues normalized records for SAP on the dispatch FIFO queue (adapters take their client)."""

    def __init__(
        self, queue_url: str, sqs: Any, shards: int = DEFAULT_SHARDS, per_message: int = RECORDS_PER_MESSAGE
    ) -> None:
        self.queue_url = queue_url
        self.sqs = sqs
        self.shards = shards
        self.per_message = per_message

    def send(self, records: list[NormalizedRecord]) -> OutboxResult:
        """Queue every sendable record; raises `OutboxUnavailable` if a message could not be sent.

        On that error some messages may be queued already: sending the same records again
        is safe (deduplication id, then the dispatch ledger).
        """
        result = OutboxResult()
        sendable: list[DispatchRecord] = []
        # versions of one document in one call: the earliest of each interaction type, as in order
        for record in first_of_each_interaction(records):
            try:
                sendable.append(to_dispatch_record(record))
            except Unsendable as unsendable:
                result.unsendable[record.document_id] = unsendable.reason_code
        messages = pack(sendable, self.shards, self.per_message)
        for batch in send_batches(messages, lambda message: message.body):
            self._send_batch(batch)
            result.queued.extend(d for message in batch for d in message.document_ids)
        result.queued = list(dict.fromkeys(result.queued))
        if result.unsendable:
            log.info("%d of %d records not queued for SAP", len(result.unsendable), len(records))
        return result

    def _send_batch(self, batch: list[OutboxMessage]) -> None:
        entries = {str(index): message for index, message in enumerate(batch)}
        for _attempt in range(SEND_ATTEMPTS):
            response = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": key,
                        "MessageBody": message.body,
                        "MessageGroupId": message.group_id,
                        "MessageDeduplicationId": message.deduplication_id,
                    }
                    for key, message in entries.items()
                ],
            )
            failed = {failure["Id"] for failure in response.get("Failed", [])}
            entries = {key: message for key, message in entries.items() if key in failed}
            if not entries:
                return
        raise OutboxUnavailable(f"{len(entries)} SAP dispatch messages could not be queued")

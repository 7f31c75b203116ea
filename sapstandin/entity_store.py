"""What the stand-in's SAP holds, and the rules SAP applies when writing it.

Writes follow SAP Marketing Cloud's behaviour as far as the engine depends on it:
ContactOriginData, AdditionalIDs and MarketingPermissions are upserted by PUT on their
key (an older OriginDataLastChgUTCDateTime never overwrites a newer one); PATCH/MERGE change
the given (updatable) properties of an entity that exists, else 404; the function import
ContactOriginDeleteAdditionalIDs (POST) deletes a contact origin's additional IDs; Interactions
are created by POST and get a fresh InteractionUUID every time, so sending one twice
creates a duplicate, exactly as in SAP. Permissions, additional IDs and interactions
need their contact first. Every write in a changeset is undone if a later one fails.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from sapstandin.service_models import EntitySetModel, FunctionImportModel, ServiceModel

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# what makes two interactions "the same" for the duplicate report
INTERACTION_IDENTITY = (
    "SourceSystem",
    "InteractionSourceObjectType",
    "InteractionSourceObject",
    "InteractionType",
    "InteractionContactOrigin",
    "InteractionContactId",
)


class ODataError(Exception):
    """An error SAP reports with its error JSON."""

    def __init__(self, status: int, code: str, message: str, target: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


@dataclass
class Written:
    status: int
    entity: dict[str, Any] | None = None
    location: str | None = None


def parse_keys(predicate: str, entity_set: EntitySetModel) -> dict[str, str]:
    """`A='x',B='y'` (or `guid'…'`, or a single unnamed value) into a key dict."""
    values: dict[str, str] = {}
    pattern = re.compile(r"(?:(\w+)=)?(?:guid)?'((?:[^']|'')*)'")
    position = 0
    for match in pattern.finditer(predicate):
        if predicate[position : match.start()].strip(", "):
            raise ODataError(400, "/IWBEP/CM_MGW_RT/105", "Invalid key predicate")
        name = match.group(1) or (entity_set.keys[0] if len(entity_set.keys) == 1 else "")
        values[name] = unquote(match.group(2)).replace("''", "'")
        position = match.end()
    if predicate[position:].strip(", ") or set(values) != set(entity_set.keys):
        raise ODataError(
            400,
            "/IWBEP/CM_MGW_RT/105",
            f"Invalid key predicate for entity set {entity_set.name}: expected " + ", ".join(entity_set.keys),
        )
    return values


class EntityStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.entities: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self.interactions: list[dict[str, Any]] = []
        self.posts = Counter[str]()  # POST count per interaction identity

    def reset(self) -> None:
        with self.lock:
            self.entities.clear()
            self.interactions.clear()
            self.posts.clear()

    # -- reads ---------------------------------------------------------------------------

    def get(self, entity_set: EntitySetModel, keys: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            if entity_set.name == "Interactions":
                for row in self.interactions:
                    if row["InteractionUUID"] == keys["InteractionUUID"]:
                        return dict(row)
            else:
                row = self.entities.get(entity_set.name, {}).get(tuple(keys[k] for k in entity_set.keys))
                if row is not None:
                    return dict(row)
        raise ODataError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{entity_set.type_name}'")

    def rows(self, entity_set: EntitySetModel) -> list[dict[str, Any]]:
        with self.lock:
            if entity_set.name == "Interactions":
                return [dict(row) for row in self.interactions]
            return [dict(row) for row in self.entities.get(entity_set.name, {}).values()]

    def contact_exists(self, origin: str, contact_id: str) -> bool:
        return (origin, contact_id) in self.entities.get("ContactOriginData", {})

    # -- writes (caller holds the lock; `undo` collects how to take each write back) -----

    def write(
        self,
        service: ServiceModel,
        method: str,
        path: str,
        body: bytes,
        undo: list[Callable[[], None]],
        query: str = "",
    ) -> Written:
        name, _, predicate = path.partition("(")
        if name in service.function_imports and not predicate:
            return self._call(service.function_imports[name], method, query, undo)
        entity_set = service.entity_sets.get(name)
        if entity_set is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{name}'")
        try:
            payload = json.loads(body or b"{}")
        except ValueError as error:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Malformed JSON payload") from error
        if not isinstance(payload, dict):
            raise ODataError(400, "/IWBEP/CM_MGW_RT/004", "Payload must be a JSON object")
        payload.pop("__metadata", None)
        if method == "POST":
            if predicate or not entity_set.creatable:
                raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Entity set {name} does not support create")
            validate(entity_set, payload, creating=True)
            if name != "Interactions":
                raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Use PUT to write {name}")
            return self._create_interaction(payload, undo)
        if method in ("PUT", "PATCH", "MERGE"):
            if not predicate.endswith(")") or not entity_set.updatable:
                raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Entity set {name} does not support update")
            keys = parse_keys(predicate[:-1], entity_set)
            for key, value in keys.items():
                if key in payload and str(payload[key]) != value:
                    raise ODataError(400, "/IWBEP/CM_MGW_RT/107", f"Key property {key} differs from the URI")
            payload.update(keys)
            if method == "PUT":
                validate(entity_set, payload, creating=True)  # an upsert: may create
                return self._upsert(entity_set, keys, payload, undo)
            # PATCH/MERGE change the given properties of an existing entity: updatable ones only
            validate(entity_set, payload, creating=False)
            self.get(entity_set, keys)  # 404 when SAP does not hold it
            return self._upsert(entity_set, keys, payload, undo)
        raise ODataError(405, "/IWBEP/CM_MGW_RT/020", f"Method {method} not allowed for {name}")

    def _upsert(
        self, entity_set: EntitySetModel, keys: dict[str, str], payload: dict[str, Any], undo: list[Callable[[], None]]
    ) -> Written:
        if entity_set.name == "ContactOriginData":
            email = payload.get("EmailAddress")
            if email and not _EMAIL.match(email):
                raise ODataError(400, "HPA_CONTACT/040", f"E-mail address {email} is not valid", "EmailAddress")
        else:
            origin, contact_id = keys.get("ContactOrigin"), keys.get("ContactID")
            if origin is not None and not self.contact_exists(origin, contact_id or ""):
                raise ODataError(400, "HPA_CONTACT/012", f"Contact {contact_id} of origin {origin} does not exist")
        table = self.entities.setdefault(entity_set.name, {})
        key = tuple(keys[k] for k in entity_set.keys)
        before = table.get(key)
        changed_at = "OriginDataLastChgUTCDateTime"
        if (
            before is not None
            and entity_set.name == "ContactOriginData"
            and _date(payload.get(changed_at)) < _date(before.get(changed_at))
        ):
            return Written(204)  # older data never overwrites newer data
        table[key] = {**(before or {}), **payload}
        undo.append(lambda: table.__setitem__(key, before) if before is not None else table.pop(key, None))
        return Written(204)

    def _call(self, function: FunctionImportModel, method: str, query: str, undo: list[Callable[[], None]]) -> Written:
        """A function import with side effects (POST), its parameters in the query string."""
        if method != function.http_method:
            raise ODataError(
                405, "/IWBEP/CM_MGW_RT/020", f"Function import {function.name} needs HTTP method {function.http_method}"
            )
        arguments: dict[str, str] = {}
        for name, raw in parse_qsl(query, keep_blank_values=True):
            if name not in function.parameters:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/020",
                    f"Parameter '{name}' is invalid for function import '{function.name}'",
                    name,
                )
            match = re.fullmatch(r"'((?:[^']|'')*)'", raw)
            if match is None:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/004", f"Invalid literal for parameter '{name}'", name)
            arguments[name] = match.group(1).replace("''", "'")
        for name, parameter in function.parameters.items():
            value = arguments.get(name)
            if value is None and not parameter.nullable:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Parameter '{name}' is missing", name)
            if value is not None and parameter.max_length is not None and len(value) > parameter.max_length:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/000",
                    f"Parameter '{name}' exceeds the maximum length of {parameter.max_length}",
                    name,
                )
        if function.name == "ContactOriginDeleteAdditionalIDs":
            return self._delete_additional_ids(arguments["ContactOrigin"], arguments["ContactID"], undo)
        raise ODataError(501, "/IWBEP/CM_MGW_RT/020", f"Function import {function.name} is not implemented here")

    def _delete_additional_ids(self, origin: str, contact_id: str, undo: list[Callable[[], None]]) -> Written:
        """Every additional ID of one contact origin deleted; answers the contact origin."""
        contact = self.entities.get("ContactOriginData", {}).get((origin, contact_id))
        if contact is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/021", "Resource not found for segment 'ContactOriginData'")
        table = self.entities.setdefault("AdditionalIDs", {})
        removed = {key: row for key, row in table.items() if key[:2] == (origin, contact_id)}
        for key in removed:
            del table[key]
        undo.append(lambda: table.update(removed))
        return Written(200, dict(contact))

    def delete_obsolete_contacts(self) -> dict[str, int]:
        """SAP's data-protection jobs ('flag contacts for deletion', 'delete flagged contacts'):
        an obsolete contact origin goes, with its additional IDs, permissions and interactions."""
        with self.lock:
            contacts = self.entities.get("ContactOriginData", {})
            gone = {key for key, row in contacts.items() if row.get("IsObsolete") is True}
            deleted = Counter({"contacts": len(gone)})
            for key in gone:
                del contacts[key]
            for name in ("AdditionalIDs", "MarketingPermissions"):
                table = self.entities.get(name, {})
                for key in [k for k, row in table.items() if (row["ContactOrigin"], row["ContactID"]) in gone]:
                    del table[key]
                    deleted[name] += 1
            kept = [
                row
                for row in self.interactions
                if (row.get("InteractionContactOrigin"), row.get("InteractionContactId")) not in gone
            ]
            deleted["Interactions"] = len(self.interactions) - len(kept)
            self.interactions[:] = kept
            return {
                "contacts": deleted["contacts"],
                "additional_ids": deleted["AdditionalIDs"],
                "permissions": deleted["MarketingPermissions"],
                "interactions": deleted["Interactions"],
            }

    def _create_interaction(self, payload: dict[str, Any], undo: list[Callable[[], None]]) -> Written:
        origin, contact_id = payload.get("InteractionContactOrigin"), payload.get("InteractionContactId")
        if origin and not self.contact_exists(origin, contact_id or ""):
            raise ODataError(400, "HPA_MKT_IA/027", f"Contact {contact_id} of origin {origin} does not exist")
        row = {**payload, "InteractionUUID": str(uuid.uuid4())}
        identity = "|".join(str(row.get(k, "")) for k in INTERACTION_IDENTITY)
        self.interactions.append(row)
        self.posts[identity] += 1

        def take_back() -> None:
            self.interactions.remove(row)
            self.posts[identity] -= 1

        undo.append(take_back)
        return Written(201, row, f"Interactions(guid'{row['InteractionUUID']}')")

    # -- inspection ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            counts = Counter("|".join(str(r.get(k, "")) for k in INTERACTION_IDENTITY) for r in self.interactions)
            duplicates = [
                {"identity": dict(zip(INTERACTION_IDENTITY, identity.split("|"))), "count": n}
                for identity, n in counts.items()
                if n > 1
            ]
            return {
                "contacts": list(self.entities.get("ContactOriginData", {}).values()),
                "additional_ids": list(self.entities.get("AdditionalIDs", {}).values()),
                "permissions": list(self.entities.get("MarketingPermissions", {}).values()),
                "interactions": list(self.interactions),
                "duplicates": duplicates,
                "counts": {
                    "contacts": len(self.entities.get("ContactOriginData", {})),
                    "additional_ids": len(self.entities.get("AdditionalIDs", {})),
                    "permissions": len(self.entities.get("MarketingPermissions", {})),
                    "interactions": len(self.interactions),
                    "duplicates": sum(d["count"] - 1 for d in duplicates),
                    # contact origins the engine erased (IsObsolete), awaiting SAP's deletion job
                    "contacts_marked_for_deletion": sum(
                        1
                        for row in self.entities.get("ContactOriginData", {}).values()
                        if row.get("IsObsolete") is True
                    ),
                },
            }


def validate(entity_set: EntitySetModel, payload: dict[str, Any], *, creating: bool) -> None:
    """SAP's checks of a payload against the metadata: names, keys, nullability, lengths."""
    for name, value in payload.items():
        prop = entity_set.properties.get(name)
        if prop is None:
            raise ODataError(
                400,
                "/IWBEP/CM_MGW_RT/020",
                f"Property '{name}' is invalid for entity type '{entity_set.type_name}'",
                name,
            )
        if value is None:
            if not prop.nullable:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/022", f"Property '{name}' must not be null", name)
            continue
        if not (prop.creatable if creating else prop.updatable) and name not in entity_set.keys:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/023", f"Property '{name}' is read-only", name)
        if prop.type_name == "Edm.String":
            if not isinstance(value, str):
                raise ODataError(400, "/IWBEP/CM_MGW_RT/004", f"Invalid value for property '{name}'", name)
            if prop.max_length is not None and len(value) > prop.max_length:
                raise ODataError(
                    400,
                    "/IWBEP/CM_MGW_RT/000",
                    f"Value '{value}' of property '{name}' exceeds the maximum length of {prop.max_length}",
                    name,
                )
        if prop.type_name in ("Edm.DateTime", "Edm.DateTimeOffset") and not _is_date(value):
            raise ODataError(400, "/IWBEP/CM_MGW_RT/004", f"Invalid date for property '{name}'", name)
    for key in entity_set.keys:
        if entity_set.properties[key].type_name != "Edm.Guid" and payload.get(key) is None:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/105", f"Key property '{key}' is missing", key)


_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and (bool(_DATE.match(value)) or bool(re.match(r"^\d{4}-\d\d-\d\dT", value)))


def _date(value: Any) -> float:
    match = _DATE.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else float("-inf")

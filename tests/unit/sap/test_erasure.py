"""Erasure in SAP: the exact requests, and how answers become per-subject outcomes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.sap import batch, metadata
from chalicelib.sap.batch import Changeset
from chalicelib.sap.client import ChangesetOutcome
from chalicelib.sap.erasure import (
    FAILED,
    MARKED_FOR_DELETION,
    NOT_CLEAN,
    NOT_IN_SAP,
    PERSONAL_PROPERTIES,
    VERIFIED,
    ErasureOptions,
    InMemorySapContacts,
    SapErasure,
    additional_ids_left,
    change_time,
    erasure,
    lookup,
    parse_odata_datetime,
    readback,
)
from chalicelib.sap.exceptions import SapUnavailable
from chalicelib.sap.throttle import InMemoryThrottle, ThrottleSettings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def test_the_erasure_of_a_subject_is_one_patch_and_the_additional_ids_function_import() -> None:
    changeset = erasure("subject-1", NOW)

    assert changeset.ref == "subject-1"
    patch, delete_ids = changeset.operations
    assert (patch.method, patch.path) == (
        "PATCH",
        "ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='subject-1')",
    )
    assert patch.body == {
        "ContactOrigin": "DATA_ENGINE",
        "ContactID": "subject-1",
        "EmailAddress": None,
        "FirstName": None,
        "LastName": None,
        "FullName": None,
        "PhoneNumber": None,
        "MobileNumber": None,
        "Country": None,
        "AddressRegion": None,
        "CityName": None,
        "ContactPostalCode": None,
        "StreetName": None,
        "AddressHouseNumber": None,
        "Language": None,
        "GenderCode": None,
        "BirthDate": None,
        "IsObsolete": True,
        "OriginDataLastChgUTCDateTime": f"/Date({NOW_MS})/",
    }
    assert (delete_ids.method, delete_ids.path, delete_ids.body) == (
        "POST",
        "ContactOriginDeleteAdditionalIDs?ContactID='subject-1'&ContactOrigin='DATA_ENGINE'",
        None,
    )


def test_the_patch_body_is_updatable_by_the_metadata() -> None:
    contact_origin = metadata.load(metadata.CONTACT_SERVICE).entity_set("ContactOriginData")
    assert metadata.problems(contact_origin, erasure("subject-1", NOW).operations[0].body or {}, creating=False) == []
    assert "EmailAddress" in PERSONAL_PROPERTIES and "ContactID" not in PERSONAL_PROPERTIES


def test_quotes_in_a_subject_id_are_escaped_in_keys_and_parameters() -> None:
    patch, delete_ids = erasure("o'brien", NOW).operations
    assert patch.path.endswith("ContactID='o%27%27brien')")
    assert "ContactID='o%27%27brien'" in delete_ids.path


def test_the_lookup_is_a_retrieve_part_that_reads_no_personal_data() -> None:
    changeset = lookup("subject-1")
    (operation,) = changeset.operations
    assert (operation.method, operation.path) == (
        "GET",
        "ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='subject-1')"
        "?$select=ContactID,OriginDataLastChgUTCDateTime",
    )
    body = batch.build([changeset, erasure("subject-2", NOW)], boundary="b").body.decode()
    retrieve, changeset_part = body.split("--b\r\n")[1:3]
    assert retrieve.startswith("Content-Type: application/http\r\n") and "GET ContactOriginData(" in retrieve
    assert changeset_part.startswith("Content-Type: multipart/mixed; boundary=changeset_")
    assert re.search(r"PATCH ContactOriginData\(.*\) HTTP/1.1", changeset_part)


def test_the_change_time_is_after_what_sap_holds() -> None:
    assert change_time(None, NOW) == NOW
    assert change_time(NOW - timedelta(days=1), NOW) == NOW
    assert change_time(NOW + timedelta(hours=1), NOW) == NOW + timedelta(hours=1, milliseconds=1)
    assert parse_odata_datetime(f"/Date({NOW_MS})/") == NOW
    assert parse_odata_datetime(f"/Date({NOW_MS}+0000)/") == NOW
    assert parse_odata_datetime("nonsense") is None


@dataclass
class ScriptedSap:
    """Contacts SAP holds (subject -> change time in ms); scripted failures of whole requests or parts."""

    held: dict[str, int] = field(default_factory=dict)
    script: list[Exception | None] = field(default_factory=list)
    part_answers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # subject -> (kind, status)...
    calls: list[list[Changeset]] = field(default_factory=list)

    def send_batch(self, service: str, changesets: list[Changeset]) -> list[ChangesetOutcome]:
        assert service == "API_MKT_CONTACT_SRV"
        self.calls.append(changesets)
        if self.script and (failure := self.script.pop(0)) is not None:
            raise failure
        outcomes = []
        for changeset in changesets:
            scripted = self.part_answers.get(changeset.ref)
            if scripted and changeset.operations[0].method != "GET":
                kind, status = scripted.pop(0)
                outcomes.append(ChangesetOutcome(changeset.ref, kind, status, retry_after=1.0))  # type: ignore[arg-type]
            elif changeset.ref not in self.held:
                outcomes.append(ChangesetOutcome(changeset.ref, "rejected", 404, "/IWBEP/CM_MGW_RT/021", "not found"))
            elif changeset.operations[0].method == "GET":
                held = self.held[changeset.ref]
                body = f'{{"d": {{"ContactID": "x", "OriginDataLastChgUTCDateTime": "/Date({held})/"}}}}'
                outcomes.append(ChangesetOutcome(changeset.ref, "accepted", 200, body=body.encode()))
            else:
                outcomes.append(ChangesetOutcome(changeset.ref, "accepted", 204))
        return outcomes


def an_eraser(sap: ScriptedSap, sleeps: list[float] | None = None, **options: object) -> SapErasure:
    """An eraser on a fake clock: sleeping moves time on at once (for it and the throttle)."""
    record = sleeps if sleeps is not None else []
    now = [1000.0]

    def sleep(seconds: float) -> None:
        record.append(seconds)
        now[0] += seconds

    throttle = InMemoryThrottle(
        ThrottleSettings(requests_per_second=1000, records_per_second=100_000), clock=lambda: now[0]
    )
    return SapErasure(
        sap,
        throttle,
        options=ErasureOptions(**options),  # type: ignore[arg-type]
        clock=lambda: NOW,
        monotonic=lambda: now[0],
        sleep=sleep,
    )


def test_subjects_in_sap_are_marked_for_deletion_and_others_are_not_in_sap() -> None:
    sap = ScriptedSap(held={"a": NOW_MS - 1000, "b": NOW_MS + 5000})

    result = an_eraser(sap).erase(["a", "b", "c"])

    assert result.outcomes == {"a": MARKED_FOR_DELETION, "b": MARKED_FOR_DELETION, "c": NOT_IN_SAP}
    assert result.counts() == {"marked_for_deletion": 2, "not_in_sap": 1, "failed": 0}
    lookups, erasures = sap.calls
    assert [c.ref for c in lookups] == ["a", "b", "c"] and [c.ref for c in erasures] == ["a", "b"]
    # b's contact changed in SAP after now: the erasure is stamped just after it
    assert erasures[1].operations[0].body["OriginDataLastChgUTCDateTime"] == f"/Date({NOW_MS + 5001})/"
    assert result.sap_requests == 2


def test_a_429_is_waited_out_and_tried_again() -> None:
    sap = ScriptedSap(held={"a": 0}, script=[SapUnavailable("SAP answered HTTP 429", status=429, retry_after=7)])
    sleeps: list[float] = []

    result = an_eraser(sap, sleeps).erase(["a"])

    assert result.outcomes == {"a": MARKED_FOR_DELETION}
    assert sleeps[0] == 7 and result.sap_requests == 3


def test_a_retryable_part_is_retried_and_a_refused_one_fails() -> None:
    sap = ScriptedSap(held={"a": 0, "b": 0}, part_answers={"a": [("retryable", 503)], "b": [("rejected", 400)]})

    result = an_eraser(sap).erase(["a", "b"])

    assert result.outcomes == {"a": MARKED_FOR_DELETION, "b": FAILED}
    assert [c.ref for c in sap.calls[-1]] == ["a"]


def test_a_subject_sap_never_takes_fails_after_the_last_attempt() -> None:
    down = SapUnavailable("SAP answered HTTP 503", status=503)
    sap = ScriptedSap(held={"a": 0}, script=[down] * 3)

    result = an_eraser(sap, attempts=3).erase(["a"])

    assert result.outcomes == {"a": FAILED} and len(sap.calls) == 3


def test_many_subjects_go_in_batches_of_the_configured_size() -> None:
    sap = ScriptedSap(held={f"s{n}": 0 for n in range(5)})

    an_eraser(sap, subjects_per_request=2).erase([f"s{n}" for n in range(5)])

    assert [len(call) for call in sap.calls] == [2, 2, 1, 2, 2, 1]


def test_the_in_memory_twin_clears_the_contact_and_its_ids() -> None:
    twin = InMemorySapContacts(
        contacts={"a": {"EmailAddress": "ann@example.com", "FirstName": "Ann"}},
        additional_ids={"a": ["ann@example.com"]},
        failing={"f"},
    )

    result = twin.erase(["a", "f", "z"])

    assert result.outcomes == {"a": MARKED_FOR_DELETION, "f": FAILED, "z": NOT_IN_SAP}
    assert twin.contacts["a"]["EmailAddress"] is None and twin.contacts["a"]["IsObsolete"] is True
    assert "a" not in twin.additional_ids


def test_the_read_back_selects_the_personal_properties_and_the_obsolete_flag_only() -> None:
    (contact,) = readback("subject-1", "contact-0").operations
    (ids,) = additional_ids_left("o'brien", "ids-0").operations

    assert (contact.method, contact.path) == (
        "GET",
        "ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='subject-1')"
        "?$select=EmailAddress,FirstName,LastName,FullName,PhoneNumber,MobileNumber,Country,AddressRegion,"
        "CityName,ContactPostalCode,StreetName,AddressHouseNumber,Language,GenderCode,BirthDate,IsObsolete",
    )
    assert (ids.method, ids.path) == (
        "GET",
        "AdditionalIDs?$filter=ContactOrigin%20eq%20'DATA_ENGINE'%20and%20ContactID%20eq%20'o''brien'"
        "&$select=ContactID&$top=1",
    )
    body = batch.build([readback("s", "contact-0"), additional_ids_left("s", "ids-0")], boundary="b").body.decode()
    assert "changeset" not in body and body.count("GET ") == 2  # two retrieve parts, no changeset


@dataclass
class ReadingSap:
    """SAP answering read-backs: request path -> (status, body)."""

    answers: dict[str, tuple[int, dict]] = field(default_factory=dict)
    calls: list[list[Changeset]] = field(default_factory=list)

    def send_batch(self, service: str, changesets: list[Changeset]) -> list[ChangesetOutcome]:
        self.calls.append(changesets)
        outcomes = []
        for changeset in changesets:
            status, body = self.answers.get(changeset.operations[0].path, (404, {}))
            kind = "accepted" if status == 200 else "rejected"
            outcomes.append(ChangesetOutcome(changeset.ref, kind, status, body=json.dumps(body).encode()))  # type: ignore[arg-type]
        return outcomes


def read_back_answers(subject: str, contact: dict | None, ids: list[dict]) -> dict[str, tuple[int, dict]]:
    answers = {additional_ids_left(subject, "").operations[0].path: (200, {"d": {"results": ids}})}
    if contact is not None:
        answers[readback(subject, "").operations[0].path] = (200, {"d": contact})
    return answers


def test_the_read_back_verifies_emptied_obsolete_or_deleted_contacts_and_flags_the_rest() -> None:
    # GIVEN SAP holding an erased contact, a deleted one, one with a name left, one not obsolete, one with an ID left
    erased = {name: None for name in PERSONAL_PROPERTIES} | {"IsObsolete": True}
    sap = ReadingSap(
        {
            **read_back_answers("erased", erased, []),
            **read_back_answers("deleted", None, []),
            **read_back_answers("named", erased | {"FirstName": "Ann"}, []),
            **read_back_answers("active", erased | {"IsObsolete": False}, []),
            **read_back_answers("with-id", erased, [{"ContactID": "with-id"}]),
        }
    )

    # WHEN they are read back
    result = an_eraser(sap).verify(["erased", "deleted", "named", "active", "with-id"])  # type: ignore[arg-type]

    # THEN only the emptied and the deleted ones are verified, all in one $batch, and nothing read is kept
    assert result.outcomes == {
        "active": NOT_CLEAN,
        "deleted": VERIFIED,
        "erased": VERIFIED,
        "named": NOT_CLEAN,
        "with-id": NOT_CLEAN,
    }
    assert result.counts() == {"verified": 2, "not_clean": 3}
    assert len(sap.calls) == 1 and len(sap.calls[0]) == 10 and result.sap_requests == 1
    assert "Ann" not in repr(result)


def test_a_subject_sap_refuses_to_read_back_is_not_clean() -> None:
    sap = ReadingSap({readback("s", "").operations[0].path: (403, {})})

    assert an_eraser(sap).verify(["s"]).outcomes == {"s": NOT_CLEAN}  # type: ignore[arg-type]


def test_the_in_memory_twin_verifies_erased_contacts_and_flags_data_left() -> None:
    twin = InMemorySapContacts(
        contacts={"a": {"EmailAddress": "ann@example.com"}, "b": {"EmailAddress": "b@x.org"}},
        additional_ids={"a": ["ann@example.com"], "b": ["b@x.org"]},
    )
    twin.erase(["a", "b"])
    twin.contacts["b"]["EmailAddress"] = "b@x.org"  # changed back after the erasure

    result = twin.verify(["a", "b", "gone"])

    assert result.outcomes == {"a": VERIFIED, "b": NOT_CLEAN, "gone": VERIFIED}
    twin.additional_ids["a"] = ["ann@example.com"]
    assert twin.verify(["a"]).outcomes == {"a": NOT_CLEAN}

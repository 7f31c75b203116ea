"""The stand-in takes an erasure as SAP does: PATCH on ContactOriginData, the function import."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from chalicelib.sap.erasure import erasure
from sapstandin.entity_store import EntityStore, ODataError
from sapstandin.service_models import load
from tests.unit.sap.sample_records import NOW, a_record

SERVICE = load("API_MKT_CONTACT_SRV")


def write(store: EntityStore, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request of a changeset: the path as sent, query included."""
    undo: list[Callable[[], None]] = []
    target, _, query = path.partition("?")
    return store.write(SERVICE, method, unquote(target), json.dumps(body).encode() if body else b"", undo, query=query)


@pytest.fixture
def store() -> EntityStore:
    """SAP holding subject-1's contact, email as additional ID, and a consent, as dispatch sends them."""
    store = EntityStore()
    record = a_record(1)
    contact = record.contact
    assert contact is not None
    write(
        store,
        "PUT",
        f"ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='{record.subject_id}')",
        contact.origin_data(),
    )
    for additional in contact.additional_ids():
        write(
            store,
            "PUT",
            "AdditionalIDs(ContactOrigin='DATA_ENGINE',ContactID='subject-1',"
            "InteractionContactAdditionalOrigin='EMAIL',"
            "InteractionContactAdditionalExternalID='person1@example.com')",
            additional,
        )
    permission = record.permissions[0]
    write(
        store,
        "PUT",
        "MarketingPermissions(" + ",".join(f"{k}='{v}'" for k, v in permission.keys.items()) + ")",
        permission.body(),
    )
    return store


def test_an_erasure_clears_the_contact_marks_it_and_deletes_its_additional_ids(store: EntityStore) -> None:
    patch, delete_ids = erasure("subject-1", NOW.replace(year=2027)).operations

    assert write(store, patch.method, patch.path, patch.body).status == 204
    answered = write(store, delete_ids.method, delete_ids.path)

    assert answered.status == 200 and answered.entity["ContactID"] == "subject-1"
    snapshot = store.snapshot()
    (contact,) = snapshot["contacts"]
    assert contact["IsObsolete"] is True
    assert all(contact[name] is None for name in ("EmailAddress", "FirstName", "LastName", "FullName"))
    assert snapshot["additional_ids"] == [] and snapshot["counts"]["contacts_marked_for_deletion"] == 1


def test_an_erasure_older_than_what_sap_holds_changes_nothing(store: EntityStore) -> None:
    patch = erasure("subject-1", NOW.replace(year=2020)).operations[0]

    write(store, patch.method, patch.path, patch.body)

    assert store.snapshot()["contacts"][0]["EmailAddress"] == "person1@example.com"


def test_patch_and_the_function_import_answer_404_for_a_contact_sap_does_not_hold(store: EntityStore) -> None:
    for operation in erasure("never-sent", NOW).operations:
        with pytest.raises(ODataError) as refused:
            write(store, operation.method, operation.path, operation.body)
        assert refused.value.status == 404
    assert store.snapshot()["counts"]["contacts"] == 1


def test_patch_refuses_a_read_only_property(store: EntityStore) -> None:
    with pytest.raises(ODataError) as refused:
        write(
            store,
            "PATCH",
            "ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='subject-1')",
            {"ValidationStatusName": "x"},
        )
    assert refused.value.status == 400 and "read-only" in refused.value.message


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "ContactOriginDeleteAdditionalIDs?ContactID='subject-1'&ContactOrigin='DATA_ENGINE'", 405),
        ("POST", "ContactOriginDeleteAdditionalIDs?ContactID='subject-1'", 400),
        ("POST", "ContactOriginDeleteAdditionalIDs?ContactID=subject-1&ContactOrigin='DATA_ENGINE'", 400),
        ("POST", "ContactOriginDeleteAdditionalIDs?ContactID='subject-1'&ContactOrigin='DATA_ENGINE'&X='1'", 400),
        ("POST", f"ContactOriginDeleteAdditionalIDs?ContactID='subject-1'&ContactOrigin='{'X' * 21}'", 400),
    ],
)
def test_the_function_import_is_checked_against_the_metadata(
    store: EntityStore, method: str, path: str, status: int
) -> None:
    with pytest.raises(ODataError) as refused:
        write(store, method, path)
    assert refused.value.status == status
    assert store.snapshot()["counts"]["additional_ids"] == 1


def test_sap_deletion_jobs_remove_an_obsolete_contact_with_everything_of_it(store: EntityStore) -> None:
    write(
        store,
        "PUT",
        "ContactOriginData(ContactOrigin='DATA_ENGINE',ContactID='other')",
        a_record(2, subject="other").contact.origin_data(),
    )  # type: ignore[union-attr]
    for operation in erasure("subject-1", NOW.replace(year=2027)).operations:
        write(store, operation.method, operation.path, operation.body)

    deleted = store.delete_obsolete_contacts()

    assert deleted == {"contacts": 1, "additional_ids": 0, "permissions": 1, "interactions": 0}
    snapshot = store.snapshot()
    assert [c["ContactID"] for c in snapshot["contacts"]] == ["other"] and snapshot["permissions"] == []

"""Query parameters are checked strictly; answers come from the store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from chalicelib.state_keeper.queries import StateQueries
from tests.unit.state_keeper.changes import T0, change, normal_lifecycle


@pytest.fixture
def queries() -> StateQueries:
    store = InMemoryStateStore(clock=lambda: T0 + timedelta(hours=1))
    for i in range(5):
        store.apply(normal_lifecycle(f"doc-{i}", start=i, subject_id=f"subj-{i % 2}")[:3], origin=f"m{i}")
    store.apply([change("doc-9", State.INVALID, 3, reason_code="SCHEMA")], origin="m9")
    return StateQueries(store, clock=lambda: T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"state": "LOST"}, "state must be one of"),
        ({"state": None}, "state is required"),
        ({"state": "DELIVERED", "since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"state": "DELIVERED", "until": "2026-11-28T10:00:00"}, "until must carry a time zone"),
        (
            {"state": "DELIVERED", "since": "2026-11-29T00:00:00Z", "until": "2026-11-28T00:00:00Z"},
            "since must not be after until",
        ),
        ({"state": "DELIVERED", "since": "2026-01-01T00:00:00Z", "until": "2026-11-28T00:00:00Z"}, "at most 31 days"),
        ({"state": "DELIVERED", "limit": "many"}, "limit must be a whole number"),
        ({"state": "DELIVERED", "limit": "0"}, "limit must be a whole number"),
        ({"state": "DELIVERED", "source": "a b"}, "source must be"),
        ({"state": "DELIVERED", "next_token": "abc"}, "next_token is not a token"),
        ({"state": "DELIVERED", "next_token": "e30.AAAA"}, "next_token is not a token"),
    ],
)
def test_a_bad_parameter_is_refused_with_a_message_naming_it(
    queries: StateQueries, parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidQuery, match=message):
        queries.list_documents(**parameters)


def test_pages_follow_each_other_newest_first_and_end_without_a_token(queries: StateQueries) -> None:
    seen, token = [], None
    while True:
        page = queries.list_documents("queued_for_sap", limit=2, next_token=token)
        seen += [d["document_id"] for d in page["documents"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen == ["doc-4", "doc-3", "doc-2", "doc-1", "doc-0"]


def test_a_token_is_refused_for_another_query(queries: StateQueries) -> None:
    token = queries.list_documents("QUEUED_FOR_SAP", limit=2)["next_token"]
    with pytest.raises(InvalidQuery, match="next_token"):
        queries.list_documents("QUEUED_FOR_SAP", limit=3, next_token=token)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidQuery, match="next_token"):
        queries.list_documents("QUEUED_FOR_SAP", limit=2, next_token=tampered)


def test_a_document_shows_its_history_and_an_unknown_one_is_not_found(queries: StateQueries) -> None:
    view = queries.get_document("doc-1")
    assert view["state"] == "QUEUED_FOR_SAP"
    assert [h["state"] for h in view["history"]] == ["RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP"]
    with pytest.raises(UnknownDocument):
        queries.get_document("doc-404")
    with pytest.raises(InvalidQuery):
        queries.get_document("no/such")


def test_file_subject_and_stats_answers(queries: StateQueries) -> None:
    assert queries.file_outcome("file-1")["states"] == {"INVALID": 0, "QUEUED_FOR_SAP": 5} or queries.file_outcome(
        "file-1"
    )["states"] == {"QUEUED_FOR_SAP": 5}
    assert [d["document_id"] for d in queries.subject_documents("subj-0")["documents"]] == ["doc-0", "doc-2", "doc-4"]
    stats = queries.stats()
    assert stats["counts"][0]["states"] == {"NORMALIZED": 5, "QUEUED_FOR_SAP": 5, "RECEIVED": 5, "INVALID": 1}
    assert {(t["from"], t["to"]) for t in stats["transitions"]} == {
        ("RECEIVED", "NORMALIZED"),
        ("NORMALIZED", "QUEUED_FOR_SAP"),
    }

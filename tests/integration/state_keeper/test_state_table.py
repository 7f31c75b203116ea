"""The State Keeper on the emulator: reporter → SQS → handler → DynamoDB → every query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.resources import for_stage
from chalicelib.state_keeper.document_record import DocumentRecord
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument
from chalicelib.state_keeper.handler import handle_state_change_messages
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import StateReporter, encode_changes
from chalicelib.state_keeper.table_layout import document_id_of
from chalicelib.subjects.shards import DEFAULT_SHARDS, shard_of
from devstack.provision import create_table
from tests.unit.state_keeper.changes import T0, change, normal_lifecycle

TABLE = for_stage("local").table("state").name
NOW = T0 + timedelta(hours=2)


@pytest.fixture
def store(stack: boto3.Session) -> DynamoStateStore:
    return DynamoStateStore(TABLE, stack.client("dynamodb"), clock=lambda: NOW)


@pytest.fixture
def queries(store: DynamoStateStore) -> StateQueries:
    return StateQueries(store, clock=lambda: NOW)


def _document_items(session: boto3.Session) -> list[dict[str, Any]]:
    items = session.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sorted((i for i in items if i["sk"]["S"] == "doc"), key=lambda i: i["pk"]["S"])


def _records(session: boto3.Session, store: DynamoStateStore) -> list[DocumentRecord]:
    """Every document's record as read: its item merged with its chunk's outcome pages."""
    found = store.get_many(document_id_of(item) for item in _document_items(session))
    return [found[d] for d in sorted(found)]


def _all_pages(queries: StateQueries, **parameters: Any) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = queries.list_documents(**parameters, next_token=token)
        pages.append([d["document_id"] for d in page["documents"]])
        token = page["next_token"]
        if token is None:
            return pages


def test_changes_travel_from_the_reporter_through_sqs_to_a_document_record(
    stack: boto3.Session, store: DynamoStateStore, queries: StateQueries
) -> None:
    # GIVEN a component reporting a chunk's lifecycle through the real queue
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=for_stage("local").queue("state-changes").name)["QueueUrl"]
    with StateReporter(url, client=sqs) as reporter:
        reporter.report_all(c for i in range(20) for c in normal_lifecycle(f"doc-{i}")[:3])
    # WHEN the handler gets the messages
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1  # one message for the whole chunk
    assert handle_state_change_messages([m["Body"] for m in received], store) == []
    # THEN each document's state and history can be looked up by key
    view = queries.get_document("doc-7")
    assert view["state"] == "QUEUED_FOR_SAP"
    assert [h["state"] for h in view["history"]] == ["RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP"]
    assert view["subject_id"] == "subj-1" and view["file_id"] == "file-1"
    with pytest.raises(UnknownDocument):
        queries.get_document("doc-404")


def test_sap_outcomes_of_one_outbox_message_share_one_outcome_page_instead_of_rewriting_each_document(
    stack: boto3.Session, store: DynamoStateStore, queries: StateQueries
) -> None:
    # GIVEN five documents of one chunk and subject shard (one outbox message) queued for SAP
    handle_state_change_messages(
        [encode_changes([c for i in range(5) for c in normal_lifecycle(f"doc-{i}")[:3]])], store
    )
    queued = _document_items(stack)
    # WHEN SAP's answer for all of them arrives in one message
    assert (
        handle_state_change_messages([encode_changes([normal_lifecycle(f"doc-{i}")[3] for i in range(5)])], store) == []
    )
    # THEN no document item was written again; one outcome page holds the five outcomes
    assert _document_items(stack) == queued
    items = stack.client("dynamodb").scan(TableName=TABLE)["Items"]
    pages = [i for i in items if i["pk"]["S"].startswith("out#")]
    assert [p["pk"]["S"] for p in pages] == [f"out#file-1-00001.{shard_of('subj-1', DEFAULT_SHARDS):02d}"]
    # and every read shows the record whole
    view = queries.get_document("doc-3")
    assert view["state"] == "DELIVERED"
    assert [h["state"] for h in view["history"]] == ["RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP", "DELIVERED"]
    assert [d["document_id"] for d in queries.subject_documents("subj-1")["documents"]] == [
        f"doc-{i}" for i in range(5)
    ]
    assert queries.file_outcome("file-1")["states"] == {"DELIVERED": 5}
    # and a later change of one document writes its item with everything it has
    assert (
        handle_state_change_messages(
            [encode_changes([change("doc-3", State.ANONYMIZED, 3600, component="gdpr-anonymization")])], store
        )
        == []
    )
    record = store.get("doc-3")
    assert record is not None and [e.state for e in record.history][-2:] == [State.DELIVERED, State.ANONYMIZED]


def test_redelivery_and_reordering_leave_exactly_the_same_records(
    stack: boto3.Session, store: DynamoStateStore, queries: StateQueries
) -> None:
    normalize = encode_changes([c for i in range(5) for c in normal_lifecycle(f"doc-{i}")[:3]])
    dispatch = encode_changes([normal_lifecycle(f"doc-{i}")[3] for i in range(5)])
    handle_state_change_messages([normalize], store)
    handle_state_change_messages([dispatch], store)
    in_order = _records(stack, store)
    stats_in_order = queries.stats()

    stack.client("dynamodb").delete_table(TableName=TABLE)
    create_table(stack.client("dynamodb"), for_stage("local").table("state"))
    # late, duplicated, in one batch and apart
    assert handle_state_change_messages([dispatch, dispatch], store) == []
    assert handle_state_change_messages([normalize, dispatch, normalize], store) == []
    assert handle_state_change_messages([normalize], store) == []

    assert _records(stack, store) == in_order
    assert queries.stats() == stats_in_order
    assert _all_pages(queries, state="DELIVERED", limit=10) == [[f"doc-{i}" for i in range(4, -1, -1)]]
    assert _all_pages(queries, state="QUEUED_FOR_SAP") == [[]]


def test_listing_by_state_pages_newest_first_across_pages_and_days(
    store: DynamoStateStore, queries: StateQueries
) -> None:
    # GIVEN 7 documents stuck in QUEUED_FOR_SAP over two days, from two messages, and some moved on
    yesterday = [change(f"old-{i}", State.QUEUED_FOR_SAP, -86_400 + i) for i in range(3)]
    today = [
        change(f"new-{i}", State.QUEUED_FOR_SAP, i, source="facebook" if i % 2 else "eventbrite") for i in range(4)
    ]
    moved_on = [change("new-0", State.DELIVERED, 30, component="sap-dispatch")]
    for changes in (yesterday, today, moved_on):
        assert handle_state_change_messages([encode_changes(changes)], store) == []
    # WHEN ops page through with 2 per page
    pages = _all_pages(
        queries, state="QUEUED_FOR_SAP", since="2026-11-27T00:00:00Z", until="2026-11-28T23:00:00Z", limit=2
    )
    # THEN every stuck document comes once, newest first
    assert [d for page in pages for d in page] == ["new-3", "new-2", "new-1", "old-2", "old-1", "old-0"]
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    facebook = _all_pages(queries, state="QUEUED_FOR_SAP", source="facebook", since="2026-11-27T00:00:00Z", limit=1)
    # a token may lead to an empty last page (like DynamoDB's own LastEvaluatedKey)
    assert [d for page in facebook for d in page] == ["new-3", "new-1"]
    # a narrower window
    window = queries.list_documents("QUEUED_FOR_SAP", since="2026-11-28T10:00:01Z", until="2026-11-28T10:00:02Z")
    assert [d["document_id"] for d in window["documents"]] == ["new-2", "new-1"]


def test_a_bad_token_or_parameter_is_a_clear_invalid_query(queries: StateQueries) -> None:
    with pytest.raises(InvalidQuery, match="state must be one of"):
        queries.list_documents("STUCK")
    with pytest.raises(InvalidQuery, match="next_token"):
        queries.list_documents("DELIVERED", next_token="bm90LWEtdG9rZW4")


def test_a_files_outcome_counts_its_records_per_state(store: DynamoStateStore, queries: StateQueries) -> None:
    lifecycles = [normal_lifecycle(f"doc-{i}") for i in range(6)]
    handle_state_change_messages([encode_changes([c for lc in lifecycles for c in lc[:3]])], store)
    handle_state_change_messages(
        [
            encode_changes([lc[3] for lc in lifecycles[:4]]),
            encode_changes([change("doc-5", State.REJECTED_BY_SAP, 70, reason_code="SAP_400")]),
        ],
        store,
    )
    handle_state_change_messages([encode_changes([change("other", file_id="file-2")])], store)
    assert queries.file_outcome("file-1") == {
        "file_id": "file-1",
        "documents": 6,
        "unknown": 0,
        "states": {"DELIVERED": 4, "QUEUED_FOR_SAP": 1, "REJECTED_BY_SAP": 1},
        "rejections": [],
        "summary": None,
    }


def test_a_subjects_documents_are_found_through_the_subject_index(
    store: DynamoStateStore, queries: StateQueries
) -> None:
    changes = [c for i in range(5) for c in normal_lifecycle(f"doc-{i}", subject_id=f"subj-{i % 2}")[:3]]
    handle_state_change_messages([encode_changes(changes)], store)
    found = queries.subject_documents("subj-1")["documents"]
    assert [d["document_id"] for d in found] == ["doc-1", "doc-3"]
    assert queries.subject_documents("subj-none")["documents"] == []


def test_stats_count_states_per_source_and_hour_and_time_transitions(
    store: DynamoStateStore, queries: StateQueries
) -> None:
    lifecycles = [normal_lifecycle(f"doc-{i}") for i in range(10)]
    handle_state_change_messages([encode_changes([c for lc in lifecycles for c in lc[:3]])], store)
    handle_state_change_messages([encode_changes([lc[3] for lc in lifecycles])], store)
    stats = queries.stats(since="2026-11-28T09:00:00Z", until="2026-11-28T11:59:59Z")
    assert stats["counts"] == [
        {
            "hour": "2026-11-28T10",
            "source": "eventbrite",
            "states": {"DELIVERED": 10, "NORMALIZED": 10, "QUEUED_FOR_SAP": 10, "RECEIVED": 10},
        }
    ]
    delivered = next(t for t in stats["transitions"] if t["to"] == "DELIVERED")
    assert delivered["count"] == 10 and delivered["avg_ms"] == 59_700.0
    assert 59_700 <= delivered["p95_ms"] <= 59_700 * 1.2


def test_history_expires_after_the_retention_period_but_the_current_state_stays(stack: boto3.Session) -> None:
    store = DynamoStateStore(
        TABLE,
        stack.client("dynamodb"),
        history_retention=timedelta(seconds=30),
        clock=lambda: T0 + timedelta(seconds=100),
    )
    handle_state_change_messages([encode_changes(normal_lifecycle("doc-1"))], store)
    record = store.get("doc-1")
    assert record is not None and [e.state for e in record.history] == [State.DELIVERED]


class FlakyDynamoDB:
    """Passes everything to the emulator but refuses writes of one document."""

    def __init__(self, client: Any, document_id: str) -> None:
        self.client, self.document_id = client, document_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_item(self, **request: Any) -> Any:
        if request["Item"]["pk"]["S"] == f"doc#{self.document_id}":
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem"
            )
        return self.client.put_item(**request)


def test_the_handler_returns_only_the_messages_it_could_not_store(stack: boto3.Session) -> None:
    # GIVEN a table that refuses writes of doc-2 for now
    flaky = DynamoStateStore(TABLE, FlakyDynamoDB(stack.client("dynamodb"), "doc-2"), clock=lambda: NOW)
    bodies = [
        encode_changes(normal_lifecycle("doc-1")[:3]),
        "not a message",
        encode_changes(normal_lifecycle("doc-2")[:3]),
    ]
    # WHEN a batch arrives
    failed = handle_state_change_messages(bodies, flaky)
    # THEN the unreadable and the unstored message come back; the other one is stored
    assert failed == [1, 2]
    healthy = DynamoStateStore(TABLE, stack.client("dynamodb"), clock=lambda: NOW)
    assert healthy.get("doc-1") is not None and healthy.get("doc-2") is None
    # and re-delivered once the table recovers, it is stored and counted exactly once
    assert handle_state_change_messages([bodies[2], bodies[0]], healthy) == []
    counts = StateQueries(healthy, clock=lambda: NOW).stats()["counts"][0]["states"]
    assert counts == {"NORMALIZED": 2, "QUEUED_FOR_SAP": 2, "RECEIVED": 2}


class RacingDynamoDB:
    """Passes everything to the emulator, but lets another writer write first when this
    writer first puts an item whose key starts with `prefix`: between its read and its write."""

    def __init__(self, client: Any, prefix: str, other_writer: Any) -> None:
        self.client, self.prefix, self.other_writer = client, prefix, other_writer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_item(self, **request: Any) -> Any:
        if request["Item"]["pk"]["S"].startswith(self.prefix) and self.other_writer is not None:
            other, self.other_writer = self.other_writer, None
            other()
        return self.client.put_item(**request)


def test_concurrent_writers_of_one_document_both_land(stack: boto3.Session, store: DynamoStateStore) -> None:
    # GIVEN a document another handler changes between this handler's read of it and its write
    handle_state_change_messages([encode_changes(normal_lifecycle("doc-1")[:1])], store)
    racing = DynamoStateStore(
        TABLE,
        RacingDynamoDB(
            stack.client("dynamodb"),
            "doc#doc-1",
            lambda: handle_state_change_messages([encode_changes(normal_lifecycle("doc-1")[1:2])], store),
        ),
        clock=lambda: NOW,
    )
    # WHEN it writes its own merge on top of what it read
    assert handle_state_change_messages([encode_changes(normal_lifecycle("doc-1")[3:])], racing) == []
    # THEN the version condition made it re-read: nothing is lost
    record = store.get("doc-1")
    assert record is not None
    assert [e.state for e in record.history] == [State.RECEIVED, State.NORMALIZED, State.DELIVERED]


def test_concurrent_writers_of_one_outcome_page_both_land(stack: boto3.Session, store: DynamoStateStore) -> None:
    # GIVEN two documents of one outbox message, queued
    handle_state_change_messages(
        [encode_changes([c for d in ("doc-1", "doc-2") for c in normal_lifecycle(d)[:3]])], store
    )
    # WHEN SAP's answers for both are stored at the same moment by two handlers
    racing = DynamoStateStore(
        TABLE,
        RacingDynamoDB(
            stack.client("dynamodb"),
            "out#",
            lambda: handle_state_change_messages([encode_changes([normal_lifecycle("doc-2")[3]])], store),
        ),
        clock=lambda: NOW,
    )
    assert handle_state_change_messages([encode_changes([normal_lifecycle("doc-1")[3]])], racing) == []
    # THEN the page's version made the late writer re-read: both outcomes are there
    assert [store.get(d).state for d in ("doc-1", "doc-2")] == [State.DELIVERED, State.DELIVERED]  # type: ignore[union-attr]

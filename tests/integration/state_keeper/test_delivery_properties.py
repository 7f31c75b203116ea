"""On DynamoDB too: any interleaving and duplication of messages gives the same records.

A record is its document item merged with its chunk's outcome pages; which of the two
holds a SAP outcome depends on arrival order, so records are compared as they are read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.resources import for_stage
from chalicelib.state_keeper.document_record import DocumentRecord
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.handler import handle_state_change_messages
from chalicelib.state_keeper.lifecycle import State, epoch_millis
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import encode_changes
from chalicelib.state_keeper.table_layout import document_id_of
from devstack.provision import create_table
from tests.unit.state_keeper.changes import T0, change

TABLE = for_stage("local").table("state")
SINCE, UNTIL = epoch_millis(T0 - timedelta(days=1)), epoch_millis(T0 + timedelta(days=1))

MESSAGES = [
    encode_changes(
        [change(f"doc-{i}", State.RECEIVED, i, subject_id="subj-1") for i in range(3)]
        + [change(f"doc-{i}", State.NORMALIZED, i + 0.5) for i in range(3)]
    ),
    encode_changes([change(f"doc-{i}", State.QUEUED_FOR_SAP, i + 1) for i in range(3)]),
    encode_changes(
        [
            change("doc-0", State.DELIVERED, 60, component="sap-dispatch", sap_batch_id="b-1"),
            change("doc-1", State.REJECTED_BY_SAP, 61, component="sap-dispatch", reason_code="SAP_400"),
        ]
    ),
    encode_changes(
        [
            change("doc-1", State.QUEUED_FOR_SAP, 120, attempt=2, component="replay"),
            change("doc-2", State.PARKED, 90, component="sap-dispatch", reason_code="SAP_TIMEOUT"),
            change("doc-0", State.DELIVERED, 60, component="sap-dispatch", sap_batch_id="b-1"),
        ]
    ),
    encode_changes(
        [
            change("doc-3", State.RECEIVED, 3),
            change(
                "doc-3", State.INVALID, 3.5, reason_code="MISSING", reasons=(("interaction.occurred_at", "missing"),)
            ),
        ]
    ),
]


def _fresh_table(session: boto3.Session) -> None:
    dynamodb = session.client("dynamodb")
    if TABLE.name in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=TABLE.name)
    create_table(dynamodb, TABLE)


def _records(session: boto3.Session, store: DynamoStateStore) -> tuple[list[DocumentRecord], list[dict[str, Any]]]:
    """Every document's record as read, and the file pages."""
    items = _items(session)
    documents = store.get_many(document_id_of(i) for i in items if i["pk"]["S"].startswith("doc#"))
    return [documents[d] for d in sorted(documents)], [i for i in items if i["pk"]["S"].startswith("file#")]


def _items(session: boto3.Session) -> list[dict[str, Any]]:
    # everything but bookkeeping: a document's write count (its version) and markers' expiry
    items = session.client("dynamodb").scan(TableName=TABLE.name)["Items"]
    return sorted(
        ({k: v for k, v in i.items() if k not in ("v", "expires_at")} for i in items),
        key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(range(len(MESSAGES))), min_size=1, max_size=3), min_size=1, max_size=5))
def test_every_delivery_of_the_same_messages_stores_the_same_records_and_counters(
    stack: boto3.Session, batches: list[list[int]]
) -> None:
    store = DynamoStateStore(TABLE.name, stack.client("dynamodb"), clock=lambda: T0 + timedelta(hours=1))
    _fresh_table(stack)
    queries = StateQueries(store, clock=lambda: T0 + timedelta(hours=1))
    handle_state_change_messages(MESSAGES, store)
    expected = _records(stack, store)
    expected_counts = queries.stats()["counts"]
    expected_transitions = queries.stats()["transitions"]

    _fresh_table(stack)
    for batch in [*batches, list(range(len(MESSAGES)))]:  # every message at least once
        assert handle_state_change_messages([MESSAGES[i] for i in batch], store) == []
    # records and file pages are identical, and so are the counts per state; state pages
    # are hints whose stale entries the listing drops, so they are compared by listing
    assert _records(stack, store) == expected
    assert queries.stats()["counts"] == expected_counts
    assert queries.stats()["transitions"] == expected_transitions
    listed = {
        state: [d.document_id for d in store.list_in_state(state, None, SINCE, UNTIL, 100, None)[0]] for state in State
    }
    assert {s: d for s, d in listed.items() if d} == {
        State.DELIVERED: ["doc-0"],
        State.QUEUED_FOR_SAP: ["doc-1"],
        State.PARKED: ["doc-2"],
        State.INVALID: ["doc-3"],
    }
    assert queries.get_document("doc-3")["reasons"] == [{"field": "interaction.occurred_at", "code": "missing"}]

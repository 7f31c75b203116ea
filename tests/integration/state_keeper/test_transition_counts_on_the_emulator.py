"""On DynamoDB: a document delivered via two files is counted once as delivered, in any order.

SAP's answer goes to the outcome page of the first file's chunk, so the transitions are
those of the record with its page entries merged in."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import boto3
import pytest

from chalicelib.resources import for_stage
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.handler import handle_state_change_messages
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import encode_changes
from tests.unit.state_keeper.changes import T0, change
from tests.unit.state_keeper.test_transition_counts import MESSAGES

TABLE = for_stage("local").table("state").name
BODIES = [encode_changes(m) for m in MESSAGES]


def counted(store: DynamoStateStore) -> Counter[tuple[str, str]]:
    stats = StateQueries(store, clock=lambda: T0 + timedelta(hours=1)).stats()
    return Counter({(t["from"], t["to"]): t["count"] for t in stats["transitions"]})


def in_history(store: DynamoStateStore) -> Counter[tuple[str, str]]:
    record = store.get("doc-1")
    assert record is not None
    return Counter((a.state.value, b.state.value) for a, b in itertools.pairwise(record.history))


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (1, 0, 2), (2, 1, 0)])
def test_a_document_delivered_via_two_files_is_counted_once_as_delivered(
    stack: boto3.Session, order: tuple[int, ...]
) -> None:
    store = DynamoStateStore(TABLE, stack.client("dynamodb"), clock=lambda: T0)
    for index in order:
        assert handle_state_change_messages([BODIES[index]], store) == []
    assert handle_state_change_messages([BODIES[0], BODIES[2]], store) == []  # redelivered together

    assert counted(store)[("QUEUED_FOR_SAP", "DELIVERED")] == 1
    assert counted(store) == in_history(store)


def test_counters_take_no_transaction_and_a_redelivered_message_writes_nothing(stack: boto3.Session) -> None:
    # GIVEN a message whose document crosses an hour (counted under two hours)
    client = stack.client("dynamodb")
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    store = DynamoStateStore(TABLE, client, clock=lambda: T0)
    late = T0 + timedelta(minutes=59)
    body = encode_changes(
        [
            change("doc-9", State.RECEIVED, 59 * 60),
            change("doc-9", State.NORMALIZED, 61 * 60),
            change("doc-9", State.QUEUED_FOR_SAP, 61 * 60 + 1),
        ]
    )
    # WHEN it is delivered, then delivered again
    assert handle_state_change_messages([body], store) == []
    first = list(calls)
    calls.clear()
    assert handle_state_change_messages([body], store) == []

    # THEN no transaction was used, the second delivery wrote nothing, and it counts once
    assert "TransactWriteItems" not in first and "BatchWriteItem" in first
    assert [c for c in calls if c not in ("BatchGetItem", "Query", "GetItem")] == []
    stats = StateQueries(store, clock=lambda: late + timedelta(hours=1)).stats(since=T0.isoformat())
    assert {row["hour"]: row["states"] for row in stats["counts"]} == {
        "2026-11-28T10": {"RECEIVED": 1},
        "2026-11-28T11": {"NORMALIZED": 1, "QUEUED_FOR_SAP": 1},
    }
    assert {(t["from"], t["to"]): t["count"] for t in stats["transitions"]} == {
        ("RECEIVED", "NORMALIZED"): 1,
        ("NORMALIZED", "QUEUED_FOR_SAP"): 1,
    }

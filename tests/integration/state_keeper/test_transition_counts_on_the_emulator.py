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
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import encode_changes
from tests.unit.state_keeper.changes import T0
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

"""/stats transition counts are the transitions of the documents' histories, whatever the arrival order."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import encode_changes, message_origin
from tests.unit.state_keeper.changes import T0, change

# one document in two files: file-1's normalize run, SAP's answer, then file-2's normalize
# run, whose changes are stamped before that answer (the two runs overlapped)
FILE_1 = [
    change("doc-1", State.RECEIVED, 0, subject_id="subj-1"),
    change("doc-1", State.NORMALIZED, 0.5),
    change("doc-1", State.QUEUED_FOR_SAP, 1),
]
ANSWER = [change("doc-1", State.DELIVERED, 60, component="sap-dispatch", chunk_id=None, sap_batch_id="b-1")]
FILE_2 = [
    change("doc-1", State.RECEIVED, 30, file_id="file-2", chunk_id="file-2-00001"),
    change("doc-1", State.NORMALIZED, 30.5, file_id="file-2", chunk_id="file-2-00001"),
    change("doc-1", State.QUEUED_FOR_SAP, 31, file_id="file-2", chunk_id="file-2-00001"),
]
MESSAGES = [FILE_1, ANSWER, FILE_2]


def transitions(store: InMemoryStateStore) -> Counter[tuple[str, str]]:
    stats = StateQueries(store, clock=lambda: T0 + timedelta(hours=1)).stats()
    return Counter({(t["from"], t["to"]): t["count"] for t in stats["transitions"]})


def history_transitions(store: InMemoryStateStore) -> Counter[tuple[str, str]]:
    pairs: Counter[tuple[str, str]] = Counter()
    for record in store.records.values():
        pairs.update((a.state.value, b.state.value) for a, b in itertools.pairwise(record.history))
    return pairs


def apply(store: InMemoryStateStore, messages: list[list[StateChange]]) -> None:
    store.apply_batch([(message_origin(encode_changes(m)), m) for m in messages])


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_document_delivered_via_two_files_is_counted_once_as_delivered(order: tuple[int, ...]) -> None:
    store = InMemoryStateStore(clock=lambda: T0)
    for index in order:
        apply(store, [MESSAGES[index]])

    counted = transitions(store)
    assert counted[("QUEUED_FOR_SAP", "DELIVERED")] == 1
    assert counted == history_transitions(store)


def test_messages_in_one_batch_and_redelivered_count_the_history_once() -> None:
    store = InMemoryStateStore(clock=lambda: T0)
    apply(store, [ANSWER])
    apply(store, [FILE_2, FILE_1, ANSWER])
    apply(store, [FILE_1, FILE_2])

    assert transitions(store) == history_transitions(store)
    assert transitions(store)[("QUEUED_FOR_SAP", "DELIVERED")] == 1

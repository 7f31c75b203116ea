"""The queue handler stores what it can and hands back only the messages that failed."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.state_keeper.handler import batch_item_failures, handle_state_change_messages
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from chalicelib.state_keeper.reporter import encode_changes
from chalicelib.state_keeper.store import Batch
from tests.unit.state_keeper.changes import normal_lifecycle


def test_it_merges_every_message_and_fails_only_the_unreadable_one() -> None:
    store = InMemoryStateStore()
    first, second = normal_lifecycle("doc-1")[:3], normal_lifecycle("doc-1")[3:]
    failed = handle_state_change_messages([encode_changes(second), "garbage", encode_changes(first)], store)
    assert failed == [1]
    assert store.records["doc-1"].state is State.DELIVERED


def test_a_redelivered_batch_changes_nothing() -> None:
    store = InMemoryStateStore()
    bodies = [encode_changes(normal_lifecycle("doc-1"))]
    handle_state_change_messages(bodies, store)
    before = (dict(store.records), {k: v.attributes() for k, v in store.hourly.items()})
    assert handle_state_change_messages(bodies, store) == []
    assert (dict(store.records), {k: v.attributes() for k, v in store.hourly.items()}) == before


class FailingStore(InMemoryStateStore):
    def __init__(self, failing_document: str) -> None:
        super().__init__()
        self.failing_document = failing_document

    def apply_batch(self, batches: Sequence[Batch]) -> set[str]:
        failed = {o for o, changes in batches if any(c.document_id == self.failing_document for c in changes)}
        super().apply_batch([(o, c) for o, c in batches if o not in failed])
        return failed


def test_only_messages_whose_documents_failed_come_back() -> None:
    # GIVEN a store that cannot write doc-2
    store = FailingStore("doc-2")
    bodies = [encode_changes(normal_lifecycle("doc-1")), encode_changes(normal_lifecycle("doc-2"))]
    # WHEN both messages arrive together
    failed = handle_state_change_messages(bodies, store)
    # THEN only the second comes back, in the shape Lambda wants
    assert failed == [1]
    assert batch_item_failures(["m-1", "m-2"], failed) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}


def test_a_store_outage_fails_the_whole_batch() -> None:
    class Down(InMemoryStateStore):
        def apply_batch(self, batches: Sequence[Batch]) -> set[str]:
            raise ConnectionError("down")

    assert handle_state_change_messages([encode_changes(normal_lifecycle("d"))] * 2, Down()) == [0, 1]

"""Which changes go to an outcome page, and how a page is stored."""

from __future__ import annotations

from chalicelib.state_keeper.document_record import DocumentRecord, entry_from_change, merge
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.outcome_pages import (
    additions_by_page,
    goes_to_outcome_page,
    outcome_page_entries,
    outcome_page_item,
    page_union,
    records_with_pages,
    with_outcome_page,
)
from chalicelib.state_keeper.store import Outcome
from chalicelib.state_keeper.table_layout import document_item, record_from_item
from chalicelib.subjects.shards import DEFAULT_SHARDS, shard_of
from tests.unit.state_keeper.changes import change, normal_lifecycle


def _queued(document_id: str = "doc-1") -> DocumentRecord:
    return with_outcome_page(merge(None, [(c, "m-1") for c in normal_lifecycle(document_id)[:3]]))


def test_a_document_queued_from_a_chunk_gets_the_page_of_its_chunk_and_subject_shard_for_good() -> None:
    record = _queued()
    assert record.outcome_page == f"file-1-00001.{shard_of('subj-1', DEFAULT_SHARDS):02d}"
    assert record_from_item(document_item(record)).outcome_page == record.outcome_page
    # a later queueing from elsewhere keeps it: pages already written stay where readers look
    requeued = merge(record, [(change("doc-1", State.QUEUED_FOR_SAP, 300, chunk_id="other-chunk"), "m-3")])
    assert with_outcome_page(requeued).outcome_page == record.outcome_page


def test_only_a_document_queued_from_a_chunk_gets_a_page() -> None:
    received = with_outcome_page(merge(None, [(normal_lifecycle("doc-1")[0], "m-1")]))
    replayed = with_outcome_page(merge(None, [(change("doc-1", State.QUEUED_FOR_SAP, chunk_id=None), "m-1")]))
    assert received.outcome_page is None and replayed.outcome_page is None


def test_sap_outcomes_of_a_queued_document_go_to_its_page_and_anything_else_to_its_item() -> None:
    queued = _queued()
    delivered = Outcome(queued, merge(queued, [(normal_lifecycle("doc-1")[3], "m-2")]))
    rejected = Outcome(
        queued,
        merge(
            queued,
            [(change("doc-1", State.REJECTED_BY_SAP, 60, component="sap-dispatch", reason_code="SAP_400"), "m-2")],
        ),
    )
    erased = Outcome(queued, merge(queued, [(change("doc-1", State.ERASED, 90, component="gdpr"), "m-2")]))
    with_new_subject = Outcome(
        queued, merge(queued, [(change("doc-1", State.DELIVERED, 60, subject_id="subj-0"), "m-2")])
    )
    again = Outcome(delivered.new, merge(delivered.new, [(normal_lifecycle("doc-1")[3], "m-2")]))
    assert goes_to_outcome_page(delivered) and goes_to_outcome_page(rejected)
    assert not goes_to_outcome_page(erased)
    assert not goes_to_outcome_page(with_new_subject)  # the item must learn the subject
    assert not goes_to_outcome_page(again)  # nothing new: nothing written anywhere
    unqueued = merge(None, [(c, "m-1") for c in normal_lifecycle("doc-1")[:2]])
    assert not goes_to_outcome_page(Outcome(unqueued, merge(unqueued, [(normal_lifecycle("doc-1")[3], "m-2")])))
    assert additions_by_page([delivered]) == {
        queued.outcome_page: {"doc-1": [entry_from_change(normal_lifecycle("doc-1")[3], "m-2")]}
    }


def test_a_page_stores_its_entries_compressed_and_gives_them_back() -> None:
    entries = {f"doc-{i}": [entry_from_change(normal_lifecycle(f"doc-{i}")[3], "m-2")] for i in range(60)}
    item = outcome_page_item("file-1-00001.03", entries, version=0)
    assert outcome_page_entries(item) == entries
    assert item["v"] == {"N": "1"}
    assert len(item["z"]["B"]) < 60 * 40  # under 40 bytes a document


def test_a_page_gains_the_entries_added_and_a_redelivered_answer_adds_nothing() -> None:
    delivered = {"doc-1": [entry_from_change(normal_lifecycle("doc-1")[3], "m-2")]}
    rejected = {
        "doc-2": [
            entry_from_change(
                change("doc-2", State.REJECTED_BY_SAP, 60, component="sap-dispatch", reason_code="SAP_400"), "m-2"
            )
        ]
    }
    held = outcome_page_entries(outcome_page_item("file-1-00001.03", delivered, version=0))
    union = page_union(held, rejected)
    assert union == {"doc-1": tuple(delivered["doc-1"]), "doc-2": tuple(rejected["doc-2"])}
    assert union != page_union(held, {})
    assert page_union(held, delivered) == page_union(held, {})  # the same answer again


def test_a_record_read_is_its_item_merged_with_what_its_page_holds_for_it() -> None:
    queued = _queued()
    assert queued.outcome_page is not None
    outcome = entry_from_change(normal_lifecycle("doc-1")[3], "m-2")
    page = outcome_page_item(queued.outcome_page, {"doc-1": [outcome], "doc-9": [outcome]}, version=0)
    records = records_with_pages({"doc-1": queued}, [page])
    assert list(records) == ["doc-1"]  # a page's other documents are not read into being
    assert records["doc-1"].history == (*queued.history, outcome)
    assert records_with_pages({"doc-1": queued}, []) == {"doc-1": queued}

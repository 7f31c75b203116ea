"""Outcome pages: where SAP's answers for queued documents are stored, as pure functions.

A document's record is its item plus, once it was queued for SAP, the entries its outcome
page holds for it. SAP's answer (DELIVERED, REJECTED_BY_SAP, PARKED) for a queued document
is the one change of a normal lifecycle that comes on its own, long after the others.
Instead of rewriting each document's item, it goes to the outcome page the document shares
with the documents of its chunk that the SAP outbox packs into the same message (same
chunk, same subject shard: `sap.outbox.pack`), so one SAP batch's answer is one page write.
Pages only ever gain entries, and reads merge them in, so a record is the same union of
entries whatever went where.

This module decides which page a document belongs to, which changes go there, what a page
holds once they are added, and how a page item is encoded; `dynamo_store` does the I/O.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord, HistoryEntry, added_entries, merge_entries, union_of
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.store import Outcome
from chalicelib.state_keeper.table_layout import decode_entry, encode_entry, outcome_page_key
from chalicelib.subjects.shards import DEFAULT_SHARDS, shard_of

SAP_OUTCOMES = frozenset({State.DELIVERED, State.REJECTED_BY_SAP, State.PARKED})

PageEntries = Mapping[str, Iterable[HistoryEntry]]  # document id -> entries


def with_outcome_page(record: DocumentRecord) -> DocumentRecord:
    """A document queued for SAP from a chunk gets its outcome page, for good: the page of
    its chunk and subject shard, the documents the outbox sends to SAP together."""
    current = record.current
    if record.outcome_page is None and current.state is State.QUEUED_FOR_SAP and current.chunk_id:
        shard = shard_of(record.subject_id or record.document_id, DEFAULT_SHARDS)
        return replace(record, outcome_page=f"{current.chunk_id}.{shard:02d}")
    return record


def goes_to_outcome_page(outcome: Outcome) -> bool:
    """Whether all that `outcome` adds are SAP outcomes of a document with an outcome page:
    then they go to the page and the document's item is not written."""
    old, new = outcome.old, outcome.new
    if old is None or old.outcome_page is None or not outcome.written:
        return False
    if (old.source, old.file_id, old.subject_id, old.versions) != (
        new.source,
        new.file_id,
        new.subject_id,
        new.versions,
    ):
        return False
    added = added_entries(old, new)
    return bool(added) and all(entry.state in SAP_OUTCOMES for entry in added)


def additions_by_page(outcomes: Iterable[Outcome]) -> dict[str, dict[str, list[HistoryEntry]]]:
    """page id -> document id -> the SAP outcomes to add to that page, for outcomes that
    `goes_to_outcome_page`."""
    pages: dict[str, dict[str, list[HistoryEntry]]] = defaultdict(dict)
    for outcome in outcomes:
        assert outcome.old is not None and outcome.old.outcome_page is not None
        pages[outcome.old.outcome_page][outcome.new.document_id] = added_entries(outcome.old, outcome.new)
    return pages


def page_union(held: PageEntries, entries: PageEntries) -> dict[str, tuple[HistoryEntry, ...]]:
    """What a page holding `held` holds once `entries` are added: the union per document.
    Equal to `page_union(held, {})` when the page held them all already (a re-delivery)."""
    return {d: union_of(held.get(d, ()), entries.get(d, ())) for d in {*held, *entries}}


def records_with_pages(
    records: Mapping[str, DocumentRecord], page_items: Iterable[dict[str, Any]]
) -> dict[str, DocumentRecord]:
    """`records` (from their items) with what the stored outcome pages hold for them merged in."""
    found: dict[str, list[HistoryEntry]] = defaultdict(list)
    for item in page_items:
        for document_id, entries in outcome_page_entries(item).items():
            found[document_id].extend(entries)
    return {
        document_id: merge_entries(record, found[document_id]) if found.get(document_id) else record
        for document_id, record in records.items()
    }


def outcome_page_item(page_id: str, entries: PageEntries, version: int) -> dict[str, Any]:
    """SAP outcomes of the documents of one page as `document id entry` lines, zlib-compressed
    (ids, times and batch ids repeat from line to line); `version` as `document_item`'s."""
    lines = sorted(
        f"{document_id} {encode_entry(entry)}"
        for document_id, document_entries in entries.items()
        for entry in document_entries
    )
    return {
        **outcome_page_key(page_id),
        "z": {"B": zlib.compress("\n".join(lines).encode(), 9)},
        "v": {"N": str(version + 1)},
    }


def outcome_page_entries(item: dict[str, Any]) -> dict[str, list[HistoryEntry]]:
    """document id -> the entries an outcome page item holds for it."""
    entries: dict[str, list[HistoryEntry]] = {}
    for line in zlib.decompress(item["z"]["B"]).decode().split("\n"):
        document_id, _, encoded = line.partition(" ")
        entries.setdefault(document_id, []).append(decode_entry(encoded))
    return entries

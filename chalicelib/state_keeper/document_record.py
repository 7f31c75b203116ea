"""A document's stored record, and the merge that makes at-least-once delivery harmless.

History is a set of entries keyed by (state, time, component, attempt). Merging is a
union of sets plus minima over scalar fields, so it is commutative, associative and
idempotent: any interleaving and duplication of the same changes gives the same record.
The current state is the greatest entry under one total order (`current_order`), so it
does not depend on arrival order either.

A document is one platform record; its versions (each delivery that said something new,
`normalize/versions.py`) are a set too, keyed by version id, and the current version is
the greatest by (version time, id). The newest `MAX_VERSIONS` are kept on the record; the
lake keeps them all.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from chalicelib.state_keeper.lifecycle import (
    RANK,
    TIER,
    State,
    StateChange,
    epoch_millis,
    from_epoch_millis,
    is_allowed,
)


@dataclass(frozen=True)
class HistoryEntry:
    state: State
    at_ms: int
    component: str
    attempt: int = 1
    reason_code: str | None = None
    chunk_id: str | None = None
    sap_batch_id: str | None = None
    # the message (content hash) that carried this entry; the least one when several did
    origin: str = ""
    reasons: tuple[tuple[str, str], ...] = ()  # INVALID: (field, code) pairs

    @cached_property
    def entry_id(self) -> str:
        """Hashed once per entry: merges and counters ask for it many times."""
        return entry_id(self.state, self.at_ms, self.component, self.attempt)

    @property
    def at(self) -> datetime:
        return from_epoch_millis(self.at_ms)

    def payload(self) -> tuple[str, str, str, str]:
        return (self.reason_code or "", self.chunk_id or "", self.sap_batch_id or "", self.origin)


MAX_VERSIONS = 12  # kept on a document record, newest first: its item stays one write unit


@dataclass(frozen=True)
class Version:
    """One version of the platform record: its id, the platform's change time, its interaction."""

    version_id: str
    at_ms: int
    interaction: str | None = None

    @property
    def at(self) -> datetime:
        return from_epoch_millis(self.at_ms)

    @property
    def order(self) -> tuple[int, str]:
        return (self.at_ms, self.version_id)


def version_from_change(change: StateChange) -> Version | None:
    if change.version_id is None or change.version_at is None:
        return None
    return Version(change.version_id, epoch_millis(change.version_at), change.interaction)


def union_of_versions(versions: Iterable[Version], more: Iterable[Version]) -> tuple[Version, ...]:
    """Both sets as one, newest first, at most `MAX_VERSIONS`; a version seen twice keeps its
    earliest time (the same content delivered again)."""
    union: dict[str, Version] = {v.version_id: v for v in versions}
    for version in more:
        known = union.get(version.version_id)
        if known is None or (version.at_ms, version.interaction or "") < (known.at_ms, known.interaction or ""):
            union[version.version_id] = version
    return tuple(sorted(union.values(), key=lambda v: v.order, reverse=True)[:MAX_VERSIONS])


def entry_id(state: State, at_ms: int, component: str, attempt: int) -> str:
    digest = hashlib.blake2b(f"{state.value}|{at_ms}|{component}|{attempt}".encode(), digest_size=6)
    return base64.urlsafe_b64encode(digest.digest()).decode()


def entry_from_change(change: StateChange, origin: str) -> HistoryEntry:
    return HistoryEntry(
        state=change.state,
        at_ms=change.at_ms,
        component=change.component,
        attempt=change.attempt,
        reason_code=change.reason_code,
        chunk_id=change.chunk_id,
        sap_batch_id=change.sap_batch_id,
        origin=origin,
        reasons=change.reasons or (),
    )


def current_order(entry: HistoryEntry) -> tuple[int, int, int, str, int, str]:
    """Total order choosing the current state: end-of-life tier, then time, then flow rank."""
    return (TIER.get(entry.state, 0), entry.at_ms, RANK[entry.state], entry.component, entry.attempt, entry.entry_id)


def chronological_order(entry: HistoryEntry) -> tuple[int, int, str, int, str]:
    return (entry.at_ms, RANK[entry.state], entry.component, entry.attempt, entry.entry_id)


@dataclass(frozen=True)
class DocumentRecord:
    document_id: str
    history: tuple[HistoryEntry, ...]  # chronological
    source: str | None = None
    file_id: str | None = None
    subject_id: str | None = None
    versions: tuple[Version, ...] = ()  # newest first
    # bookkeeping, not part of what the record says: the version its item was read with
    # (optimistic locking), and the outcome page that may hold SAP outcomes of it
    version: int = field(default=0, compare=False)
    outcome_page: str | None = field(default=None, compare=False)

    @property
    def current(self) -> HistoryEntry:
        return max(self.history, key=current_order)

    @property
    def state(self) -> State:
        return self.current.state

    @property
    def current_version(self) -> Version | None:
        return self.versions[0] if self.versions else None

    @property
    def reasons(self) -> tuple[tuple[str, str], ...]:
        """Why the document is in its current state, as (field, code) pairs (INVALID)."""
        return self.current.reasons

    @property
    def state_at(self) -> datetime:
        return self.current.at

    def irregular_steps(self) -> list[tuple[State, State]]:
        """Consecutive history steps the lifecycle does not allow (reported, never refused)."""
        steps = zip(self.history, self.history[1:])
        return [(a.state, b.state) for a, b in steps if not is_allowed(a.state, b.state)]


def _least(*values: str | None) -> str | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _least_reasons(*values: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    present = [value for value in values if value]
    return min(present) if present else ()


def merge(
    record: DocumentRecord | None,
    changes: Iterable[tuple[StateChange, str]],
    *,
    expire_before_ms: int | None = None,
) -> DocumentRecord:
    """`record` with `changes` (each with the origin that carried it) merged in.

    Entries older than `expire_before_ms` are dropped (retention), except the current one:
    the current state is kept for ever.
    """
    entries: dict[str, HistoryEntry] = {e.entry_id: e for e in (record.history if record else ())}
    source = record.source if record else None
    file_id = record.file_id if record else None
    subject_id = record.subject_id if record else None
    document_id = record.document_id if record else None
    versions: list[Version] = []
    for change, origin in changes:
        if document_id is None:
            document_id = change.document_id
        elif change.document_id != document_id:
            raise ValueError("changes of different documents cannot be merged into one record")
        _add(entries, entry_from_change(change, origin))
        source = _least(source, change.source)
        file_id = _least(file_id, change.file_id)
        subject_id = _least(subject_id, change.subject_id)
        version = version_from_change(change)
        if version is not None:
            versions.append(version)
    if document_id is None or not entries:
        raise ValueError("a record needs at least one state change")
    current = max(entries.values(), key=current_order)
    kept = [e for e in entries.values() if expire_before_ms is None or e.at_ms >= expire_before_ms or e is current]
    return DocumentRecord(
        document_id=document_id,
        history=tuple(sorted(kept, key=chronological_order)),
        source=source,
        file_id=file_id,
        subject_id=subject_id,
        versions=union_of_versions(record.versions if record else (), versions),
        version=record.version if record else 0,
        outcome_page=record.outcome_page if record else None,
    )


def merge_entries(record: DocumentRecord, entries: Iterable[HistoryEntry]) -> DocumentRecord:
    """`record` with stored history entries (from an outcome page) merged in, as `merge` would."""
    return replace(record, history=union_of(record.history, entries))


def union_of(entries: Iterable[HistoryEntry], more: Iterable[HistoryEntry]) -> tuple[HistoryEntry, ...]:
    """Both sets of entries as one, chronological; an entry in both keeps the least details."""
    union: dict[str, HistoryEntry] = {e.entry_id: e for e in entries}
    for entry in more:
        _add(union, entry)
    return tuple(sorted(union.values(), key=chronological_order))


def _add(entries: dict[str, HistoryEntry], entry: HistoryEntry) -> None:
    known = entries.get(entry.entry_id)
    if known is None:
        entries[entry.entry_id] = entry
    else:
        # The same change reported twice with different details (or via two messages):
        # keep the least of each so the outcome is independent of arrival order.
        entries[entry.entry_id] = replace(
            known,
            reason_code=_least(known.reason_code, entry.reason_code),
            chunk_id=_least(known.chunk_id, entry.chunk_id),
            sap_batch_id=_least(known.sap_batch_id, entry.sap_batch_id),
            origin=min(known.origin, entry.origin),
            reasons=_least_reasons(known.reasons, entry.reasons),
        )


def added_entries(old: DocumentRecord | None, new: DocumentRecord) -> list[HistoryEntry]:
    """Entries of `new` that `old` does not hold as they are (new ones, or new details)."""
    held = {e.entry_id: e for e in (old.history if old else ())}
    return [e for e in new.history if held.get(e.entry_id) != e]


def visible(record: DocumentRecord, expire_before_ms: int | None) -> DocumentRecord:
    """The record as queries show it: history past retention hidden, current state kept."""
    if expire_before_ms is None:
        return record
    current = record.current
    history = tuple(e for e in record.history if e.at_ms >= expire_before_ms or e == current)
    return replace(record, history=history)

"""Where document records live: the `StateStore` port, and the merge its adapters share.

`apply_batch` takes the changes of several messages (each with its origin, the hash of
its body) and merges them per document, so all changes of one document that arrive
together cost one write. Adapters: `dynamo_store.DynamoStateStore` (the state table) and
`memory_store.InMemoryStateStore` (its twin for unit tests).
"""

from __future__ import annotations

import abc
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord, entry_from_change, merge
from chalicelib.state_keeper.exceptions import ConcurrentUpdate
from chalicelib.state_keeper.lifecycle import State, StateChange, epoch_millis
from chalicelib.state_keeper.reporter import encode_changes, message_origin
from chalicelib.state_keeper.statistics import (
    HourlyCounters,
    counted_entries,
    counter_deltas,
    merge_deltas,
)

DEFAULT_HISTORY_RETENTION = timedelta(days=90)

Clock = Callable[[], datetime]
Batch = tuple[str, Sequence[StateChange]]  # (origin, changes)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What merging one document changed."""

    old: DocumentRecord | None
    new: DocumentRecord
    pairs: list[tuple[StateChange, str]] = field(default_factory=list)  # (change, origin)

    @property
    def origins(self) -> dict[str, set[str]]:
        """origin -> the entry ids of the changes that message carried for this document."""
        ids: dict[str, set[str]] = defaultdict(set)
        for change, origin in self.pairs:
            ids[origin].add(entry_from_change(change, origin).entry_id)
        return dict(ids)

    @property
    def written(self) -> bool:
        return self.old is None or self.old != self.new


class StateStore(abc.ABC):
    """The port: apply state changes, read documents, and answer the State Keeper's queries."""

    def __init__(self, history_retention: timedelta = DEFAULT_HISTORY_RETENTION, clock: Clock | None = None) -> None:
        self.history_retention = history_retention
        self.clock = clock or utc_now

    def expire_before_ms(self) -> int:
        return epoch_millis(self.clock() - self.history_retention)

    def apply(self, changes: Sequence[StateChange], origin: str | None = None) -> None:
        """Merge `changes` (one message's worth); raises if any document failed.

        `origin` identifies the message (counters count each origin once); by default it
        is derived from the changes, so applying the same changes again counts nothing."""
        if origin is None:
            origin = message_origin(encode_changes(changes))
        failed = self.apply_batch([(origin, changes)])
        if failed:
            raise ConcurrentUpdate("the changes could not all be stored; apply them again")

    @abc.abstractmethod
    def apply_batch(self, batches: Sequence[Batch]) -> set[str]:
        """Merge the changes of several messages; returns the origins that failed."""

    @abc.abstractmethod
    def get(self, document_id: str) -> DocumentRecord | None: ...

    @abc.abstractmethod
    def get_many(self, document_ids: Iterable[str]) -> dict[str, DocumentRecord]: ...

    @abc.abstractmethod
    def list_in_state(
        self, state: State, source: str | None, since_ms: int, until_ms: int, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[DocumentRecord], dict[str, Any] | None]:
        """Documents currently in `state` that entered it within [since, until], newest first."""

    @abc.abstractmethod
    def file_document_ids(self, file_id: str) -> set[str]: ...

    @abc.abstractmethod
    def subject_document_ids(self, subject_id: str) -> set[str]: ...

    @abc.abstractmethod
    def counters(self, hours: Sequence[str]) -> list[tuple[str, str | None, dict[str, int]]]:
        """(hour, source, counter attributes) rows for the given UTC hours."""

    # -- shared merge logic ------------------------------------------------------------

    def _merge_all(self, batches: Sequence[Batch], current: dict[str, DocumentRecord]) -> dict[str, Outcome]:
        """document id -> its `current` record with the changes of all `batches` merged in."""
        grouped: dict[str, list[tuple[StateChange, str]]] = defaultdict(list)
        for origin, changes in batches:
            for change in changes:
                grouped[change.document_id].append((change, origin))
        expire = self.expire_before_ms()
        outcomes: dict[str, Outcome] = {}
        for document_id, pairs in grouped.items():
            old = current.get(document_id)
            outcomes[document_id] = Outcome(old, merge(old, pairs, expire_before_ms=expire), pairs)
        return outcomes


def file_members(batches: Sequence[Batch]) -> dict[tuple[str, str], set[str]]:
    """(file id, origin) -> documents received: a file's membership, written once per message."""
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    for origin, changes in batches:
        for change in changes:
            if change.state is State.RECEIVED and change.file_id:
                members[(change.file_id, origin)].add(change.document_id)
    return members


def stats_deltas(
    outcomes: Iterable[Outcome], already_counted: Collection[str] = ()
) -> dict[str, dict[tuple[str, str | None], HourlyCounters]]:
    """origin -> (hour, source) -> counter deltas that message is responsible for.

    `already_counted`: origins whose deltas were added before (their marker exists); their
    entries are part of what was counted, and they count nothing again."""
    per_origin: dict[str, dict[tuple[str, str | None], HourlyCounters]] = defaultdict(dict)
    for outcome in outcomes:
        counted_by = {
            origin: counted_entries(outcome.old, outcome.new, ids, origin)
            for origin, ids in outcome.origins.items()
            if origin not in already_counted
        }
        for origin, deltas in counter_deltas(outcome.new, counted_by).items():
            merge_deltas(per_origin[origin], deltas)
    return per_origin

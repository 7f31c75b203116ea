"""The in-memory `StateStore`: the twin of the DynamoDB store for unit tests.

Same merge and same counters (both come from `store`), kept in plain dictionaries. It
has no outcome pages or state pages: they only save DynamoDB writes and reads, and a
record reads the same with or without them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord, visible
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.statistics import HourlyCounters, merge_deltas
from chalicelib.state_keeper.store import (
    DEFAULT_HISTORY_RETENTION,
    Batch,
    Clock,
    StateStore,
    file_members,
    stats_deltas,
)


class InMemoryStateStore(StateStore):
    """Twin for unit tests: same merge, same statistics, plain dictionaries."""

    def __init__(self, history_retention: timedelta = DEFAULT_HISTORY_RETENTION, clock: Clock | None = None) -> None:
        super().__init__(history_retention, clock)
        self.records: dict[str, DocumentRecord] = {}
        self.files: dict[str, set[str]] = defaultdict(set)
        self.hourly: dict[tuple[str, str | None], HourlyCounters] = {}
        self._counted_origins: set[str] = set()

    def apply_batch(self, batches: Sequence[Batch]) -> set[str]:
        outcomes = self._merge_all(batches, self.records)
        for document_id, outcome in outcomes.items():
            self.records[document_id] = outcome.new
        for (file_id, _origin), documents in file_members(batches).items():
            self.files[file_id] |= documents
        for origin, deltas in stats_deltas(outcomes.values(), self._counted_origins).items():
            if origin not in self._counted_origins:
                self._counted_origins.add(origin)
                merge_deltas(self.hourly, deltas)
        return set()

    def get(self, document_id: str) -> DocumentRecord | None:
        record = self.records.get(document_id)
        return visible(record, self.expire_before_ms()) if record else None

    def get_many(self, document_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        return {i: r for i in set(document_ids) if (r := self.get(i)) is not None}

    def list_in_state(
        self, state: State, source: str | None, since_ms: int, until_ms: int, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[DocumentRecord], dict[str, Any] | None]:
        matching = sorted(
            (
                r
                for r in self.records.values()
                if r.state is state
                and (source is None or r.source == source)
                and since_ms <= r.current.at_ms <= until_ms
            ),
            key=lambda r: (r.current.at_ms, r.document_id),
            reverse=True,
        )
        start = int((cursor or {}).get("o", 0))
        page = matching[start : start + limit]
        following = {"o": start + limit} if start + limit < len(matching) else None
        expire = self.expire_before_ms()
        return [visible(r, expire) for r in page], following

    def file_document_ids(self, file_id: str) -> set[str]:
        return set(self.files.get(file_id, set()))

    def subject_document_ids(self, subject_id: str) -> set[str]:
        return {i for i, r in self.records.items() if r.subject_id == subject_id}

    def counters(self, hours: Sequence[str]) -> list[tuple[str, str | None, dict[str, int]]]:
        wanted = set(hours)
        return [
            (hour, source, counters.attributes()) for (hour, source), counters in self.hourly.items() if hour in wanted
        ]

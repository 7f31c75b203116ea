"""The State Keeper's queries for the operations API, with strict parameter checks.

Every method takes the raw strings of a request (path and query parameters) and raises
`InvalidQuery` with a message naming the parameter and what is expected (HTTP 400), or
`UnknownDocument` (HTTP 404). Results are plain JSON-ready dictionaries.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord
from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument
from chalicelib.state_keeper.lifecycle import State, epoch_millis
from chalicelib.state_keeper.pagination import decode_token, encode_token
from chalicelib.state_keeper.statistics import summarize
from chalicelib.state_keeper.store import StateStore, utc_now

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def _identifier(name: str, value: str | None) -> str:
    if value is None or not _IDENTIFIER.match(value):
        raise InvalidQuery(f"{name} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    return value


def _state(value: str | None) -> State:
    if not value:
        raise InvalidQuery(f"state is required; one of {', '.join(s.value for s in State)}")
    try:
        return State(value.upper())
    except ValueError:
        raise InvalidQuery(f"state must be one of {', '.join(s.value for s in State)}") from None


def _time(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        # a '+' in a query string often arrives decoded as a space: "10:00:00 01:00"
        parsed = datetime.fromisoformat(re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidQuery(f"{name} must be an ISO 8601 time with a zone, e.g. 2026-11-28T14:00:00Z") from None
    if parsed.tzinfo is None:
        raise InvalidQuery(f"{name} must carry a time zone, e.g. 2026-11-28T14:00:00Z")
    return parsed.astimezone(UTC)


def _window(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    end = _time("until", until) or now
    start = _time("since", since) or end - DEFAULT_WINDOW
    if start > end:
        raise InvalidQuery("since must not be after until")
    if end - start > MAX_WINDOW:
        raise InvalidQuery(f"since and until may be at most {MAX_WINDOW.days} days apart")
    return start, end


def _limit(value: str | int | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= number <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return number


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def document_summary(record: DocumentRecord) -> dict[str, Any]:
    return {
        "document_id": record.document_id,
        "state": record.state.value,
        "state_at": _iso(record.state_at),
        "source": record.source,
        "file_id": record.file_id,
    }


def _reasons(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"field": field, "code": code} for field, code in pairs]


def document_view(record: DocumentRecord) -> dict[str, Any]:
    return {
        **document_summary(record),
        "subject_id": record.subject_id,
        "reasons": _reasons(record.reasons),
        "history": [
            {
                "state": e.state.value,
                "at": _iso(e.at),
                "component": e.component,
                "attempt": e.attempt,
                "reason_code": e.reason_code,
                "chunk_id": e.chunk_id,
                "sap_batch_id": e.sap_batch_id,
                "reasons": _reasons(e.reasons),
            }
            for e in record.history
        ],
        "irregular_transitions": [{"from": a.value, "to": b.value} for a, b in record.irregular_steps()],
        # the platform record's versions, newest (the current one) first
        "versions": [
            {
                "version_id": v.version_id,
                "version_at": _iso(v.at),
                "interaction_type": v.interaction,
                "current": position == 0,
            }
            for position, v in enumerate(record.versions)
        ],
    }


def rejections(records: Iterable[DocumentRecord]) -> list[dict[str, Any]]:
    """The reasons of the documents now INVALID, grouped by (field, code): how many
    records each, most first."""
    counts = Counter(pair for record in records if record.state is State.INVALID for pair in set(record.reasons))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"field": field, "code": code, "records": n} for (field, code), n in ranked]


def rejection_summary(documents: int, grouped: list[dict[str, Any]]) -> str | None:
    """`all 14 records: source_record_id missing_record_id` when every document of a file
    is INVALID for the same (field, code); None otherwise."""
    if documents and grouped and grouped[0]["records"] == documents:
        return f"all {documents} records: {grouped[0]['field']} {grouped[0]['code']}"
    return None


class StateQueries:
    """Reads for the operations API. `token_key` signs next tokens; give every instance of
    a stage the same key (wiring passes one from configuration)."""

    def __init__(
        self, store: StateStore, token_key: bytes | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.token_key = token_key or hashlib.sha256(b"state-keeper-next-token").digest()
        self.clock = clock or utc_now

    def get_document(self, document_id: str) -> dict[str, Any]:
        record = self.store.get(_identifier("document id", document_id))
        if record is None:
            raise UnknownDocument("no state recorded for this document")
        return document_view(record)

    def list_documents(
        self,
        state: str | None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: str | int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        wanted = _state(state)
        from_source = _identifier("source", source) if source else None
        start, end = _window(since, until, self.clock())
        count = _limit(limit)
        parameters = {
            "state": wanted.value,
            "source": from_source,
            "since": _iso(start),
            "until": _iso(end),
            "limit": count,
        }
        cursor = decode_token(next_token, parameters, self.token_key) if next_token else None
        records, following = self.store.list_in_state(
            wanted, from_source, epoch_millis(start), epoch_millis(end), count, cursor
        )
        return {
            "documents": [document_summary(r) for r in records],
            # a token carries the resolved window, so "the last 24 hours" does not slide
            "next_token": encode_token(following, parameters, self.token_key) if following else None,
            "since": _iso(start),
            "until": _iso(end),
        }

    def file_outcome(self, file_id: str) -> dict[str, Any]:
        documents = self.store.file_document_ids(_identifier("file id", file_id))
        records = self.store.get_many(documents)
        states = Counter(record.state.value for record in records.values())
        grouped = rejections(records.values())
        return {
            "file_id": file_id,
            "documents": len(documents),
            "states": dict(sorted(states.items())),
            "unknown": len(documents) - len(records),
            "rejections": grouped,
            "summary": rejection_summary(len(documents), grouped),
        }

    def subject_documents(self, subject_id: str) -> dict[str, Any]:
        documents = self.store.subject_document_ids(_identifier("subject id", subject_id))
        records = self.store.get_many(documents)
        return {"subject_id": subject_id, "documents": [document_summary(records[d]) for d in sorted(records)]}

    def stats(self, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        start, end = _window(since, until, self.clock())
        hour = start.replace(minute=0, second=0, microsecond=0)
        hours = []
        while hour <= end:
            hours.append(hour.strftime("%Y-%m-%dT%H"))
            hour += timedelta(hours=1)
        return {"since": _iso(start), "until": _iso(end), **summarize(self.store.counters(hours))}

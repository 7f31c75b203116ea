"""A chunk of an erased subject arriving late writes nothing of theirs, and the State Keeper hears ERASED;
and what the State Keeper hears of the records a chunk queues for SAP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.ingest.messages import ChunkMessage, ChunkRecord
from chalicelib.ingest.normalize_chunk import SUBJECT_ERASED, ChunkNormalizer
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.subjects.tombstones import InMemoryTombstones
from tests.unit.ingest.recording_outbox import RecordingOutbox

KEY = b"k" * 32
ERASED_EMAIL, OTHER_EMAIL = "erased.person@example.com", "someone.else@example.com"
ERASED_AT = datetime(2026, 10, 15, tzinfo=UTC)


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[(Bucket, Key)] = Body


class RecordingReporter:
    def __init__(self) -> None:
        self.changes: list[StateChange] = []

    def __call__(self) -> RecordingReporter:
        return self

    def __enter__(self) -> RecordingReporter:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def report(self, change: StateChange) -> None:
        self.changes.append(change)


def record(record_id: str, email: str, occurred_at: str, **contact: Any) -> dict[str, Any]:
    return {
        "platform": "shop",
        "record_id": record_id,
        "contact": {"email": email, **contact},
        "interaction": {"type": "registration", "occurred_at": occurred_at},
    }


def chunk(*records: dict[str, Any]) -> ChunkMessage:
    return ChunkMessage(
        file_id="f1",
        raw_key="incoming/canonical/2026/11/01/f1.jsonl",
        source="canonical",
        chunk=1,
        ingested_at=datetime(2026, 11, 1, tzinfo=UTC),
        records=[
            ChunkRecord(position=i + 1, source_record_id=f"shop:{r['record_id']}", data=r)
            for i, r in enumerate(records)
        ],
    )


@pytest.fixture
def world() -> dict[str, Any]:
    s3, outbox, reporter = RecordingS3(), RecordingOutbox(), RecordingReporter()
    tombstones = InMemoryTombstones({subject_id_of_email(ERASED_EMAIL, KEY): ERASED_AT})
    normalizer = ChunkNormalizer(s3, "lake", "quarantine", KEY, reporter, outbox, tombstones)
    return {"s3": s3, "outbox": outbox, "reporter": reporter, "tombstones": tombstones, "normalizer": normalizer}


def states_of(reporter: RecordingReporter) -> dict[str, list[tuple[State, str | None]]]:
    states: dict[str, list[tuple[State, str | None]]] = {}
    for change in reporter.changes:
        states.setdefault(change.document_id, []).append((change.state, change.reason_code))
    return states


def test_it_drops_an_erased_subjects_earlier_records_and_keeps_a_later_one(world: dict[str, Any]) -> None:
    # GIVEN a chunk with two records of the erased subject (before and at the erasure), one
    # after it (they registered again), and someone else's record
    message = chunk(
        record("before", ERASED_EMAIL, "2026-10-01T10:00:00Z", first_name="Erika"),
        record("at", ERASED_EMAIL, "2026-10-15T00:00:00Z"),
        record("after", ERASED_EMAIL, "2026-10-20T10:00:00Z"),
        record("other", OTHER_EMAIL, "2026-10-01T10:00:00Z"),
    )
    # WHEN it is normalized
    result = world["normalizer"].normalize_chunk(message)
    # THEN only the later record and the other person's reach the lake and the outbox
    assert (result.valid, result.invalid, result.erased) == (2, 0, 2)
    assert sorted(r.lineage.source_record_id for r in world["outbox"].records) == ["shop:after", "shop:other"]
    lake = b"".join(body for (bucket, _), body in world["s3"].objects.items() if bucket == "lake")
    assert b"shop:before" not in lake and b"shop:at" not in lake and b"Erika" not in lake
    assert not [key for bucket, key in world["s3"].objects if bucket == "quarantine"]
    # ... the dropped ones are RECEIVED then ERASED, with no subject linking them again
    states = states_of(world["reporter"])
    dropped = [c.document_id for c in world["reporter"].changes if c.state is State.ERASED]
    assert len(dropped) == 2
    for document_id in dropped:
        assert states[document_id] == [(State.RECEIVED, None), (State.ERASED, SUBJECT_ERASED)]
    assert all(c.subject_id is None for c in world["reporter"].changes if c.document_id in dropped)
    # ... and the tombstones were asked once, for the chunk's distinct subjects
    assert len(world["tombstones"].lookups) == 1 and len(world["tombstones"].lookups[0]) == 2


def test_an_invalid_record_of_an_erased_subject_is_dropped_not_quarantined(world: dict[str, Any]) -> None:
    # GIVEN invalid records (a bad phone): one of the erased subject, one of someone else
    message = chunk(
        record("bad-erased", ERASED_EMAIL, "2026-10-01T10:00:00Z", phone="12"),
        record("bad-erased-later", ERASED_EMAIL, "2026-10-20T10:00:00Z", phone="12"),
        record("bad-other", OTHER_EMAIL, "2026-10-01T10:00:00Z", phone="12"),
    )
    # WHEN the chunk is normalized
    result = world["normalizer"].normalize_chunk(message)
    # THEN the erased subject's earlier record is nowhere, the later one and the other are quarantined
    assert (result.valid, result.invalid, result.erased) == (0, 2, 1)
    quarantined = world["s3"].objects[("quarantine", result.quarantine_key)]
    assert ERASED_EMAIL.encode() in quarantined and b"bad-erased-later" in quarantined
    assert b'"bad-erased"' not in quarantined and OTHER_EMAIL.encode() in quarantined
    reasons = world["s3"].objects[("quarantine", "reasons/canonical/f1/f1-00001.json")]
    assert reasons.count(b"document_id") == 2
    assert [
        state
        for state, _ in states_of(world["reporter"])[
            next(c.document_id for c in world["reporter"].changes if c.state is State.ERASED)
        ]
    ] == [State.RECEIVED, State.ERASED]


def test_a_chunk_of_nobody_erased_writes_as_before(world: dict[str, Any]) -> None:
    result = world["normalizer"].normalize_chunk(chunk(record("other", OTHER_EMAIL, "2026-10-01T10:00:00Z")))
    assert (result.valid, result.erased, result.queued) == (1, 0, 1)
    assert State.ERASED not in {c.state for c in world["reporter"].changes}


def test_a_chunk_whose_tombstones_cannot_be_read_comes_back(world: dict[str, Any]) -> None:
    class Unreadable(InMemoryTombstones):
        def erased_at(self, subject_ids: Any) -> dict[str, datetime]:
            raise RuntimeError("DynamoDB unavailable")

    normalizer = ChunkNormalizer(
        world["s3"], "lake", "quarantine", KEY, world["reporter"], world["outbox"], Unreadable()
    )
    message = chunk(record("before", ERASED_EMAIL, "2026-10-01T10:00:00Z"))
    # WHEN the lookup fails, nothing is written and SQS brings the chunk back
    assert normalizer.handle([{"messageId": "m1", "body": message.model_dump_json()}]) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}]
    }
    assert world["s3"].objects == {} and world["outbox"].records == []


def test_queued_for_sap_is_stamped_before_the_records_reach_the_outbox(world: dict[str, Any]) -> None:
    # GIVEN a clock that ticks a second at every reading, and an outbox that notes the time it sends
    ticks = iter(range(10**6))
    clock = lambda: datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=next(ticks))  # noqa: E731
    sent_at: list[datetime] = []
    outbox = world["outbox"]
    send = outbox.send
    outbox.send = lambda records: (sent_at.append(clock()), send(records))[1]
    normalizer = ChunkNormalizer(
        world["s3"], "lake", "quarantine", KEY, world["reporter"], outbox, world["tombstones"], clock=clock
    )
    # WHEN a chunk is normalized
    normalizer.normalize_chunk(chunk(record("a", OTHER_EMAIL, "2026-10-01T10:00:00Z")))
    # THEN QUEUED_FOR_SAP carries a time before the send: a dispatcher quick enough to deliver
    # the record before the State Keeper hears of the queueing still reports a later time
    (queued,) = [c for c in world["reporter"].changes if c.state is State.QUEUED_FOR_SAP]
    assert queued.at < sent_at[0]

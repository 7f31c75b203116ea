"""A chunk that fails unexpectedly comes back through SQS, and its log names no personal value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.ingest.messages import ChunkMessage, ChunkRecord
from chalicelib.ingest.normalize_chunk import ChunkNormalizer
from chalicelib.subjects.tombstones import InMemoryTombstones

EMAIL = "anna.schmidt@example.com"


class _FailingS3:
    def put_object(self, **kwargs: Any) -> None:
        raise RuntimeError(f"cannot store the record of {EMAIL}")  # an exception quoting a value


def test_a_failed_chunk_is_retried_and_logged_without_its_personal_values(capsys: pytest.CaptureFixture[str]) -> None:
    message = ChunkMessage(
        file_id="f1",
        raw_key="incoming/canonical/f1.jsonl",
        source="canonical",
        chunk=1,
        ingested_at=datetime(2026, 11, 1, tzinfo=UTC),
        records=[
            ChunkRecord(
                position=1,
                source_record_id="r1",
                data={
                    "source_record_id": "r1",
                    "email": EMAIL,
                    "interaction_type": "registration",
                    "occurred_at": "2026-10-01T10:00:00Z",
                },
            )
        ],
    )
    normalizer = ChunkNormalizer(
        _FailingS3(),
        "lake",
        "quarantine",
        b"k" * 32,
        reporter=lambda: None,
        outbox=None,
        tombstones=InMemoryTombstones(),
    )  # type: ignore[arg-type]

    with observability.log_level("DEBUG"):  # the JSON lines every chalicelib logger writes
        result = normalizer.handle([{"messageId": "m1", "body": message.model_dump_json()}])

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    logged = capsys.readouterr().out
    assert [json.loads(line)["level"] for line in logged.splitlines()] == ["ERROR"]
    assert "RuntimeError" in logged and "f1-00001" in logged
    assert EMAIL not in logged

"""Test data for the GDPR tests: lake Parquet objects and raw files of fake people."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.normalize.lake import subject_key

KEY = b"test-subject-key"


def subject_id(email: str) -> str:
    """The test stand-in for the connectors' keyed HMAC of the normalized email."""
    import hmac

    return hmac.new(KEY, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def person(
    n: int,
    source: str = "eventbrite",
    event_id: str = "ev-1",
    event_date: str = "2024-03-01",
    raw_key: str = "incoming/eventbrite/2024/03/01/file1.jsonl",
) -> dict[str, Any]:
    email = f"person{n}@example.com"
    return {
        "document_id": f"doc-{source}-{n}",
        "subject_id": subject_id(email),
        "subject_key": subject_key(subject_id(email)),
        "source": source,
        "email": email,
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "phone": f"+4930{n:07d}",
        "birth_date": f"19{50 + n % 40}-0{1 + n % 9}-1{n % 10}",
        "event_id": event_id,
        "event_date": event_date,
        "raw_key": raw_key,
    }


LAKE_SCHEMA = pa.schema(
    [
        (name, pa.int64() if name == "subject_key" else pa.string())
        for name in (
            "document_id",
            "subject_id",
            "subject_key",
            "email",
            "first_name",
            "last_name",
            "phone",
            "birth_date",
            "event_id",
            "raw_key",
        )
    ],
    metadata={b"data-engine.schema": b"lake-v1"},
)


def lake_parquet(rows: list[dict[str, Any]], row_group_size: int | None = None, compression: str = "zstd") -> bytes:
    table = pa.Table.from_pylist([{k: r.get(k) for k in LAKE_SCHEMA.names} for r in rows], schema=LAKE_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size, compression=compression)
    return buffer.getvalue()


def lake_key(source: str, event_date: str, name: str = "part-0000.parquet") -> str:
    return f"lake/source={source}/event_date={event_date}/{name}"


def read_rows(content: bytes) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(content)).to_pylist()


def jsonl(records: list[dict[str, Any]], ending: str = "\n") -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + ending for r in records).encode()


def raw_record(n: int) -> dict[str, Any]:
    return {
        "attendee_id": f"A{n}",
        "profile": {"email": f"Person{n}@Example.com ", "name": f"First{n} Last{n}"},
        "event": {"id": "ev-1", "start": "2024-03-01T18:00:00"},
    }


def subject_of_raw(record: dict[str, Any]) -> str | None:
    """What the connectors' email extraction + HMAC does, for the test files."""
    email = record.get("email") or (record.get("profile") or {}).get("email") or record.get("E-Mail")
    return subject_id(email) if email else None

"""Rewriting an object without the subjects' records: exact, verified, never half-done."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC

import pyarrow.parquet as pq
import pytest

from chalicelib.lake_access.exceptions import NothingRemoved, UnsupportedObjectFormat
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.rewrite_object import raw_format_for, rewrite_without_subjects
from tests.unit.lake_access.builders import (
    jsonl,
    lake_key,
    lake_parquet,
    person,
    raw_record,
    read_rows,
    subject_id,
    subject_of_raw,
)

KEY = lake_key("eventbrite", "2024-03-01")


def _lake_store(rows: list[dict], **parquet: object) -> InMemoryObjectStore:
    store = InMemoryObjectStore()
    store.add(
        "lake",
        KEY,
        lake_parquet(rows, **parquet),
        metadata={"writer": "normalize", "records": str(len(rows))},
        content_type="application/vnd.apache.parquet",
    )
    return store


def test_it_removes_only_the_subjects_rows_from_a_parquet_object() -> None:
    rows = [person(i) for i in range(10)]
    store = _lake_store(rows)
    gone = {rows[2]["subject_id"], rows[7]["subject_id"]}
    outcome = rewrite_without_subjects(store, "lake", KEY, gone)
    assert outcome.rewritten and (outcome.rows_before, outcome.rows_removed) == (10, 2)
    assert outcome.removed_by_subject == {s: 1 for s in gone}
    kept = [r for r in rows if r["subject_id"] not in gone]
    assert read_rows(store.objects[("lake", KEY)].body) == [
        {k: v for k, v in r.items() if k not in ("source", "event_date")} for r in kept
    ]


def test_a_parquet_rewrite_keeps_schema_metadata_compression_row_groups_and_object_metadata() -> None:
    rows = [person(i) for i in range(100)]
    store = _lake_store(rows, row_group_size=30, compression="snappy")
    rewrite_without_subjects(store, "lake", KEY, {rows[0]["subject_id"]})
    stored = store.objects[("lake", KEY)]
    parquet = pq.ParquetFile(io.BytesIO(stored.body))
    assert parquet.schema_arrow.metadata[b"data-engine.schema"] == b"lake-v1"
    assert parquet.metadata.row_group(0).num_rows == 30
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert stored.metadata == {"writer": "normalize", "records": "100"}
    assert stored.content_type == "application/vnd.apache.parquet"


def test_an_object_the_find_named_but_holding_none_of_the_subjects_is_an_error() -> None:
    store = _lake_store([person(1)])
    before = store.objects[("lake", KEY)].body
    with pytest.raises(NothingRemoved) as raised:
        rewrite_without_subjects(store, "lake", KEY, {subject_id("nobody@example.com")})
    assert store.objects[("lake", KEY)].body == before
    assert "@" not in str(raised.value)  # no personal data in errors


def test_a_retry_after_the_object_was_rewritten_since_the_find_is_not_an_error() -> None:
    # GIVEN the find ran, then an earlier attempt of the job rewrote the object
    store = _lake_store([person(1), person(2)])
    found_at = "2000-01-01T00:00:00+00:00"
    rewrite_without_subjects(store, "lake", KEY, {person(1)["subject_id"]}, found_at=found_at)
    # WHEN the retry rewrites it again THEN nothing is removed and nothing fails
    again = rewrite_without_subjects(store, "lake", KEY, {person(1)["subject_id"]}, found_at=found_at)
    assert (again.rows_removed, again.rewritten) == (0, False)


def test_a_failed_write_leaves_the_original_intact() -> None:
    store = _lake_store([person(1), person(2)])
    before = store.objects[("lake", KEY)].body
    store.fail_puts = True
    with pytest.raises(OSError):
        rewrite_without_subjects(store, "lake", KEY, {person(1)["subject_id"]})
    assert store.objects[("lake", KEY)].body == before


def test_in_a_versioned_bucket_the_previous_version_holding_the_subjects_is_deleted() -> None:
    store = InMemoryObjectStore(versioned=True)
    store.add("lake", KEY, lake_parquet([person(1), person(2)]))
    outcome = rewrite_without_subjects(store, "lake", KEY, {person(1)["subject_id"]})
    assert outcome.old_version_deleted and store.old_versions[("lake", KEY)] == []


def test_a_dry_run_counts_without_writing() -> None:
    store = _lake_store([person(1), person(2)])
    before = store.objects[("lake", KEY)].body
    outcome = rewrite_without_subjects(store, "lake", KEY, {person(1)["subject_id"]}, dry_run=True)
    assert (outcome.rows_removed, outcome.rewritten) == (1, False)
    assert store.objects[("lake", KEY)].body == before


# -- raw files ----------------------------------------------------------------------------


def _raw(key: str, content: bytes) -> InMemoryObjectStore:
    store = InMemoryObjectStore()
    store.add("raw", key, content, metadata={"source": "eventbrite"}, content_type="text/plain")
    return store


def _erase(store: InMemoryObjectStore, key: str, *people: int) -> bytes:
    subjects = {subject_id(f"person{n}@example.com") for n in people}
    rewrite_without_subjects(store, "raw", key, subjects, subject_of=subject_of_raw)
    return store.objects[("raw", key)].body


def test_json_lines_keep_every_other_line_byte_for_byte() -> None:
    lines = [json.dumps(raw_record(i), indent=None, separators=(", ", ": ")) for i in range(4)]
    content = ("\r\n".join(lines) + "\r\n").encode()
    store = _raw("incoming/canonical/f.jsonl", content)
    assert _erase(store, "incoming/canonical/f.jsonl", 1, 3) == (lines[0] + "\r\n" + lines[2] + "\r\n").encode()
    assert store.objects[("raw", "incoming/canonical/f.jsonl")].metadata == {"source": "eventbrite"}


def test_a_json_page_loses_the_subjects_elements_and_keeps_the_rest_verbatim() -> None:
    page = (
        '{"pagination": {"page": 1},\n "attendees": [\n  {"attendee_id": "A0", "email": "person0@example.com"},\n'
        '  {"attendee_id": "A1",   "email": "person1@example.com", "note": "caf\\u00e9 ✓"},\n'
        '  {"attendee_id": "A2", "email": "person2@example.com"}\n ]\n}\n'
    )
    store = _raw("incoming/eventbrite/p.json", page.encode())
    assert _erase(store, "incoming/eventbrite/p.json", 0, 2).decode() == (
        '{"pagination": {"page": 1},\n "attendees": [\n'
        '  {"attendee_id": "A1",   "email": "person1@example.com", "note": "caf\\u00e9 ✓"}\n ]\n}\n'
    )


def test_a_json_page_whose_last_record_goes_keeps_valid_json() -> None:
    page = '[{"email": "person0@example.com"}, {"email": "person1@example.com"}]'
    store = _raw("incoming/x/p.json", page.encode())
    assert _erase(store, "incoming/x/p.json", 1).decode() == '[{"email": "person0@example.com"}]'


def test_csv_keeps_its_header_and_rows_with_quoted_newlines_byte_for_byte() -> None:
    content = (
        "\ufeffE-Mail;Name;Comment\r\n"
        'person0@example.com;"Zero";"multi\r\nline"\r\n'
        "person1@example.com;One;plain\r\n"
        'person2@example.com;"Two; with delimiter";x\r\n'
    ).encode("utf-8")
    store = _raw("incoming/shop/orders.csv", content)
    assert _erase(store, "incoming/shop/orders.csv", 1).decode("utf-8") == (
        "\ufeffE-Mail;Name;Comment\r\n"
        'person0@example.com;"Zero";"multi\r\nline"\r\n'
        'person2@example.com;"Two; with delimiter";x\r\n'
    )


def test_tsv_in_a_gzip_file_is_rewritten_and_recompressed() -> None:
    content = b"E-Mail\tName\nperson0@example.com\tZero\nperson1@example.com\tOne\n"
    store = _raw("incoming/shop/orders.txt.gz", gzip.compress(content))
    assert (
        gzip.decompress(_erase(store, "incoming/shop/orders.txt.gz", 0)) == b"E-Mail\tName\nperson1@example.com\tOne\n"
    )


def test_bytes_that_are_not_utf8_survive_a_rewrite() -> None:
    # a Latin-1 row is no record to ingest (not UTF-8): it is kept byte for byte, as it was read
    content = b"E-Mail,Name\nperson0@example.com,Zero\nperson1@example.com,Stra\xdfe\n"
    store = _raw("incoming/shop/latin.csv", content)
    assert _erase(store, "incoming/shop/latin.csv", 0) == b"E-Mail,Name\nperson1@example.com,Stra\xdfe\n"


def test_a_raw_object_without_the_subjects_is_an_error_when_the_find_named_it() -> None:
    store = _raw("incoming/x/f.jsonl", jsonl([raw_record(1)]))
    with pytest.raises(NothingRemoved):
        _erase(store, "incoming/x/f.jsonl", 9)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(UnsupportedObjectFormat):
        raw_format_for("incoming/x/file.xlsx")


def test_an_object_found_by_a_colliding_subject_key_is_not_an_error() -> None:
    # GIVEN a lake row whose subject key equals the wanted subject's, though its id differs
    import pyarrow as pa

    from chalicelib.normalize.lake import subject_key

    wanted = "w" * 64
    table = pa.table({"subject_id": ["x" * 64], "subject_key": [subject_key(wanted)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    store = InMemoryObjectStore()
    store.add("lake", KEY, buffer.getvalue())
    # WHEN the rewrite finds no row of the subject THEN it reports the collision, writes nothing
    outcome = rewrite_without_subjects(store, "lake", KEY, {wanted}, key_column="subject_key")
    assert (outcome.rows_removed, outcome.key_collisions, outcome.rewritten) == (0, 1, False)


def test_objects_in_the_normalize_lake_schema_are_found_and_rewritten_with_their_types() -> None:
    # GIVEN a lake object as chalicelib/normalize/lake.py writes it (decimals, timestamps, sorted)
    from datetime import datetime
    from decimal import Decimal

    import pyarrow as pa

    from chalicelib.erasure.find_objects import find_objects
    from chalicelib.lake_access.catalog import lake_table
    from chalicelib.lake_access.query_engine import DuckDbQueryEngine
    from chalicelib.normalize.lake import lake_key as normalize_lake_key
    from chalicelib.normalize.lake import lake_schema, subject_key

    rows = [
        {
            "document_id": f"d{i}",
            "subject_id": f"{i:064x}",
            "subject_key": subject_key(f"{i:064x}"),
            "email": f"person{i}@example.com",
            "amount": Decimal("12.5000"),
            "occurred_at": datetime(2024, 3, 1, tzinfo=UTC),
            "raw_key": "incoming/eventbrite/2024/03/01/f.json",
            "raw_position": i,
        }
        for i in range(5)
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=lake_schema()), buffer)
    key = normalize_lake_key("eventbrite", __import__("datetime").date(2024, 3, 1), "abc-00001")
    store = InMemoryObjectStore()
    store.add("lake", key, buffer.getvalue())
    table = lake_table("data-engine", "local", "lake")
    # WHEN the find and the rewrite run
    found = find_objects(DuckDbQueryEngine([table], store), table, [f"{3:064x}"], raw_bucket="raw")
    outcome = rewrite_without_subjects(store, "lake", key, {f"{3:064x}"})
    # THEN the object is found, one row goes, and the schema stays the lake's
    assert found.lake_keys == [key] and found.raw_keys == ["incoming/eventbrite/2024/03/01/f.json"]
    assert outcome.rows_removed == 1
    assert pq.ParquetFile(io.BytesIO(store.objects[("lake", key)].body)).schema_arrow.equals(lake_schema())

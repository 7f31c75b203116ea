"""Lake compaction: a partition's small objects become one, rows and sums unchanged, each
row once; nothing while an erasure runs; members that changed meanwhile are left alone;
erasure works on the compacted object."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow.parquet as pq

from chalicelib.lake_access.catalog import lake_table
from chalicelib.lake_access.compaction import COMPACTED_PREFIX, LakeCompaction
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.lake_access.rewrite_object import rewrite_without_subjects
from chalicelib.normalize.lake import lake_objects, lake_schema
from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.raw_files.records import RawRecord

BUCKET = "lake"
TABLE = lake_table("data-engine", "local", BUCKET)
KEY = b"k" * 32


def lead(n: int, email: str | None = None) -> NormalizedRecord:
    data = {
        "lead_id": f"L{n}",
        "lead_submit_time": "2026-11-20 10:00:00+01:00",
        "user_column_data": [{"column_id": "EMAIL", "string_value": email or f"person{n}@example.com"}],
    }
    record = normalize("google_ads", RawRecord(0, None, data), f"raw/google_ads/f{n}.json", datetime.now(UTC), KEY)
    assert isinstance(record, NormalizedRecord), record
    return record


def put_chunk(
    store: InMemoryObjectStore, records: list[NormalizedRecord], chunk: str, drop: tuple[str, ...] = ()
) -> str:
    (lake_object,) = lake_objects(records, chunk)
    buffer = io.BytesIO()
    pq.write_table(lake_object.table.drop_columns(list(drop)), buffer)
    store.add(BUCKET, lake_object.key, buffer.getvalue())
    return lake_object.key


def query(store: InMemoryObjectStore, sql: str) -> list[tuple]:
    engine = DuckDbQueryEngine([TABLE], store, schemas={TABLE.qualified_name: lake_schema()})
    return engine.run(sql).rows


def a_partition(store: InMemoryObjectStore) -> list[str]:
    keys = [put_chunk(store, [lead(n), lead(n + 100)], f"c{n:03d}-00000") for n in range(5)]
    keys.append(put_chunk(store, [lead(7)], "old-00000", drop=("version_at", "version_id")))  # schema 2
    return keys


def compaction(store: InMemoryObjectStore, **options) -> LakeCompaction:
    return LakeCompaction(store, BUCKET, erasure_running=lambda: False, **options)


COUNT = f'SELECT count(*), count(DISTINCT document_id) FROM "{TABLE.database}"."{TABLE.name}"'
CURRENT = f"SELECT document_id, version_id FROM {TABLE.qualified_view} ORDER BY 1"


def test_small_objects_of_a_partition_become_one_with_the_same_rows() -> None:
    store = InMemoryObjectStore()
    members = a_partition(store)
    before, current = query(store, COUNT), query(store, CURRENT)

    report = compaction(store).run()

    keys = [key for bucket, key in store.objects if bucket == BUCKET]
    assert len(keys) == 1 and keys[0].rsplit("/", 1)[1].startswith(COMPACTED_PREFIX)
    assert keys[0].rsplit("/", 1)[0] == members[0].rsplit("/", 1)[0]
    assert (report.objects_read, report.objects_deleted, report.rows) == (6, 6, 11)
    assert query(store, COUNT) == before == [(11, 11)]
    assert query(store, CURRENT) == current
    table = pq.read_table(io.BytesIO(store.objects[(BUCKET, keys[0])].body))
    subject_keys = table.column("subject_key").to_pylist()
    assert subject_keys == sorted(subject_keys)


def test_a_chunk_written_again_after_a_compaction_is_kept_once() -> None:
    store = InMemoryObjectStore()
    a_partition(store)
    compaction(store).run()
    put_chunk(store, [lead(1), lead(101)], "c001-00000")  # the chunk normalized again (a replay)
    assert query(store, COUNT) == [(13, 11)]

    report = compaction(store, min_objects=2).run()

    assert report.repeated_rows_dropped == 2 and query(store, COUNT) == [(11, 11)]


def test_nothing_is_compacted_while_an_erasure_job_runs() -> None:
    store = InMemoryObjectStore()
    members = a_partition(store)
    report = LakeCompaction(store, BUCKET, erasure_running=lambda: True).run()
    assert report.skipped_erasure_running and sorted(k for _, k in store.objects) == sorted(members)


class RewrittenMeanwhile(InMemoryObjectStore):
    """A store where another job rewrites one member while the compaction writes."""

    def __init__(self) -> None:
        super().__init__()
        self.member: str | None = None

    def put(self, bucket, key, body, *, like=None, if_match=None):
        etag = super().put(bucket, key, body, like=like, if_match=if_match)
        if self.member and key.rsplit("/", 1)[1].startswith(COMPACTED_PREFIX):
            self.objects[(bucket, self.member)].etag = "rewritten-by-anonymization"
        return etag


def test_members_rewritten_meanwhile_are_left_as_they_are() -> None:
    store = RewrittenMeanwhile()
    members = a_partition(store)
    store.member = members[2]

    report = compaction(store).run()

    assert report.skipped_changed == 1 and report.objects_deleted == 0
    assert sorted(k for _, k in store.objects) == sorted(members)


def test_an_erasure_finds_and_rewrites_the_compacted_object() -> None:
    store = InMemoryObjectStore()
    a_partition(store)
    erased = lead(3).subject_id
    assert erased
    compaction(store).run()
    (key,) = [key for _, key in store.objects]
    hits = query(store, f"SELECT \"$path\" FROM {TABLE.qualified_name} WHERE subject_id = '{erased}'")
    assert hits == [(f"s3://{BUCKET}/{key}",)]

    rewrite_without_subjects(store, BUCKET, key, {erased})

    assert query(store, f"SELECT count(*) FROM {TABLE.qualified_name} WHERE subject_id = '{erased}'") == [(0,)]
    assert query(store, COUNT) == [(10, 10)]


def test_objects_already_large_are_left_alone() -> None:
    store = InMemoryObjectStore()
    a_partition(store)
    report = compaction(store, small_bytes=10).run()
    assert report.objects_read == 0 and len(store.objects) == 6

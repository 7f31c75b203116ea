"""Compact a lake partition's small objects into one: fewer objects for Athena to open.

Every chunk writes its own object per partition, so a partition fed by many small files
(webhook batches, one-page pulls) holds many small objects, and Athena pays per object
opened. A compaction run merges the small objects of a partition (below `small_bytes`,
at least `min_objects` of them) into objects of up to `target_bytes`: rows read with the
current schema (a column an older object lacks reads null), exact repeats of one row
(the same version of a record from the same raw record, e.g. a chunk normalized again
after an earlier compaction) kept once, sorted by subject key like every lake object, and
written as `part-compact-{digest}.parquet` before the members are deleted.

Why it is safe beside the GDPR jobs:
- erasure: a run does nothing while an erasure job runs (`erasure_running`), and it stops
  starting new work well within a function timeout. An erasure job started meanwhile
  writes its tombstones and waits `settle_seconds` (longer than a function timeout)
  before its first scan, so the scan sees the lake after the compaction, as it does a
  normalize run's writes (`erasure/workflow.py`);
- anonymization: after writing, the members are listed again; if one changed since it
  was read (an anonymization rewrote it), the compacted object is deleted and the
  members stay. A compacted object is newer than any anonymization mark, so the next
  anonymization run reads it again.
- a crash between the write and the deletes leaves rows twice (members and compacted
  object); the next run merges them and keeps each row once.
Rows of the same version from different raw records are kept: each names a raw file the
erasure must find.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.lake_access.object_store import ObjectInfo, ObjectStore
from chalicelib.lake_access.rewrite_object import read_parquet, write_parquet
from chalicelib.normalize.lake import LAKE_PREFIX, lake_schema

SMALL_BYTES = 32 * 1024**2
TARGET_BYTES = 128 * 1024**2
MIN_OBJECTS = 4
COMPACTED_PREFIX = "part-compact-"
# one row of one raw record: what a repeat has in common
ROW_IDENTITY = ("document_id", "version_id", "raw_key", "raw_position")


@dataclass
class CompactionReport:
    partitions_seen: int = 0
    partitions_compacted: int = 0
    objects_read: int = 0
    objects_written: int = 0
    objects_deleted: int = 0
    rows: int = 0
    repeated_rows_dropped: int = 0
    skipped_changed: int = 0  # a member changed while it was compacted: left as it was
    skipped_erasure_running: bool = False
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def partition_of(key: str) -> str:
    return key.rsplit("/", 1)[0]


def compacted_key(partition: str, members: list[ObjectInfo]) -> str:
    digest = hashlib.blake2b(
        "\n".join(f"{m.key}\x1f{m.etag}" for m in sorted(members, key=lambda m: m.key)).encode(), digest_size=10
    )
    return f"{partition}/{COMPACTED_PREFIX}{digest.hexdigest()}.parquet"


def merged_table(tables: list[Any]) -> tuple[Any, int]:
    """The tables' rows as one table of the lake's schema, each row once, sorted by subject key;
    and how many repeats were dropped."""
    import pyarrow as pa

    schema = lake_schema()
    aligned = []
    for table in tables:
        columns = [
            table.column(field.name).cast(field.type)
            if field.name in table.column_names
            else pa.nulls(table.num_rows, field.type)
            for field in schema
        ]
        aligned.append(pa.Table.from_arrays(columns, schema=schema))
    table = pa.concat_tables(aligned)
    identities = zip(*(table.column(name).to_pylist() for name in ROW_IDENTITY))
    seen: set[tuple[Any, ...]] = set()
    keep = []
    for identity in identities:
        keep.append(identity not in seen)
        seen.add(identity)
    kept = table.filter(pa.array(keep))
    ordered = kept.sort_by([("subject_key", "ascending", "at_start"), ("document_id", "ascending", "at_start")])
    return ordered, table.num_rows - kept.num_rows


class LakeCompaction:
    """One compaction run over the lake bucket (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        erasure_running: Callable[[], bool],
        *,
        small_bytes: int = SMALL_BYTES,
        target_bytes: int = TARGET_BYTES,
        min_objects: int = MIN_OBJECTS,
        budget_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.erasure_running = erasure_running
        self.small_bytes = small_bytes
        self.target_bytes = target_bytes
        self.min_objects = min_objects
        self.budget_seconds = budget_seconds
        self.clock = clock

    def run(self) -> CompactionReport:
        report = CompactionReport()
        if self.erasure_running():
            report.skipped_erasure_running = True
            return report
        started = self.clock()
        partitions: dict[str, list[ObjectInfo]] = {}
        for info in self.store.list(self.bucket, LAKE_PREFIX):
            if info.key.endswith(".parquet"):
                partitions.setdefault(partition_of(info.key), []).append(info)
        report.partitions_seen = len(partitions)
        for partition, objects in sorted(partitions.items()):
            small = sorted((o for o in objects if o.size < self.small_bytes), key=lambda o: o.key)
            if len(small) < self.min_objects:
                continue
            compacted = False
            for members in self._groups(small):
                if self.clock() - started > self.budget_seconds:
                    report.stopped_early = True
                    return report
                compacted |= self._compact(partition, members, report)
            report.partitions_compacted += compacted
        return report

    def _groups(self, small: list[ObjectInfo]) -> list[list[ObjectInfo]]:
        groups: list[list[ObjectInfo]] = [[]]
        size = 0
        for info in small:
            if groups[-1] and size + info.size > self.target_bytes:
                groups.append([])
                size = 0
            groups[-1].append(info)
            size += info.size
        return [group for group in groups if len(group) > 1]

    def _compact(self, partition: str, members: list[ObjectInfo], report: CompactionReport) -> bool:
        read = {}
        tables = []
        for info in members:
            stored = self.store.get(self.bucket, info.key)
            read[info.key] = stored.etag
            tables.append(read_parquet(stored.body)[0])
        report.objects_read += len(members)
        table, repeats = merged_table(tables)
        key = compacted_key(partition, members)
        self.store.put(self.bucket, key, write_parquet(table, {"compression": "zstd"}))
        now = {info.key: info.etag for info in self.store.list(self.bucket, partition + "/")}
        if any(now.get(member) != etag for member, etag in read.items()):
            self.store.delete(self.bucket, key)  # a member changed or went: leave them as they are
            report.skipped_changed += 1
            return False
        for member in read:
            if member != key:
                self.store.delete(self.bucket, member)
                report.objects_deleted += 1
        report.objects_written += 1
        report.rows += table.num_rows
        report.repeated_rows_dropped += repeats
        return True

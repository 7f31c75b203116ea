"""Prove the subjects are gone: find again (zero hits), re-read what was rewritten, ask the State Keeper.

The lake check runs the same find SQL as the first step, restricted to the partitions
and objects the find hit (`"$path"`), which is where the subjects were; with
`scope="full"` it scans the whole lake again. Raw and quarantine objects are not in the
lake table, so each one rewritten is read again and its records matched with
`subject_of`. SAP is read back by the workflow (`SapErasure.verify`) and its counts set
here: a subject SAP still holds data for makes the verification not clean.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.erasure.find_objects import find_objects, partitions_of
from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.object_store import ObjectStore
from chalicelib.lake_access.query_engine import QueryEngine
from chalicelib.lake_access.rewrite_object import SubjectOf, erase_from_parquet, is_parquet, raw_format_for
from chalicelib.raw_files.rewriter import count_records


@dataclass
class Verification:
    lake_hits: int = 0
    raw_hits: int = 0
    quarantine_hits: int = 0
    state_keeper_hits: int = 0
    sap_verified: int = 0
    sap_not_clean: int = 0
    bytes_scanned: int = 0
    queries: int = 0
    lake_query: str = "run"
    hit_keys: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lake_hits or self.raw_hits or self.quarantine_hits or self.state_keeper_hits or self.sap_not_clean
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "lake_hits": self.lake_hits,
            "raw_hits": self.raw_hits,
            "quarantine_hits": self.quarantine_hits,
            "state_keeper_hits": self.state_keeper_hits,
            "sap": {"verified": self.sap_verified, "not_clean": self.sap_not_clean},
            "bytes_scanned": self.bytes_scanned,
            "lake_query": self.lake_query,
        }


def subjects_left_in(
    store: ObjectStore,
    bucket: str,
    key: str,
    subject_ids: Collection[str],
    subject_of: SubjectOf | None,
    subject_column: str,
) -> int:
    """Records of the subjects an object still holds."""
    content = store.get(bucket, key).body
    if is_parquet(key, content):
        check = erase_from_parquet(content, subject_column, subject_ids)
        return check.rows_before - check.rows_after
    if subject_of is None:
        raise ValueError("a raw object needs subject_of")
    return count_records(content, key, raw_format_for(key), lambda r: subject_of(r) in subject_ids)[1]


def verify_erasure(
    engine: QueryEngine,
    table: LakeTable,
    store: ObjectStore,
    subject_ids: Collection[str],
    *,
    found_lake_keys: list[str],
    raw_bucket: str,
    raw_keys: list[str],
    quarantine_bucket: str,
    quarantine_keys: list[str],
    subject_of_for: Callable[[str, str], SubjectOf],
    state_keeper_hits: Callable[[], int],
    scope: Literal["found", "full"] = "found",
) -> Verification:
    result = Verification()
    if scope == "full" or found_lake_keys:
        partition_filter = partitions_of(found_lake_keys, table) if scope == "found" else None
        found = find_objects(engine, table, list(subject_ids), partition_filter)
        result.lake_hits, result.bytes_scanned, result.queries = (
            len(found.lake_keys),
            found.bytes_scanned,
            found.queries,
        )
        result.hit_keys.extend(found.lake_keys)
        result.lake_query = "full lake" if scope == "full" else f"{len(found_lake_keys)} object(s) found before"
    else:
        # the find, moments ago, found no lake object: it was the proof; no second scan
        result.lake_query = "skipped: the find found no lake object"
    for key in raw_keys:
        left = subjects_left_in(
            store, raw_bucket, key, subject_ids, subject_of_for(raw_bucket, key), table.subject_column
        )
        result.raw_hits += left
        if left:
            result.hit_keys.append(key)
    for key in quarantine_keys:
        left = subjects_left_in(
            store, quarantine_bucket, key, subject_ids, subject_of_for(quarantine_bucket, key), table.subject_column
        )
        result.quarantine_hits += left
        if left:
            result.hit_keys.append(key)
    result.state_keeper_hits = state_keeper_hits()
    return result

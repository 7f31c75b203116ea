"""Find the objects holding given subjects: one query over the lake, partition-pruned.

The SQL is built by pure functions that quote every identifier and literal (Athena's
Trino dialect and DuckDB agree: identifiers in double quotes, strings in single quotes,
a quote doubled inside). One query serves a whole job: all its subjects in one `IN`
list, so the lake is scanned once however many requests the job carries. With a lineage
column the same scan also names the raw objects the rows came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.object_store import parse_s3_uri
from chalicelib.lake_access.query_engine import QueryEngine
from chalicelib.normalize.lake import subject_key

PATH_COLUMN = "$path"
# Athena's query string limit is 256 KB; this keeps a job's IN list far below it.
MAX_SUBJECTS_PER_QUERY = 1000


def quote_identifier(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError("an identifier must be a non-empty string without NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("a string literal must be a str without NUL")
    return "'" + value.replace("'", "''") + "'"


def qualified_table(name: str) -> str:
    """`database.table` to `"database"."table"`."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def quote_integer(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("an integer literal must be an int")
    return str(value)


def in_list(column: str, values: Iterable[str | int]) -> str:
    literals = sorted(set(values))
    if not literals:
        raise ValueError(f"an IN list on {column} needs at least one value")
    quoted = [quote_literal(v) if isinstance(v, str) else quote_integer(v) for v in literals]
    return f"{quote_identifier(column)} IN ({', '.join(quoted)})"


@dataclass(frozen=True)
class PartitionFilter:
    """Which partitions a query may read. Empty means all."""

    sources: tuple[str, ...] = ()
    event_date_from: date | None = None  # inclusive
    event_date_to: date | None = None  # inclusive
    event_dates: tuple[date, ...] = ()
    paths: tuple[str, ...] = ()  # s3:// URIs, as "$path" holds them

    def conditions(self) -> list[str]:
        conditions = []
        if self.sources:
            conditions.append(in_list("source", self.sources))
        if self.event_dates:
            conditions.append(in_list("event_date", [d.isoformat() for d in self.event_dates]))
        # event_date is a string partition (yyyy-MM-dd): string order is date order
        if self.event_date_from is not None:
            conditions.append(f'"event_date" >= {quote_literal(self.event_date_from.isoformat())}')
        if self.event_date_to is not None:
            conditions.append(f'"event_date" <= {quote_literal(self.event_date_to.isoformat())}')
        if self.paths:
            conditions.append(in_list(PATH_COLUMN, self.paths))
        return conditions


def find_subjects_sql(
    table: str,
    subject_ids: Sequence[str],
    partition_filter: PartitionFilter | None = None,
    *,
    subject_column: str = "subject_id",
    lineage_column: str | None = None,
    key_column: str | None = None,
) -> str:
    """`SELECT DISTINCT "$path"[, lineage] FROM table WHERE subject IN (...) AND partitions`.

    With `key_column`, the condition is on the subjects' compact keys (`subject_key`).
    """
    if len(set(subject_ids)) > MAX_SUBJECTS_PER_QUERY:
        raise ValueError(f"at most {MAX_SUBJECTS_PER_QUERY} subjects per query")
    columns = [quote_identifier(PATH_COLUMN)]
    if lineage_column:
        columns.append(quote_identifier(lineage_column))
    subjects = (
        in_list(key_column, [subject_key(s) for s in subject_ids])
        if key_column
        else in_list(subject_column, subject_ids)
    )
    conditions = [subjects, *(partition_filter or PartitionFilter()).conditions()]
    return f"SELECT DISTINCT {', '.join(columns)} FROM {qualified_table(table)} WHERE {' AND '.join(conditions)}"


@dataclass
class FoundObjects:
    """Where the subjects are: lake keys, raw keys (from lineage), and what the scan cost."""

    lake_keys: list[str] = field(default_factory=list)
    raw_keys: list[str] = field(default_factory=list)
    bytes_scanned: int = 0
    queries: int = 0

    @property
    def hits(self) -> int:
        return len(self.lake_keys) + len(self.raw_keys)


def find_objects(
    engine: QueryEngine,
    table: LakeTable,
    subject_ids: Sequence[str],
    partition_filter: PartitionFilter | None = None,
    raw_bucket: str | None = None,
) -> FoundObjects:
    """Run the find for `subject_ids`; raw keys only when the lake has a lineage column."""
    found = FoundObjects()
    lineage = table.lineage_column if raw_bucket else None
    ids = sorted(set(subject_ids))
    lake: set[str] = set()
    raw: set[str] = set()
    for start in range(0, len(ids), MAX_SUBJECTS_PER_QUERY):
        sql = find_subjects_sql(
            table.qualified_name,
            ids[start : start + MAX_SUBJECTS_PER_QUERY],
            partition_filter,
            subject_column=table.subject_column,
            lineage_column=lineage,
            key_column=table.subject_key_column,
        )
        result = engine.run(sql)
        found.bytes_scanned += result.bytes_scanned
        found.queries += 1
        for row in result.rows:
            bucket, key = parse_s3_uri(row[0])
            if bucket == table.bucket:
                lake.add(key)
            if lineage and len(row) > 1 and row[1]:
                raw.add(_raw_key(str(row[1]), raw_bucket))
    found.lake_keys = sorted(lake)
    found.raw_keys = sorted(raw)
    return found


def _raw_key(value: str, raw_bucket: str | None) -> str:
    """A lineage value is a raw key, or an s3:// URI in the raw bucket."""
    if value.startswith("s3://"):
        bucket, key = parse_s3_uri(value)
        if bucket != raw_bucket:
            raise ValueError(f"lineage points outside the raw bucket: {bucket}")
        return key
    return value


def partitions_of(keys: Iterable[str], table: LakeTable, bucket: str | None = None) -> PartitionFilter:
    """The narrowest filter covering `keys`: their sources, event dates and paths."""
    from chalicelib.lake_access.query_engine import partition_values

    sources: set[str] = set()
    dates: set[date] = set()
    paths = []
    for key in keys:
        values = partition_values(key, table.prefix)
        if "source" in values:
            sources.add(values["source"])
        if "event_date" in values:
            dates.add(date.fromisoformat(values["event_date"]))
        paths.append(f"s3://{bucket or table.bucket}/{key}")
    return PartitionFilter(sources=tuple(sorted(sources)), event_dates=tuple(sorted(dates)), paths=tuple(sorted(paths)))

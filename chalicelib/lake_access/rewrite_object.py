"""Rewrite one S3 object without the records of given subjects — write only what checks out.

Parquet (lake): rows whose subject column is one of the subjects are removed; schema,
key-value metadata, compression and row-group size are kept. Raw files (JSON Lines, a
JSON page, CSV/TSV, gzip or not): records whose `subject_of(record)` is one of the
subjects are removed, every other byte stays as it was; the records are the ones ingest
read (`raw_files`), found by the format `raw_format_for` gives the key.

Write-then-verify: the new content is built in memory and checked (rows = old − removed,
none of the subjects left, Parquet schema unchanged) before a conditional PUT
(`If-Match` the ETag read) replaces the object with the same metadata, headers and tags.
Any failure before or during the PUT leaves the original as it was; S3 replaces an object
atomically. In a versioned bucket the previous version, which still holds the subjects,
is deleted after the PUT. An object the find named but where no row matched is an error
(`NothingRemoved`), never a silent success.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.lake_access.exceptions import NothingRemoved, RewriteVerificationFailed, UnsupportedObjectFormat
from chalicelib.lake_access.object_store import ObjectStore, StoredObject, s3_uri
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.formats import FileFormat, format_for_extension
from chalicelib.raw_files.rewriter import DROP, KEEP, CannotRewrite, rewrite_mismatch, rewrite_records

SubjectOf = Callable[[Mapping[str, Any]], "str | None"]
PARQUET_MAGIC = b"PAR1"


@dataclass
class ObjectRewrite:
    """What a rewrite did to one object. Keys and counts only, never record content."""

    bucket: str
    key: str
    rows_before: int = 0
    rows_removed: int = 0
    rows_changed: int = 0  # anonymization: rows whose personal fields were replaced
    removed_by_subject: dict[str, int] = field(default_factory=dict)
    rewritten: bool = False
    bytes_before: int = 0
    bytes_after: int = 0
    unparsed: int = 0
    key_collisions: int = 0  # rows whose subject key matched but whose subject id did not
    old_version_deleted: bool = False
    document_ids: list[str] = field(default_factory=list)  # anonymization: documents changed

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "rows_before": self.rows_before,
            "rows_removed": self.rows_removed,
            "rows_changed": self.rows_changed,
            "removed_by_subject": dict(self.removed_by_subject),
            "rewritten": self.rewritten,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "unparsed": self.unparsed,
            "key_collisions": self.key_collisions,
            "old_version_deleted": self.old_version_deleted,
        }


def is_parquet(key: str, content: bytes) -> bool:
    return key.endswith(".parquet") or (content[:4] == PARQUET_MAGIC and content[-4:] == PARQUET_MAGIC)


# -- Parquet ------------------------------------------------------------------------------


@dataclass
class ParquetRewrite:
    content: bytes
    rows_before: int
    rows_after: int
    removed_by_subject: dict[str, int]


def read_parquet(content: bytes) -> tuple[Any, dict[str, Any]]:
    """The table and the write options that reproduce the file's layout."""
    import pyarrow.parquet as pq

    parquet_file = pq.ParquetFile(io.BytesIO(content))
    metadata = parquet_file.metadata
    options: dict[str, Any] = {"version": metadata.format_version}
    if metadata.num_row_groups:
        options["row_group_size"] = max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) or None
        if metadata.num_columns:
            compression = metadata.row_group(0).column(0).compression
            options["compression"] = "none" if compression == "UNCOMPRESSED" else compression.lower()
    return parquet_file.read(), options


def write_parquet(table: Any, options: dict[str, Any]) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, **{k: v for k, v in options.items() if v is not None})
    return buffer.getvalue()


def _subject_mask(table: Any, column: str, subject_ids: Collection[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.column_names:
        raise UnsupportedObjectFormat(f"the Parquet object has no {column!r} column")
    values = table[column]
    value_set = pa.array(sorted(subject_ids), type=values.type)
    return pc.fill_null(pc.is_in(values, value_set=value_set), False)


def erase_from_parquet(content: bytes, subject_column: str, subject_ids: Collection[str]) -> ParquetRewrite:
    """The file without the subjects' rows, and how many rows of each were removed."""
    import pyarrow.compute as pc

    table, options = read_parquet(content)
    mask = _subject_mask(table, subject_column, subject_ids)
    removed = table.filter(mask)
    by_subject = {
        str(entry["values"]): int(entry["counts"]) for entry in pc.value_counts(removed[subject_column]).to_pylist()
    }
    if not removed.num_rows:
        return ParquetRewrite(content, table.num_rows, table.num_rows, {})
    kept = table.filter(pc.invert(mask))
    return ParquetRewrite(write_parquet(kept, options), table.num_rows, kept.num_rows, by_subject)


def verify_parquet(
    original: bytes, rewritten: bytes, expected_rows: int, subject_column: str, subject_ids: Collection[str], where: str
) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    before = pq.ParquetFile(io.BytesIO(original)).schema_arrow
    table = pq.ParquetFile(io.BytesIO(rewritten)).read()
    if not table.schema.equals(before, check_metadata=True):
        raise RewriteVerificationFailed(f"{where}: the rewritten schema or metadata differs")
    if table.num_rows != expected_rows:
        raise RewriteVerificationFailed(f"{where}: expected {expected_rows} rows, found {table.num_rows}")
    left = pc.sum(_subject_mask(table, subject_column, subject_ids).cast("int64")).as_py() or 0
    if left:
        raise RewriteVerificationFailed(f"{where}: {left} row(s) of the subjects remain")


def count_key_matches(content: bytes, key_column: str, subject_ids: Collection[str]) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from chalicelib.normalize.lake import subject_key

    table = pq.read_table(io.BytesIO(content), columns=[key_column])
    keys = pa.array(sorted(subject_key(s) for s in subject_ids), type=table[key_column].type)
    return int(pc.sum(pc.fill_null(pc.is_in(table[key_column], value_set=keys), False).cast("int64")).as_py() or 0)


# -- raw files ----------------------------------------------------------------------------


def raw_format_for(key: str) -> FileFormat:
    """How a raw or quarantine object is read record by record: an `incoming/{source}/` file
    as its source's connector reads it at ingest; a quarantine file (JSON Lines ingest wrote)
    or a file of no known source as its extension says."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[0] == "incoming":
        try:
            return connector_for(parts[1]).file_format
        except UnknownSource:
            pass
    file_format = format_for_extension(key)
    if file_format is None:
        raise UnsupportedObjectFormat(f"no record format for the extension of {key}")
    return file_format


# -- replacing an object ------------------------------------------------------------------


def replace_object(store: ObjectStore, bucket: str, key: str, original: StoredObject, body: bytes) -> bool:
    """PUT `body` in place of `original` (same metadata, headers, tags) if it is unchanged.

    Returns True when a previous version (versioned bucket) was deleted too.
    """
    store.put(bucket, key, body, like=original, if_match=original.etag)
    if original.version_id:
        store.delete_version(bucket, key, original.version_id)
        return True
    return False


# -- erasure ------------------------------------------------------------------------------


def rewrite_without_subjects(
    store: ObjectStore,
    bucket: str,
    key: str,
    subject_ids: Collection[str],
    *,
    subject_of: SubjectOf | None = None,
    subject_column: str = "subject_id",
    raw_format: FileFormat | None = None,
    expect_hits: bool = True,
    found_at: str | None = None,
    key_column: str | None = None,
    dry_run: bool = False,
) -> ObjectRewrite:
    """Remove the subjects' records from one object (Parquet by column, raw by `subject_of`).

    With `expect_hits`, finding none of the subjects raises `NothingRemoved` — unless the
    object was modified after `found_at` (ISO time the find ran): then an earlier attempt
    of the same job rewrote it already, and a retry must not fail on its own work — or
    the find matched by `key_column` and the object's rows only share the subjects' keys.
    """
    subjects = frozenset(subject_ids)
    where = s3_uri(bucket, key)
    original = store.get(bucket, key)
    outcome = ObjectRewrite(bucket, key, bytes_before=len(original.body))
    if is_parquet(key, original.body):
        parquet = erase_from_parquet(original.body, subject_column, subjects)
        outcome.rows_before = parquet.rows_before
        outcome.rows_removed = parquet.rows_before - parquet.rows_after
        outcome.removed_by_subject = parquet.removed_by_subject
        new_body = parquet.content
        if outcome.rows_removed:
            verify_parquet(original.body, new_body, parquet.rows_after, subject_column, subjects, where)
    else:
        if subject_of is None:
            raise UnsupportedObjectFormat(f"{where}: a raw object needs subject_of to match records")
        raw_format = raw_format or raw_format_for(key)
        removed: Counter[str] = Counter()

        def belongs(record: Mapping[str, Any]) -> bool:
            return subject_of(record) in subjects

        def drop_subjects(record: dict[str, Any]) -> Any:
            subject = subject_of(record)
            if subject in subjects:
                removed[subject] += 1
                return DROP
            return KEEP

        try:
            rewrite = rewrite_records(original.body, key, raw_format, drop_subjects)
        except CannotRewrite as error:
            raise UnsupportedObjectFormat(f"{where}: {error}") from error
        outcome.rows_before, outcome.rows_removed = rewrite.records, rewrite.dropped
        outcome.removed_by_subject, outcome.unparsed = dict(removed), rewrite.unparsed
        new_body = rewrite.content
        if rewrite.dropped:
            mismatch = rewrite_mismatch(rewrite, new_body, key, raw_format, belongs)
            if mismatch is not None:
                raise RewriteVerificationFailed(f"{where}: {mismatch}")
    if not outcome.rows_removed:
        rewritten_since_find = bool(
            found_at
            and original.last_modified
            and datetime.fromisoformat(original.last_modified) > datetime.fromisoformat(found_at)
        )
        if key_column and is_parquet(key, original.body):
            outcome.key_collisions = count_key_matches(original.body, key_column, subjects)
        if expect_hits and not rewritten_since_find and not outcome.key_collisions:
            raise NothingRemoved(
                f"{where}: the find named this object, yet no record of the job's {len(subjects)} subject(s) was in it"
            )
        outcome.bytes_after = outcome.bytes_before
        return outcome
    outcome.bytes_after = len(new_body)
    if not dry_run:
        outcome.old_version_deleted = replace_object(store, bucket, key, original, new_body)
        outcome.rewritten = True
    return outcome

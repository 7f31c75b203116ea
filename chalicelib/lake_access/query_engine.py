"""One query-engine interface: Athena in AWS, DuckDB over the same S3 objects locally.

`QueryEngine.run(sql)` returns the rows and the bytes the engine scanned, which is what
Athena bills. Athena in the emulator never runs SQL, so `DuckDbQueryEngine` stands in:

- it lists the lake table's Parquet objects and hands DuckDB an Arrow dataset whose
  fragments carry the Hive partition values from the key and `"$path"`
  (`s3://bucket/key`, as Athena's pseudo-column) as partition expressions, so a
  filter on partition keys or on `"$path"` prunes objects before any is opened;
- DuckDB pushes projection and filters into the Arrow scan, so only the column chunks a
  query needs are fetched (row groups whose statistics exclude the filter are skipped);
- every byte comes through ranged GETs of the object store, and `bytes_scanned` is the
  sum of bytes those GETs returned: Parquet footers plus the column chunks actually read,
  per query, each byte of an object counted once however often it is fetched (and a
  small read such as a footer is served again without a GET), nothing cached between
  queries. That is Athena's own measure: bytes read from S3.

DuckDB and pyarrow are imported only when the local engine is built; pyathena only
when the Athena engine runs a query.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.lake_access.catalog import LakeTable, current_view_sql
from chalicelib.lake_access.exceptions import QueryFailed
from chalicelib.lake_access.object_store import ObjectStore, s3_uri

# what the current view orders versions by (`catalog.current_view_sql`)
VERSION_COLUMNS = frozenset({"document_id", "version_at", "version_id", "ingested_at", "raw_key", "raw_position"})


@dataclass(frozen=True)
class QueryResult:
    rows: list[tuple[Any, ...]]
    columns: list[str]
    bytes_scanned: int
    query_id: str | None = None
    objects_read: int = 0  # local engine only: objects opened

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


class QueryEngine(Protocol):
    def run(self, sql: str) -> QueryResult: ...


class AthenaQueryEngine:
    """Runs SQL in an Athena workgroup through pyathena; `DataScannedInBytes` is the scan.

    `connect` opens the pyathena connection (wiring builds it), called on the first query.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect
        self.connection: Any = None

    def _connect(self) -> Any:
        if self.connection is None:
            self.connection = self.connect()
        return self.connection

    def run(self, sql: str) -> QueryResult:
        from pyathena.error import Error as AthenaError

        cursor = self._connect().cursor()
        try:
            cursor.execute(sql)
            rows = [tuple(row) for row in cursor.fetchall()]
        except AthenaError as error:
            # the SQL holds pseudonymous ids only; the message is Athena's reason
            raise QueryFailed(f"Athena query failed: {error}") from error
        columns = [description[0] for description in cursor.description or []]
        return QueryResult(rows, columns, int(cursor.data_scanned_in_bytes or 0), cursor.query_id)


_CACHED_READ_LIMIT = 1024 * 1024


@dataclass
class _ReadCounter:
    """Distinct bytes fetched per object in one query; small reads (footers) are reused."""

    scanned: int = 0
    requests: int = 0
    objects: set[str] = field(default_factory=set)
    cache: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    covered: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, start: int, data: bytes) -> None:
        with self.lock:
            self.requests += 1
            self.objects.add(path)
            self.scanned += self._cover(path, start, start + len(data))
            if len(data) <= _CACHED_READ_LIMIT:
                self.cache.setdefault(path, []).append((start, data))

    def _cover(self, path: str, start: int, end: int) -> int:
        """Add [start, end) to the object's covered ranges; returns the bytes newly covered."""
        ranges = self.covered.setdefault(path, [])
        overlap = sum(max(0, min(end, e) - max(start, s)) for s, e in ranges)
        ranges.append((start, end))
        merged: list[tuple[int, int]] = []
        for s, e in sorted(ranges):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.covered[path] = merged
        return (end - start) - overlap

    def cached(self, path: str, start: int, end: int) -> bytes | None:
        with self.lock:
            for offset, data in self.cache.get(path, []):
                if offset <= start and end <= offset + len(data):
                    return data[start - offset : end - offset]
        return None


class _RangedObjectFile:
    """A read-only, seekable file over one object; every read is one ranged GET."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, size: int, counter: _ReadCounter) -> None:
        self.store, self.bucket, self.key, self._size = store, bucket, key, size
        self.counter = counter
        self.position = 0
        self.closed = False

    def read(self, count: int | None = -1) -> bytes:
        if count is None or count < 0:
            count = self._size - self.position
        end = min(self._size, self.position + count)
        path = f"{self.bucket}/{self.key}"
        data = self.counter.cached(path, self.position, end)
        if data is None:
            data = self.store.get_range(self.bucket, self.key, self.position, end)
            self.counter.add(path, self.position, data)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self._size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _object_filesystem(store: ObjectStore, sizes: dict[str, int], counter: _ReadCounter) -> Any:
    """A pyarrow filesystem reading `bucket/key` paths through `store`, read-only."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    class Handler(pafs.FileSystemHandler):
        def get_type_name(self) -> str:
            return "gdpr-object-store"

        def normalize_path(self, path: str) -> str:
            return path

        def get_file_info(self, paths: list[str]) -> list[Any]:
            return [
                pafs.FileInfo(p, pafs.FileType.File, size=sizes[p])
                if p in sizes
                else pafs.FileInfo(p, pafs.FileType.NotFound)
                for p in paths
            ]

        def open_input_file(self, path: str) -> Any:
            bucket, _, key = path.partition("/")
            return pa.PythonFile(_RangedObjectFile(store, bucket, key, sizes[path], counter), mode="r")

        open_input_stream = open_input_file

        def __eq__(self, other: object) -> bool:
            return self is other

        def __ne__(self, other: object) -> bool:
            return self is not other

        def _read_only(self, *args: Any) -> Any:
            raise NotImplementedError("the query engine's filesystem is read-only")

        get_file_info_selector = create_dir = delete_dir = delete_dir_contents = _read_only
        delete_root_dir_contents = delete_file = move = copy_file = _read_only
        open_output_stream = open_append_stream = _read_only

    return pafs.PyFileSystem(Handler())


def partition_values(key: str, prefix: str) -> dict[str, str]:
    """Hive partition values of an object key (`.../source=x/event_date=y/file`)."""
    segments = key[len(prefix) :].split("/")[:-1]
    return dict(segment.split("=", 1) for segment in segments if "=" in segment)


class DuckDbQueryEngine:
    """Athena's stand-in: DuckDB over the lake's Parquet objects, read through `store`.

    `schemas` gives a table's data columns (an Arrow schema, by qualified table name);
    without it the schema comes from the first object's footer, as a crawler would.
    """

    def __init__(self, tables: list[LakeTable], store: ObjectStore, schemas: dict[str, Any] | None = None) -> None:
        self.tables = tables
        self.store = store
        self.schemas = dict(schemas or {})

    def run(self, sql: str) -> QueryResult:
        import duckdb

        counter = _ReadCounter()
        connection = duckdb.connect()
        datasets = []
        try:
            for number, table in enumerate(self.tables):
                dataset = self._dataset(table, counter)
                datasets.append(dataset)
                connection.register(f"__lake_{number}", dataset)
                connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.database}"')
                connection.execute(f'CREATE VIEW "{table.database}"."{table.name}" AS SELECT * FROM __lake_{number}')
                names = [name for name in dataset.schema.names if name not in (*table.partition_keys, "$path")]
                if set(names) >= VERSION_COLUMNS:  # a lake table, not a test's own table
                    view = current_view_sql(table, [(name, "") for name in names])
                    connection.execute(f'CREATE VIEW "{table.database}"."{table.current_view}" AS {view}')
            try:
                cursor = connection.execute(sql)
                rows = [tuple(row) for row in cursor.fetchall()]
            except duckdb.Error as error:
                raise QueryFailed(f"local query failed: {type(error).__name__}: {error}") from error
            columns = [description[0] for description in cursor.description or []]
        finally:
            connection.close()
            del datasets
        return QueryResult(rows, columns, counter.scanned, objects_read=len(counter.objects))

    def _dataset(self, table: LakeTable, counter: _ReadCounter) -> Any:
        import pyarrow as pa
        import pyarrow.dataset as ds

        objects = [o for o in self.store.list(table.bucket, table.prefix) if o.key.endswith(".parquet")]
        sizes = {f"{table.bucket}/{o.key}": o.size for o in objects}
        schema = self.schemas.get(table.qualified_name)
        if schema is None:
            schema = self._infer_schema(table, objects, sizes)
            self.schemas[table.qualified_name] = schema
        data_fields = [f for f in schema if f.name not in table.partition_keys and f.name != "$path"]
        full_schema = pa.schema(
            [*data_fields, *(pa.field(k, pa.string()) for k in table.partition_keys), pa.field("$path", pa.string())]
        )
        partitions = []
        for info in objects:
            values = partition_values(info.key, table.prefix)
            expression = ds.field("$path") == s3_uri(table.bucket, info.key)
            for key in table.partition_keys:
                if key in values:
                    expression = expression & (ds.field(key) == values[key])
            partitions.append(expression)
        return ds.FileSystemDataset.from_paths(
            list(sizes),
            schema=full_schema,
            format=ds.ParquetFileFormat(),
            filesystem=_object_filesystem(self.store, sizes, counter),
            partitions=partitions,
        )

    def _infer_schema(self, table: LakeTable, objects: list[Any], sizes: dict[str, int]) -> Any:
        """The data schema from the first object's footer (a crawler's job; not billed)."""
        import pyarrow.parquet as pq

        if not objects:
            from chalicelib.normalize.lake import lake_schema

            return lake_schema()
        path = f"{table.bucket}/{objects[0].key}"
        filesystem = _object_filesystem(self.store, sizes, _ReadCounter())
        with filesystem.open_input_file(path) as handle:
            return pq.read_schema(handle)

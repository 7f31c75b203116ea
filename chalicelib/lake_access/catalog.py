"""The lake as a table: where it lies, how it is partitioned, and its Glue/Athena declaration.

`LakeTable` is what the find queries and the local query engine need to know about the
lake. `glue_table_declaration` and `athena_workgroup_declaration` describe the AWS
objects for the one resource declaration (Terraform and local provisioning derive from
them). The table uses partition projection, so no crawler and no `MSCK REPAIR` is needed,
and a query that filters on the partition keys only lists the partitions it names.

`current_view_sql` is the lake's current view (`lake_current`): one row per document, its
latest version (`normalize/versions.py`), what operations queries and sums read; every
version stays a row of the table. `glue_view_declaration` declares it in Glue the way
Athena stores its own views (a Presto view: the SQL and its columns, base64 in a comment).

The lake's layout, columns and partition projection are `chalicelib/normalize/lake.py`'s;
the erasure needs only `subject_id` (or the compact `subject_key`, see below) and the
lineage column (`raw_key`, the raw object a row came from).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from chalicelib.normalize.lake import LAKE_PREFIX, PARTITION_KEYS, athena_columns, partition_projection


@dataclass(frozen=True)
class LakeTable:
    """The lake's Parquet objects under `s3://{bucket}/{prefix}`, Hive-partitioned."""

    database: str
    name: str
    bucket: str
    prefix: str = LAKE_PREFIX
    partition_keys: tuple[str, ...] = PARTITION_KEYS
    subject_column: str = "subject_id"
    # the raw object each row came from, so one scan also finds the raw files to rewrite
    lineage_column: str | None = "raw_key"
    # a BIGINT column holding `subject_key(subject_id)` (`normalize/lake.py`): 8 bytes a row
    # to scan instead of the 64-character id (~5x more bytes); None = find by the id
    subject_key_column: str | None = "subject_key"
    current_view: str = "lake_current"  # one row per document: its latest version

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def qualified_view(self) -> str:
        return f"{self.database}.{self.current_view}"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def database_name(app: str, stage: str) -> str:
    # Athena wants lower case and underscores in database names
    return f"{app}_{stage}".replace("-", "_").lower()


def lake_table(app: str, stage: str, lake_bucket: str) -> LakeTable:
    return LakeTable(database=database_name(app, stage), name="lake_records", bucket=lake_bucket)


def workgroup_name(app: str, stage: str) -> str:
    return f"{app}-{stage}-gdpr"


def glue_table_declaration(
    table: LakeTable, sources: list[str], columns: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The Glue database and table (Parquet, the lake's columns and partition projection)."""
    projection = partition_projection(sources, location=table.location)
    return {
        "database": table.database,
        "table": table.name,
        "location": table.location,
        "table_type": "EXTERNAL_TABLE",
        "columns": [{"name": name, "type": kind} for name, kind in (columns or athena_columns())],
        "partition_keys": projection["partition_keys"],
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "parameters": {"classification": "parquet", "EXTERNAL": "TRUE", **projection["parameters"]},  # type: ignore[dict-item]
    }


def athena_workgroup_declaration(
    name: str, results_bucket: str, bytes_scanned_cutoff: int = 10 * 1024**4
) -> dict[str, Any]:
    """The Athena workgroup: engine v3, results in the results bucket, a scan cut-off per query.

    The results bucket also holds the erasure jobs' manifests (`gdpr/jobs/`); both hold no
    personal data beyond paths and pseudonymous ids, and a 7-day expiry keeps it small.
    """
    return {
        "name": name,
        "engine_version": "Athena engine version 3",
        "output_location": f"s3://{results_bucket}/athena/",
        "encryption": "SSE_S3",
        "enforce_workgroup_configuration": True,
        "publish_cloudwatch_metrics": True,
        "bytes_scanned_cutoff_per_query": bytes_scanned_cutoff,
        "results_bucket": {"name": results_bucket, "expire_after_days": 7},
    }


# the newest version first; rows written before versions (schema 2) are dated by arrival
_LATEST_FIRST = ", ".join(
    (
        "coalesce(version_at, ingested_at) DESC",
        "version_id DESC NULLS LAST",
        "ingested_at DESC",
        "raw_key DESC",
        "raw_position DESC",
    )
)


def current_view_sql(table: LakeTable, columns: list[tuple[str, str]] | None = None) -> str:
    """The current view's query: each document's latest version, in Athena's and DuckDB's SQL."""
    names = [name for name, _ in (columns or athena_columns())] + list(table.partition_keys)
    selected = ", ".join(f'"{name}"' for name in names)
    return (
        f"SELECT {selected} FROM (SELECT *, row_number() OVER (PARTITION BY document_id ORDER BY {_LATEST_FIRST})"
        f' AS version_rank FROM "{table.database}"."{table.name}") WHERE version_rank = 1'
    )


def presto_type(hive_type: str) -> str:
    """A Glue (Hive) column type as a Presto view column type: `array<struct<a:string>>` ->
    `array(row(a varchar))`."""
    text = hive_type.strip()
    for hive, presto in (("array<", "array("), ("struct<", "row(")):
        if text.startswith(hive) and text.endswith(">"):
            inner = text[len(hive) : -1]
            if hive == "array<":
                return f"{presto}{presto_type(inner)})"
            fields = [part.split(":", 1) for part in _top_level_split(inner)]
            return presto + ", ".join(f"{name} {presto_type(kind)}" for name, kind in fields) + ")"
    scalars = {"string": "varchar", "int": "integer", "timestamp": "timestamp(3)"}
    return scalars.get(text, text)


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    return [*parts, text[start:]]


def glue_view_declaration(table: LakeTable, columns: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The current view as a Glue table of type VIRTUAL_VIEW, encoded as Athena encodes views."""
    data_columns = columns or athena_columns()
    all_columns = data_columns + [(key, "string") for key in table.partition_keys]
    presto = {
        "originalSql": current_view_sql(table, data_columns),
        "catalog": "awsdatacatalog",
        "schema": table.database,
        "columns": [{"name": name, "type": presto_type(kind)} for name, kind in all_columns],
    }
    encoded = base64.b64encode(json.dumps(presto, separators=(",", ":")).encode()).decode()
    return {
        "database": table.database,
        "table": table.current_view,
        "table_type": "VIRTUAL_VIEW",
        "view_original_text": f"/* Presto View: {encoded} */",
        "view_expanded_text": "/* Presto View */",
        "parameters": {"presto_view": "true", "comment": "Presto View"},
        "columns": [{"name": name, "type": kind} for name, kind in all_columns],
    }

"""The lake: valid records as Parquet rows, and where each object lies.

Layout::

    lake/source={source}/event_date={yyyy-mm-dd}/part-{chunk_id}.parquet

Why these partitions, for the three query shapes we run:

* Anonymization by event date ("anonymize everything N days after its event") selects
  whole `event_date` partitions: the job lists and rewrites only those prefixes, and Athena
  prunes to them. `event_date` is the event's start date where the record has an event,
  else the interaction's date (leads and merchandise orders have no event), in UTC.
* Operations by source and day filter on `source` (a partition) and `ingest_date` (a
  column). Ingest date is deliberately *not* a third partition: with partition projection
  Athena enumerates the cross product of projected values, and event date x ingest date
  x source grows without bound (an unfiltered query would plan millions of partitions).
  Where the records came from and when is also the State Keeper's job, which answers by key.
* Erasure by subject id cannot be a partition (one prefix per person would mean millions
  of tiny objects). Instead every row carries `subject_key`, 8 bytes derived from the
  subject id (`subject_key()`), and each object's rows are sorted by it, so the Parquet
  min/max statistics of its row groups let Athena skip most of them; the erasure query scans
  the `subject_key` and `raw_key` columns only, about a fifth of the bytes of the 64-character
  `subject_id`. `raw_key` (the lineage) names the raw objects to rewrite too.

Both partition keys are projected (no crawler, no `MSCK REPAIR`): `source` as an enum of the
registered sources, `event_date` as a daily date range. Partition values are not repeated
inside the files (Glue forbids a column that is also a partition key).

Idempotency: the object key is a function of (source, event date, chunk id) only, and the
chunk id is a function of the raw file's content hash and the chunk's number; writing the
same chunk again overwrites the same objects. The same record arriving in another file is
the same `document_id`: every version of it is a row (`version_at`, `version_id`, see
`versions.py`), and the catalog's current view (`lake_access/catalog.py`) keeps one row per
document, the latest version, for the queries and sums operations run. The event date range
projects two years ahead: tickets sell that early.

Schema versions (`schema_version`, per row): columns are only ever added, so every object
is read with the current schema and a column an older object lacks reads as null (Parquet
and Athena match columns by name). Version 2 added `answers`, the custom questions of lead
forms and registrations (`list<struct<key, label, values: list<string>>>`, null for none):
personal data, nulled by a retention policy naming `answers`, gone with the row on erasure.
Version 3 added `version_at` and `version_id` (older rows read null; the current view
takes their `ingested_at` for the time).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pyarrow as pa

from chalicelib.normalize.exceptions import InvalidLakePartition
from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.normalize.versions import version_at, version_id

LAKE_PREFIX = "lake/"
PARTITION_KEYS = ("source", "event_date")
AMOUNT_TYPE = pa.decimal128(18, 4)
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_SAFE_PART = re.compile(r"^[A-Za-z0-9_\-]+$")
ANSWERS_TYPE = pa.list_(
    pa.struct([pa.field("key", pa.string()), pa.field("label", pa.string()), pa.field("values", pa.list_(pa.string()))])
)

# (name, Arrow type, Athena type); the partition keys are not in the files
LAKE_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("document_id", pa.string(), "string"),
    ("subject_id", pa.string(), "string"),
    ("subject_key", pa.int64(), "bigint"),
    ("source_record_id", pa.string(), "string"),
    ("email", pa.string(), "string"),
    ("first_name", pa.string(), "string"),
    ("last_name", pa.string(), "string"),
    ("phone", pa.string(), "string"),
    ("country", pa.string(), "string"),
    ("language", pa.string(), "string"),
    ("consent_granted", pa.bool_(), "boolean"),
    ("consent_at", _TIMESTAMP, "timestamp"),
    ("consent_source", pa.string(), "string"),
    ("interaction_type", pa.string(), "string"),
    ("occurred_at", _TIMESTAMP, "timestamp"),
    ("amount", AMOUNT_TYPE, "decimal(18,4)"),
    ("currency", pa.string(), "string"),
    ("order_id", pa.string(), "string"),
    ("item", pa.string(), "string"),
    ("quantity", pa.int64(), "bigint"),
    ("event_id", pa.string(), "string"),
    ("event_name", pa.string(), "string"),
    ("event_start", _TIMESTAMP, "timestamp"),
    ("event_venue", pa.string(), "string"),
    ("event_country", pa.string(), "string"),
    ("answers", ANSWERS_TYPE, "array<struct<key:string,label:string,values:array<string>>>"),
    ("raw_key", pa.string(), "string"),
    ("raw_position", pa.int64(), "bigint"),
    ("ingested_at", _TIMESTAMP, "timestamp"),
    ("ingest_date", pa.string(), "string"),
    ("schema_version", pa.int32(), "int"),
    ("version_at", _TIMESTAMP, "timestamp"),
    ("version_id", pa.string(), "string"),
)
_PARTITION_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("source", pa.string(), "string"),
    ("event_date", pa.string(), "string"),
)


_NO_KEY = -(2**63) - 1  # sorts rows without a subject first


def subject_key(subject_id: str) -> int:
    """The lake's compact subject key: the first 8 bytes of SHA-256(subject id), signed.

    Cheap to scan and to compare; not unique in theory (a 64-bit key, so a collision is
    ~1e-9 likely per job on a billion subjects), so it only finds candidate objects and
    the rewrite matches rows by the full subject id.
    """
    return int.from_bytes(hashlib.sha256(subject_id.encode()).digest()[:8], "big", signed=True)


def lake_schema(include_partition_columns: bool = False) -> pa.Schema:
    columns = LAKE_COLUMNS + (_PARTITION_COLUMNS if include_partition_columns else ())
    return pa.schema([pa.field(name, kind) for name, kind, _ in columns])


def athena_columns() -> list[tuple[str, str]]:
    """(name, Athena type) of the data columns, for the Glue table declaration."""
    return [(name, athena) for name, _, athena in LAKE_COLUMNS]


def partition_projection(
    sources: Sequence[str], first_event_date: str = "2015-01-01", location: str = "s3://BUCKET/lake/"
) -> dict[str, object]:
    """The partition keys with their Athena projection settings, for the Glue table."""
    return {
        "partition_keys": [{"name": "source", "type": "string"}, {"name": "event_date", "type": "string"}],
        "parameters": {
            "projection.enabled": "true",
            "projection.source.type": "enum",
            "projection.source.values": ",".join(sources),
            "projection.event_date.type": "date",
            "projection.event_date.format": "yyyy-MM-dd",
            "projection.event_date.range": f"{first_event_date},NOW+2YEARS",
            "projection.event_date.interval": "1",
            "projection.event_date.interval.unit": "DAYS",
            "storage.location.template": location.rstrip("/") + "/source=${source}/event_date=${event_date}/",
        },
    }


def event_date(record: NormalizedRecord) -> date:
    """The partition date: the event's start (UTC) where known, else the interaction's date."""
    if record.event is not None and record.event.start is not None:
        return record.event.start.date()
    return record.interaction.occurred_at.date()


def lake_key(source: str, event_day: date, chunk_id: str) -> str:
    for part in (source, chunk_id):
        if not _SAFE_PART.match(part):
            raise InvalidLakePartition("source and chunk id may hold only letters, digits, '_' and '-'")
    return f"{LAKE_PREFIX}source={source}/event_date={event_day.isoformat()}/part-{chunk_id}.parquet"


def lake_row(record: NormalizedRecord, include_partition_columns: bool = False) -> dict[str, object]:
    contact, interaction, event, lineage = record.contact, record.interaction, record.event, record.lineage
    consent = contact.marketing_consent
    amount = interaction.amount.quantize(Decimal("0.0001")) if interaction.amount is not None else None
    row: dict[str, object] = {
        "document_id": record.document_id,
        "subject_id": record.subject_id,
        "subject_key": subject_key(record.subject_id) if record.subject_id else None,
        "source_record_id": lineage.source_record_id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "country": contact.country,
        "language": contact.language,
        "consent_granted": consent.granted if consent else None,
        "consent_at": consent.at if consent else None,
        "consent_source": consent.source if consent else None,
        "interaction_type": interaction.type.value,
        "occurred_at": interaction.occurred_at,
        "amount": amount,
        "currency": interaction.currency,
        "order_id": interaction.order_id,
        "item": interaction.item,
        "quantity": interaction.quantity,
        "event_id": event.id if event else None,
        "event_name": event.name if event else None,
        "event_start": event.start if event else None,
        "event_venue": event.venue if event else None,
        "event_country": event.country if event else None,
        "answers": [answer.model_dump() for answer in record.answers] or None,
        "raw_key": lineage.raw_key,
        "raw_position": lineage.position,
        "ingested_at": lineage.ingested_at,
        "ingest_date": lineage.ingested_at.date().isoformat(),
        "schema_version": record.schema_version,
        "version_at": version_at(record),
        "version_id": version_id(record),
    }
    if include_partition_columns:
        row["source"] = lineage.source
        row["event_date"] = event_date(record).isoformat()
    return row


def to_arrow_table(records: Iterable[NormalizedRecord], include_partition_columns: bool = False) -> pa.Table:
    """The records as one Arrow table, sorted by subject key (then document id) for pruning."""
    ordered = sorted(records, key=lambda r: (subject_key(r.subject_id) if r.subject_id else _NO_KEY, r.document_id))
    return pa.Table.from_pylist(
        [lake_row(r, include_partition_columns) for r in ordered], schema=lake_schema(include_partition_columns)
    )


@dataclass(frozen=True)
class LakeObject:
    key: str
    table: pa.Table


def lake_objects(records: Iterable[NormalizedRecord], chunk_id: str) -> list[LakeObject]:
    """One object per (source, event date) partition of a chunk's valid records."""
    groups: dict[tuple[str, date], list[NormalizedRecord]] = {}
    for record in records:
        groups.setdefault((record.lineage.source, event_date(record)), []).append(record)
    return [
        LakeObject(key=lake_key(source, day, chunk_id), table=to_arrow_table(group))
        for (source, day), group in sorted(groups.items())
    ]

"""Sample files put into the stage's buckets and State Keeper as ingest leaves them.

The GDPR tests need the lake, raw and quarantine objects and the State Keeper's documents
that ingest writes, without depending on the pipeline's timing: this helper reads a
sample with the real reader and connectors, normalizes it with the stage's subject key,
and writes the lake objects (`lake.lake_objects`), the quarantined raw records and the
State Keeper's NORMALIZED/INVALID changes itself.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from chalicelib.ingest.uploads import file_id_for, raw_key
from chalicelib.normalize.lake import lake_objects
from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import NormalizedRecord, Rejected
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import RawRecord
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.reporter import encode_changes

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


@dataclass
class Ingested:
    raw_key: str
    valid: list[NormalizedRecord] = field(default_factory=list)
    rejected: list[tuple[Rejected, dict[str, Any]]] = field(default_factory=list)
    lake_keys: list[str] = field(default_factory=list)
    quarantine_key: str | None = None


def ingest_sample(
    relative: str, source: str, s3: Any, buckets: dict[str, str], subject_key: bytes, state_keeper: Any
) -> Ingested:
    content = (SAMPLES / relative).read_bytes()
    file_id = file_id_for(content)
    key = raw_key(source, file_id, "".join(Path(relative).suffixes))
    s3.put_object(Bucket=buckets["raw"], Key=key, Body=content)
    ingested = Ingested(key)
    now = datetime.now(UTC)
    connector = connector_for(source)
    for item in read_file(io.BytesIO(content), key, connector.file_format, record_id=connector.record_id):
        if not isinstance(item, RawRecord):
            continue
        outcome = normalize(source, item, key, now, subject_key)
        if isinstance(outcome, Rejected):
            ingested.rejected.append((outcome, item.data))
        else:
            ingested.valid.append(outcome)
    for lake_object in lake_objects(ingested.valid, f"{file_id}-0"):
        buffer = io.BytesIO()
        pq.write_table(lake_object.table, buffer, compression="zstd")
        s3.put_object(Bucket=buckets["lake"], Key=lake_object.key, Body=buffer.getvalue())
        ingested.lake_keys.append(lake_object.key)
    if ingested.rejected:
        ingested.quarantine_key = f"quarantine/{source}/{file_id}/{file_id}-0.jsonl"
        s3.put_object(
            Bucket=buckets["quarantine"],
            Key=ingested.quarantine_key,
            Body="".join(json.dumps(data) + "\n" for _, data in ingested.rejected).encode(),
        )
    changes = [
        StateChange(
            document_id=r.document_id,
            state=State.NORMALIZED,
            at=now,
            component="normalize",
            source=source,
            subject_id=r.subject_id,
            file_id=file_id,
        )
        for r in ingested.valid
    ]
    changes += [
        StateChange(
            document_id=r.document_id,
            state=State.INVALID,
            at=now,
            component="normalize",
            source=source,
            file_id=file_id,
            reason_code=r.reasons[0].code.upper(),
        )
        for r, _ in ingested.rejected
    ]
    state_keeper.handle([{"messageId": "m-1", "body": encode_changes(changes)}])
    return ingested

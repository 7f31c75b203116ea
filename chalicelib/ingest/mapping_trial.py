"""Try a mapping on a sample file before it is declared: what each record would become.

`POST /sources/{name}/mapping/try` reads the sample as the mapping says and normalizes every
record with it, storing nothing: per record the normalized result or the reasons, and the
columns the mapping's record id needs that the sample's header lacks. The answer goes to the
admin who sent the sample (it holds the sample's own values); nothing of it is logged or kept.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime
from typing import Any

from chalicelib.normalize.mappings import Mapping, mapped_connector
from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem

MAX_SAMPLE_RECORDS = 1000


def try_mapping(mapping: Mapping, sample: bytes) -> dict[str, Any]:
    connector = mapped_connector(mapping)
    key = f"incoming/{mapping.source}/2000/01/01/sample.{mapping.extensions[0]}"
    key_for_ids = secrets.token_bytes(32)  # subject ids of a trial mean nothing: a throwaway key
    now = datetime.now(UTC)
    records: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    columns: set[str] = set()
    for item in read_file(io.BytesIO(sample), key, connector.file_format, DEFAULT_LIMITS, connector.record_id):
        if isinstance(item, FileProblem):
            problems.append({"code": str(item.code), "message": item.message, "position": item.position})
            continue
        if len(records) == MAX_SAMPLE_RECORDS:
            break
        columns.update(item.data)
        outcome = normalize(mapping.source, item, key, now, key_for_ids, connector=connector)
        if isinstance(outcome, NormalizedRecord):
            shown = outcome.model_dump(mode="json", exclude={"subject_id", "lineage"})
            records.append({"position": item.position, "valid": True, "record": shown})
        else:
            reasons = [{"field": r.field, "code": r.code} for r in outcome.reasons]
            records.append({"position": item.position, "valid": False, "reasons": reasons})
    missing = sorted(set(mapping.required_columns()) - columns) if mapping.format == "delimited" and records else []
    return {
        "source": mapping.source,
        "records": records,
        "valid": sum(1 for r in records if r["valid"]),
        "invalid": sum(1 for r in records if not r["valid"]),
        "missing_columns": missing,
        "file_problems": problems,
    }

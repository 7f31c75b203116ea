"""Benchmark: records per second per core of the normalization core, against a reference floor.

The core, per record, is what the ingest path does: read the raw platform file (an
in-memory file through `read_file`: JSON pages, CSV/TSV, JSON Lines, one webhook per file),
map it with its connector, validate and normalize every field, pseudonymize (subject id),
build the `NormalizedRecord` (or `Rejected`) and serialize it as it travels on the queue
(`model_dump_json`).

The floor, in the same run on the same records: for each record the core normalized,
`NormalizedRecord.model_validate_json` of its normalized JSON, the HMAC-SHA256 of its
email, and `orjson.dumps` of the validated record (`model_dump()`, decimals as strings).
That is the least any pydantic pipeline with this schema does per record.

Records: every connector, `--records` per connector (default 3,000, so 21,000 records),
made by `bench.fake_people` — fake people who recur as real customers do (group orders,
later check-ins, returning buyers; leads mostly once): see that module for the assumption.
The share of records whose email the process has already seen is printed; it is what the
email and phone caches live on.

Each round starts cold: every cache of `field_normalizers` is cleared first, so a round
never profits from the previous one. Rounds alternate core and floor; the best round of
each counts (the machine is shared). Time is CPU time of this single-threaded process
(`time.process_time`), hence "per core".

    .venv/bin/python bench/normalize.py
    .venv/bin/python bench/normalize.py --records 1000 --rounds 5

The last line is one JSON object: {"records_per_s", "floor_records_per_s", "ratio_to_floor"}.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fake_people import RawFile, platform_files
from chalicelib.normalize import field_normalizers
from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import RawRecord

SUBJECT_KEY = b"bench-subject-key-of-32-bytes!!!"
INGESTED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def core(files: list[RawFile]) -> tuple[list[bytes], Counter[str]]:
    """Read, normalize and serialize every record; returns the valid records' JSON."""
    valid: list[bytes] = []
    counts: Counter[str] = Counter()
    for raw_file in files:
        connector = connector_for(raw_file.source)
        items = read_file(
            io.BytesIO(raw_file.content), raw_file.key, connector.file_format, record_id=connector.record_id
        )
        for item in items:
            if not isinstance(item, RawRecord):
                counts["file_problems"] += 1
                continue
            outcome = normalize(raw_file.source, item, raw_file.key, INGESTED_AT, SUBJECT_KEY)
            body = outcome.model_dump_json()
            if isinstance(outcome, NormalizedRecord):
                valid.append(body.encode("utf-8"))
                counts["valid"] += 1
            else:
                counts["rejected"] += 1
    return valid, counts


def floor(normalized: list[bytes]) -> None:
    for body in normalized:
        record = NormalizedRecord.model_validate_json(body)
        email = record.contact.email
        if email:
            hmac.new(SUBJECT_KEY, email.encode("utf-8"), hashlib.sha256).hexdigest()
        orjson.dumps(record.model_dump(), default=str)


def repetition(normalized: list[bytes]) -> dict[str, float]:
    emails = [json.loads(body)["contact"]["email"] for body in normalized]
    with_email = [email for email in emails if email]
    distinct = len(set(with_email))
    return {
        "records_per_distinct_email": round(len(with_email) / max(distinct, 1), 2),
        "share_of_records_with_a_seen_email": round(1 - distinct / max(len(with_email), 1), 3),
    }


def cache_report() -> dict[str, float]:
    report = {}
    for name, info in field_normalizers.cache_info().items():
        report[f"{name}_cache_hit_rate"] = round(info.hits / max(info.hits + info.misses, 1), 3)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3000, help="records per connector")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    files = platform_files(args.records)
    field_normalizers.clear_caches()
    normalized, counts = core(files)  # warms imports and lazily loaded metadata, then discarded
    total = counts["valid"] + counts["rejected"]
    print(json.dumps({"files": len(files), "records": total, **counts, **repetition(normalized)}))

    best_core = best_floor = float("inf")
    for _ in range(args.rounds):
        field_normalizers.clear_caches()
        started = time.process_time()
        core(files)
        best_core = min(best_core, time.process_time() - started)
        caches = cache_report()
        started = time.process_time()
        floor(normalized)
        best_floor = min(best_floor, time.process_time() - started)
    records_per_s = total / best_core
    floor_records_per_s = len(normalized) / best_floor
    print(
        json.dumps(
            {
                "core_us_per_record": round(1e6 / records_per_s, 1),
                "floor_us_per_record": round(1e6 / floor_records_per_s, 1),
                **caches,
            }
        )
    )
    print(
        json.dumps(
            {
                "records_per_s": round(records_per_s),
                "floor_records_per_s": round(floor_records_per_s),
                "ratio_to_floor": round(floor_records_per_s / records_per_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

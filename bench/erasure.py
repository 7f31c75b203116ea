"""Benchmark: one erasure job of 100 subjects over a generated lake of at least 1 GiB.

Runs on the embedded emulator (moto in this process): generates realistic lake rows
(contact + interaction + event, ~20 columns, subjects with several interactions),
writes them as Parquet objects under Hive partitions, then runs the erasure workflow's
tasks in the state machine's order (find → rewrite chunks → forget → erase in SAP → verify → report)
with DuckDB standing in for Athena. Prints what the job measured and the AWS cost per
request modelled for a 1 TB lake, extrapolated from the measured bytes-scanned fraction.

    .venv/bin/python -m bench.erasure [--gib 1.0] [--subjects 100] [--find-by key|id]

The last line is one JSON object:
{"lake_bytes", "bytes_scanned", "objects_rewritten", "seconds", "usd_per_request_at_1tb"}.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "STAGE": "local",
    }
)
os.environ.pop("AWS_PROFILE", None)

SOURCES = ("eventbrite", "facebook-leads", "google-ads", "amazon", "ticketshop-de", "ticketshop-fr")
FIRST = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Lea",
    "Max",
    "Nora",
    "Oskar",
    "Paula",
    "Quentin",
    "Rosa",
    "Sami",
    "Tilda",
    "Umut",
    "Vera",
    "Wim",
    "Xenia",
    "Yannick",
    "Zoe",
)
LAST = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Dupont",
    "Martin",
    "Bernard",
    "Rossi",
    "Russo",
    "García",
    "López",
    "Novak",
    "Kowalski",
    "Jansen",
)
CITIES = ("Berlin", "München", "Hamburg", "Köln", "Paris", "Lyon", "Wien", "Zürich", "Milano", "Madrid", "Warszawa")
TICKETS = ("standard", "vip", "early-bird", "student", "group", "backstage", "day-pass", "weekend-pass")
CHANNELS = ("web", "app", "box-office", "partner", "lead-form")
INTERACTIONS = ("TICKET_PURCHASE", "LEAD", "CHECK_IN", "NEWSLETTER_OPT_IN", "REFUND")
KEY = b"bench-subject-key"


def subject_pool(size: int, rng: random.Random) -> Any:
    """The people: pseudonymous id, email, names, phone, birth date, address."""
    import pyarrow as pa

    from chalicelib.normalize.lake import subject_key

    emails = [f"p{n}.{rng.randrange(10**6)}@example.{rng.choice(('com', 'de', 'fr'))}" for n in range(size)]
    ids = [hmac.new(KEY, e.encode(), hashlib.sha256).hexdigest() for e in emails]
    return pa.table(
        {
            "subject_id": ids,
            "subject_key": pa.array([subject_key(i) for i in ids], type=pa.int64()),
            "email": emails,
            "first_name": [rng.choice(FIRST) for _ in range(size)],
            "last_name": [rng.choice(LAST) for _ in range(size)],
            "phone": [f"+49{rng.randrange(10**9, 10**10)}" for _ in range(size)],
            "birth_date": [
                f"{rng.randrange(1940, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                for _ in range(size)
            ],
            "street": [f"{rng.choice(LAST)}straße {rng.randrange(1, 200)}" for _ in range(size)],
            "postal_code": [f"{rng.randrange(10000, 99999)}" for _ in range(size)],
            "city": [rng.choice(CITIES) for _ in range(size)],
        }
    )


def lake_object(pool: Any, rows: int, source: str, event_date: str, first_row: int, rng: random.Random) -> bytes:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    picks = pa.array([rng.randrange(pool.num_rows) for _ in range(rows)], type=pa.int64())
    people = pool.take(picks)
    numbers = pa.array(range(first_row, first_row + rows), type=pa.int64()).cast(pa.string())

    def choose(values: tuple[str, ...]) -> Any:
        return pc.take(pa.array(values), pa.array([rng.randrange(len(values)) for _ in range(rows)]))

    events = tuple(f"{source}-{event_date}-{n}" for n in range(20))
    table = pa.table(
        {
            "document_id": pc.binary_join_element_wise(f"{source}-", numbers, ""),
            "subject_id": people["subject_id"],
            "subject_key": people["subject_key"],
            "email": people["email"],
            "first_name": people["first_name"],
            "last_name": people["last_name"],
            "phone": people["phone"],
            "birth_date": people["birth_date"],
            "street": people["street"],
            "postal_code": people["postal_code"],
            "city": people["city"],
            "country": choose(("DE", "FR", "AT", "CH", "IT", "ES", "PL")),
            "event_id": choose(events),
            "event_name": choose(tuple(f"Festival {e[-6:]}" for e in events)),
            "ticket_type": choose(TICKETS),
            "channel": choose(CHANNELS),
            "interaction_type": choose(INTERACTIONS),
            "interaction_at": pa.array(
                [rng.randrange(1_600_000_000, 1_750_000_000) * 1000 for _ in range(rows)],
                type=pa.timestamp("ms", tz="UTC"),
            ),
            "price": pa.array([round(rng.uniform(9, 450), 2) for _ in range(rows)]),
            "currency": choose(("EUR", "CHF", "PLN")),
            "marketing_consent": pa.array([rng.random() < 0.6 for _ in range(rows)]),
            "raw_key": choose(
                tuple(f"incoming/{source}/{event_date.replace('-', '/')}/f{n:04d}.jsonl" for n in range(8))
            ),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=128 * 1024)
    return buffer.getvalue()


def build_lake(
    s3: Any, bucket: str, target_bytes: int, rows_per_object: int, rng: random.Random
) -> tuple[int, int, Any]:
    """Write objects until the lake holds `target_bytes`; returns (bytes, objects, pool)."""
    pool = subject_pool(max(10_000, target_bytes // 400), rng)
    written = objects = first_row = 0
    day = 0
    while written < target_bytes:
        source = SOURCES[objects % len(SOURCES)]
        event_date = f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}"
        body = lake_object(pool, rows_per_object, source, event_date, first_row, rng)
        s3.put_object(
            Bucket=bucket,
            Key=f"lake/source={source}/event_date={event_date}/part-{objects:05d}.parquet",
            Body=body,
            ContentType="application/vnd.apache.parquet",
        )
        written += len(body)
        objects += 1
        first_row += rows_per_object
        if objects % len(SOURCES) == 0:
            day += 1
        print(f"  lake: {objects} objects, {written / 2**30:.2f} GiB", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return written, objects, pool


def extrapolate_to(lake_bytes_target: int, measured: dict[str, Any], subjects: int) -> float:
    """USD per request for the same job on a lake of `lake_bytes_target` bytes.

    Scales with the lake: the find's scan (measured fraction of the lake). Scales with the
    subjects' rows, not the lake: the objects to rewrite (at most one per removed row) and
    the verify scan (restricted to those objects). Object size stays as measured.
    """
    from chalicelib.erasure.cost import JobUsage, cost_per_request, erasure_transitions

    scale_objects = lake_bytes_target / measured["object_bytes"]
    objects_hit = min(measured["rows_removed"], scale_objects)
    verify_per_object = measured["verify_bytes"] / max(1, measured["objects_rewritten"])
    rewrite_seconds_per_object = measured["rewrite_seconds"] / max(1, measured["objects_rewritten"])
    chunks = math.ceil(objects_hit / 50)
    usage = JobUsage(
        query_bytes=[int(lake_bytes_target * measured["find_fraction"]), int(objects_hit * verify_per_object)],
        s3_get=int(objects_hit * 2) + chunks + 10,
        s3_put=int(objects_hit) + chunks + 5,
        s3_list=2,
        transitions=erasure_transitions(chunks),
        lambda_invocations=5 + chunks,
        # rewrites at 2 GB; the find and verify Lambdas wait on Athena (~2 min each at 0.5 GB)
        lambda_gb_seconds=2 * objects_hit * rewrite_seconds_per_object + 2 * 120 * 0.5,
        dynamodb_writes=4 * subjects,
        dynamodb_reads=2 * subjects,
        mails=1,
    )
    return cost_per_request(usage, subjects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--rows-per-object", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--find-by",
        choices=("key", "id"),
        default="key",
        help="find by the compact subject_key column (default) or by the 64-character subject_id",
    )
    args = parser.parse_args()

    import boto3

    from chalicelib.erasure.forget_subjects import InMemorySubjectTraces
    from chalicelib.erasure.requests import DynamoErasureRequests, batch_pending_requests
    from chalicelib.erasure.workflow import ErasureWorkflow
    from chalicelib.lake_access.catalog import lake_table
    from chalicelib.lake_access.object_store import S3ObjectStore
    from chalicelib.lake_access.query_engine import DuckDbQueryEngine
    from chalicelib.mail import InMemoryMailer
    from chalicelib.resources import for_stage
    from chalicelib.sap.erasure import InMemorySapContacts
    from chalicelib.subjects.tombstones import InMemoryTombstones
    from devstack.emulator import Emulator
    from devstack.provision import provision

    emulator = Emulator()
    emulator.start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    try:
        session = boto3.Session(region_name="eu-central-1")
        resources = for_stage("local")
        provision(resources, session)
        s3 = session.client("s3")
        work = resources.bucket("athena-results").name  # declared and provisioned with the stage
        lake_bucket = resources.bucket("lake").name
        rng = random.Random(args.seed)

        print(f"building a lake of {args.gib} GiB ...", file=sys.stderr)
        lake_bytes, objects, pool = build_lake(s3, lake_bucket, int(args.gib * 2**30), args.rows_per_object, rng)
        table = lake_table("data-engine", "local", lake_bucket)
        table = type(table)(
            **{
                **table.__dict__,
                "lineage_column": None,  # the bench has no raw files
                "subject_key_column": "subject_key" if args.find_by == "key" else None,
            }
        )
        requests = DynamoErasureRequests(resources.table("config").name, session.client("dynamodb"))
        subjects = rng.sample(pool["subject_id"].to_pylist(), args.subjects)
        for subject in subjects:
            requests.create(subject)
        job = batch_pending_requests(requests, max_requests=args.subjects)
        assert job is not None
        sap_contacts = InMemorySapContacts(contacts={subject: {"EmailAddress": "x"} for subject in subjects})
        workflow = ErasureWorkflow(
            requests=requests,
            engine=DuckDbQueryEngine([table], S3ObjectStore(s3)),
            object_store=lambda: S3ObjectStore(s3),
            table=table,
            raw_bucket=resources.bucket("raw").name,
            quarantine_bucket=resources.bucket("quarantine").name,
            work_bucket=work,
            subject_of_for=lambda bucket, key: lambda record: None,
            traces=InMemorySubjectTraces(),
            mailer=InMemoryMailer(),
            tombstones=InMemoryTombstones(),
            # every erased subject's contact is in SAP (the stand-in's work is not AWS cost); one SAP
            # for the whole job, so the verify reads back what the erasure wrote
            sap=lambda: sap_contacts,
        )

        print(f"erasing {args.subjects} subjects ...", file=sys.stderr)
        started = time.monotonic()
        state = workflow.find({"job_id": job.job_id})
        found_at = time.monotonic()
        state["rewrites"] = [workflow.rewrite({"job_id": job.job_id, "round": 1, "chunk": c}) for c in state["chunks"]]
        rewritten_at = time.monotonic()
        state = workflow.verify(workflow.erase_in_sap(workflow.forget(state)))
        report = workflow.report(state if state["verify"]["clean"] else {**state, "failed": True})
        seconds = time.monotonic() - started
        summary = requests.get_job(job.job_id).report or {}
        find_bytes, verify_bytes = state["found"]["bytes_scanned"], state["verify"]["bytes_scanned"]
        measured = {
            "find_fraction": find_bytes / lake_bytes,
            "verify_bytes": verify_bytes,
            "objects_rewritten": summary["objects_rewritten"],
            "rows_removed": summary["rows_removed"],
            "object_bytes": lake_bytes / objects,
            "rewrite_seconds": rewritten_at - found_at,
        }
        usd_1tb = extrapolate_to(2**40, measured, args.subjects)

        print(f"lake: {lake_bytes:,} bytes in {objects} objects; find by {table.subject_key_column or 'subject_id'}")
        print(f"job {job.job_id}: {report['status']}, verification clean: {state['verify']['clean']}")
        print(
            f"bytes scanned per job: {find_bytes + verify_bytes:,} (find {find_bytes:,} = "
            f"{measured['find_fraction']:.2%} of the lake; verify {verify_bytes:,})"
        )
        print(f"objects rewritten: {summary['objects_rewritten']}, rows removed: {summary['rows_removed']}")
        print(f"wall time: {seconds:.1f} s (find {found_at - started:.1f} s, rewrite {rewritten_at - found_at:.1f} s)")
        print(f"cost per request measured at this size: ${summary['cost_usd_per_request']:.6f}")
        print(f"modelled cost per request at 1 TB: ${usd_1tb:.6f} (target <= $0.01)")
        print(
            json.dumps(
                {
                    "lake_bytes": lake_bytes,
                    "bytes_scanned": find_bytes + verify_bytes,
                    "objects_rewritten": summary["objects_rewritten"],
                    "seconds": round(seconds, 1),
                    "usd_per_request_at_1tb": round(usd_1tb, 6),
                }
            )
        )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

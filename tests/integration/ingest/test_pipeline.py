"""Ingest on the emulator: raw object → chunks → normalize → lake, quarantine, outbox, State Keeper."""

from __future__ import annotations

import io
import json

import boto3
import pyarrow.parquet as pq
import pytest

from chalicelib import wiring
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.ingest.split_file import FileSplitter
from chalicelib.ingest.uploads import file_id_for, raw_key
from tests.integration.ingest.conftest import RESOURCES, SAMPLES, Pipeline


def _objects(session: boto3.Session, bucket: str) -> dict[str, bytes]:
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def test_a_ticketshop_export_reaches_the_lake_and_the_state_keeper(pipeline: Pipeline) -> None:
    content = (SAMPLES / "ticketshop" / "export.csv").read_bytes()
    key = pipeline.ingest("ticketshop", "export.csv", content)
    file_id = file_id_for(content)

    outcome = wiring.file_outcomes().get(file_id)
    assert outcome is not None and outcome.raw_key == key and outcome.source == "ticketshop"
    rows = content.decode("utf-8").strip().count("\n")
    assert outcome.records == rows and outcome.chunks == 1

    lake = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    assert lake and all(k.startswith("lake/source=ticketshop/event_date=") and k.endswith(".parquet") for k in lake)
    lake_rows = sum(pq.read_table(io.BytesIO(body)).num_rows for body in lake.values())

    states = pipeline.queries.file_outcome(file_id)
    assert states["documents"] == rows and states["unknown"] == 0
    assert states["states"].get("QUEUED_FOR_SAP", 0) == lake_rows == len(pipeline.outbox.records)
    assert lake_rows + states["states"].get("INVALID", 0) == rows


def test_rejected_records_go_to_quarantine_with_reasons_and_the_rest_carry_on(pipeline: Pipeline) -> None:
    good = {
        "platform": "shop",
        "record_id": "r-1",
        "contact": {"email": "ada@example.org", "first_name": "Ada"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
    }
    bad = {**good, "record_id": "r-2", "contact": {"email": "not an email"}}
    content = "\n".join(json.dumps(r) for r in (good, bad)).encode()
    pipeline.ingest("canonical", "x.jsonl", content)

    quarantine = _objects(pipeline.session, RESOURCES.bucket("quarantine").name)
    records = {k: v for k, v in quarantine.items() if k.startswith("quarantine/")}
    reasons = {k: v for k, v in quarantine.items() if k.startswith("reasons/")}
    assert len(records) == 1 and json.loads(next(iter(records.values()))) == bad
    sidecar = json.loads(next(iter(reasons.values())))
    assert sidecar["records"][0]["reasons"][0]["field"] == "contact.email"
    assert "not an email" not in next(iter(reasons.values())).decode()

    invalid = pipeline.queries.list_documents("INVALID")["documents"]
    assert len(invalid) == 1
    document = pipeline.queries.get_document(invalid[0]["document_id"])
    assert [entry["state"] for entry in document["history"]] == ["RECEIVED", "INVALID"]
    assert document["history"][-1]["reason_code"] == "INVALID_EMAIL"
    assert len(pipeline.outbox.records) == 1


def test_a_chunk_normalized_twice_leaves_one_copy_in_the_lake(pipeline: Pipeline) -> None:
    content = (SAMPLES / "canonical" / "interactions.jsonl.gz").read_bytes()
    bucket = RESOURCES.bucket("raw").name
    key = f"incoming/canonical/2026/08/01/{file_id_for(content)}.jsonl.gz"
    pipeline.session.client("s3").put_object(Bucket=bucket, Key=key, Body=content)
    pipeline.splitter.split_file(bucket, key)
    chunks = pipeline.drain("normalize")
    pipeline.normalizer.handle(chunks)
    first = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    pipeline.normalizer.handle(chunks)  # SQS delivers at least once
    assert _objects(pipeline.session, RESOURCES.bucket("lake").name) == first


def test_a_file_is_split_once_even_when_its_object_is_rewritten(pipeline: Pipeline) -> None:
    content = (SAMPLES / "ticketshop" / "export.csv").read_bytes()
    key = pipeline.ingest("ticketshop", "export.csv", content)
    lake = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    # erasure rewrites the raw object in place: the S3 event that follows must not re-ingest it
    pipeline.session.client("s3").put_object(
        Bucket=RESOURCES.bucket("raw").name, Key=key, Body=content.split(b"\n", 2)[0] + b"\n"
    )
    outcome = pipeline.splitter.split_file(RESOURCES.bucket("raw").name, key)
    assert outcome.records == 21 and pipeline.drain("normalize") == []
    assert _objects(pipeline.session, RESOURCES.bucket("lake").name) == lake


def test_file_problems_are_recorded_without_losing_the_valid_records(pipeline: Pipeline) -> None:
    good = {
        "platform": "shop",
        "record_id": "r-9",
        "contact": {"email": "bob@example.org"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
    }
    content = (json.dumps(good) + '\n{"truncated": \n').encode()
    pipeline.ingest("canonical", "cut.jsonl", content)
    outcome = wiring.file_outcomes().get(file_id_for(content))
    assert outcome is not None and outcome.records == 1 and outcome.problems_total == 1
    assert outcome.problems[0].position is not None
    assert len(pipeline.outbox.records) == 1


def test_an_object_outside_the_raw_layout_is_recorded_as_a_problem(pipeline: Pipeline) -> None:
    bucket = RESOURCES.bucket("raw").name
    pipeline.session.client("s3").put_object(Bucket=bucket, Key="incoming/nowhere/file.csv", Body=b"a,b\n1,2\n")
    outcome = pipeline.splitter.split_file(bucket, "incoming/nowhere/file.csv")
    assert outcome.problems[0].code == "MALFORMED_KEY" and outcome.records == 0
    assert pipeline.drain("normalize") == []


# file → (records read, valid records, file problems, reason codes of the rejected records);
# what samples/README.md says each sample holds.
EXPECTED = {
    "amazon_orders/orders.txt": (24, 23, 1, {"invalid_currency"}),
    "amazon_orders/orders-actionable.txt": (10, 10, 0, set()),
    "canonical/interactions.jsonl.gz": (16, 15, 1, {"unknown_interaction_type"}),
    "eventbrite/attendees-page-1.json": (18, 16, 0, {"invalid_email", "invalid_phone"}),
    "eventbrite/attendee-webhook-fetch.json": (1, 1, 0, set()),
    "facebook_leads/leads.json": (15, 13, 0, {"invalid_email", "missing"}),
    "facebook_leads_csv/leads.csv": (15, 14, 0, {"invalid_email"}),
    "google_ads/webhook-005.json": (1, 0, 0, {"invalid_email"}),
    "google_ads/webhook-012.json": (1, 0, 0, {"test_record"}),
    "google_ads/webhook-001.json": (1, 1, 0, set()),
    "ticketshop/export.csv": (21, 19, 0, {"invalid_email", "invalid_datetime", "invalid_amount"}),
}


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_each_platform_file_yields_exactly_the_expected_lake_and_quarantine_records(
    pipeline: Pipeline, sample: str
) -> None:
    records, valid, problems, reason_codes = EXPECTED[sample]
    source, name = sample.split("/")
    content = (SAMPLES / sample).read_bytes()
    pipeline.ingest(source, name, content)

    outcome = wiring.file_outcomes().get(file_id_for(content))
    assert outcome is not None
    assert (outcome.records, outcome.problems_total) == (records, problems)

    lake = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    rows = [row for body in lake.values() for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    assert all(key.startswith(f"lake/source={source}/") for key in lake)
    assert sorted(row["document_id"] for row in rows) == sorted(r.document_id for r in pipeline.outbox.records)
    assert len(rows) == valid

    quarantine = _objects(pipeline.session, RESOURCES.bucket("quarantine").name)
    quarantined = [
        line
        for key, body in quarantine.items()
        if key.startswith("quarantine/")
        for line in body.decode("utf-8").splitlines()
    ]
    sidecars = [json.loads(body) for key, body in quarantine.items() if key.startswith("reasons/")]
    found_codes = {
        reason["code"] for sidecar in sidecars for record in sidecar["records"] for reason in record["reasons"]
    }
    assert len(quarantined) == records - valid
    assert found_codes == reason_codes

    states = pipeline.queries.file_outcome(file_id_for(content))["states"]
    assert states == {k: v for k, v in {"QUEUED_FOR_SAP": valid, "INVALID": records - valid}.items() if v}


def test_a_file_of_many_full_chunks_queues_them_all_within_sqs_batch_limits(pipeline: Pipeline) -> None:
    # GIVEN a canonical export whose chunks each come near SQS's message size
    record = {
        "platform": "shop",
        "contact": {"email": "person{n}@example.org", "first_name": "Person"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z", "note": "x" * 600},
    }
    lines = [json.dumps({**record, "record_id": f"r-{n}"}).replace("{n}", str(n)) for n in range(1500)]
    content = "\n".join(lines).encode()
    key = raw_key("canonical", file_id_for(content), ".jsonl")
    pipeline.session.client("s3").put_object(Bucket=RESOURCES.bucket("raw").name, Key=key, Body=content)
    splitter = FileSplitter(
        pipeline.session.client("s3"),
        pipeline.session.client("sqs"),
        pipeline.url("normalize"),
        FileOutcomeStore(RESOURCES.table("state").name, pipeline.session.client("dynamodb")),
    )

    # WHEN it is split with the default chunk limits
    outcome = splitter.split_file(RESOURCES.bucket("raw").name, key)

    # THEN its chunks, together far above one SendMessageBatch's 256 KiB, are all queued
    assert outcome.chunks >= 4 and outcome.records == 1500
    assert len(pipeline.drain("normalize")) == outcome.chunks

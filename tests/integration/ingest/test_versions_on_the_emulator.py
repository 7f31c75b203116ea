"""One file holding the same attendee three times — twice as it was, once checked in — on the
emulator: one document with two versions, two lake rows, one current row."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from chalicelib import wiring
from chalicelib.lake_access.catalog import lake_table
from chalicelib.lake_access.object_store import S3ObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.normalize.lake import lake_schema
from chalicelib.normalize.normalizer import document_id
from tests.integration.ingest.conftest import RESOURCES, SAMPLES, Pipeline


def test_repeats_in_a_file_are_one_version_and_a_change_is_another(pipeline: Pipeline) -> None:
    page = json.loads((SAMPLES / "eventbrite" / "attendees-page-1.json").read_text("utf-8"))
    attendee = next(a for a in page["attendees"] if a["id"] == "3100000001")
    checked_in = {**attendee, "checked_in": True, "changed": "2026-11-14T09:05:00Z"}
    content = json.dumps({"pagination": {"has_more_items": False}, "attendees": [attendee, checked_in, attendee]})

    pipeline.ingest("eventbrite", "attendees.json", content.encode())

    document = document_id("eventbrite", "3100000001")
    record = pipeline.queries.get_document(document)
    assert [(v["interaction_type"], v["current"]) for v in record["versions"]] == [
        ("check_in", True),
        ("ticket_purchase", False),
    ]
    s3 = pipeline.session.client("s3")
    bucket = RESOURCES.bucket("lake").name
    rows = [
        row
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="lake/source=eventbrite/").get("Contents", [])
        for row in pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())).to_pylist()
        if row["document_id"] == document
    ]
    assert sorted(row["interaction_type"] for row in rows) == ["check_in", "ticket_purchase"]
    assert len(pipeline.outbox.records) == 2

    table = lake_table("data-engine", "local", bucket)
    engine = DuckDbQueryEngine([table], S3ObjectStore(s3), schemas={table.qualified_name: lake_schema()})
    current = engine.run(f"SELECT interaction_type FROM {table.qualified_view} WHERE document_id = '{document}'")
    assert current.rows == [("check_in",)]


def test_the_hourly_compaction_merges_a_partition_of_single_lead_files(pipeline: Pipeline) -> None:
    template = json.loads((SAMPLES / "google_ads" / "webhook-002.json").read_text("utf-8"))
    for n in range(5):
        pipeline.ingest("google_ads", f"lead-{n}.json", json.dumps({**template, "lead_id": f"compact-{n}"}).encode())
    s3 = pipeline.session.client("s3")
    bucket = RESOURCES.bucket("lake").name
    table = lake_table("data-engine", "local", bucket)
    engine = DuckDbQueryEngine([table], S3ObjectStore(s3), schemas={table.qualified_name: lake_schema()})
    count = f"SELECT count(*) FROM {table.qualified_name} WHERE source_record_id LIKE 'compact-%'"
    assert engine.run(count).rows == [(5,)]

    report = wiring.lake_compaction().run()

    assert report.partitions_compacted == 1 and report.objects_deleted == 5
    assert engine.run(count).rows == [(5,)]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="lake/source=google_ads/")["Contents"]]
    assert len(keys) == 1 and "/part-compact-" in keys[0]

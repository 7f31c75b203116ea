"""Custom answers on the emulator: a lead form's and a registration's answers land in the lake."""

from __future__ import annotations

import io

import boto3
import pyarrow.parquet as pq
import pytest

from chalicelib.normalize.lake import lake_schema
from chalicelib.sap.outbox import to_dispatch_record
from tests.integration.ingest.conftest import RESOURCES, SAMPLES, Pipeline


def _lake_rows(session: boto3.Session) -> list[dict[str, object]]:
    s3, bucket = session.client("s3"), RESOURCES.bucket("lake").name
    rows: list[dict[str, object]] = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
        assert table.schema.equals(lake_schema())
        rows += table.to_pylist()
    return rows


@pytest.mark.parametrize(
    ("sample", "answered"),
    [
        ("eventbrite/attendees-page-1.json", 3),
        ("facebook_leads/leads.json", 3),
        ("facebook_leads_csv/leads.csv", 8),
        ("google_ads/webhook-001.json", 1),
    ],
)
def test_answers_reach_the_lake_and_the_outbox(pipeline: Pipeline, sample: str, answered: int) -> None:
    source, name = sample.split("/")
    pipeline.ingest(source, name, (SAMPLES / sample).read_bytes())

    rows = {row["document_id"]: row for row in _lake_rows(pipeline.session)}
    records = {record.document_id: record for record in pipeline.outbox.records}
    assert rows.keys() == records.keys()
    with_answers = [document for document, row in rows.items() if row["answers"]]
    assert len(with_answers) == answered
    for document in with_answers:
        record = records[document]
        assert rows[document]["answers"] == [answer.model_dump() for answer in record.answers]
        content = to_dispatch_record(record).interactions[0].body()["InteractionContent"]
        assert all(value in content for answer in record.answers for value in answer.values)

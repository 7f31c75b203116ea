"""On the emulator: a subject is erased, then a chunk of theirs arrives late and leaves no trace."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pyarrow.parquet as pq

from chalicelib import wiring
from chalicelib.erasure.requests import DONE, DynamoErasureRequests, batch_pending_requests
from chalicelib.erasure.workflow import ErasureWorkflow
from chalicelib.ingest.normalize_chunk import SUBJECT_ERASED
from chalicelib.ingest.uploads import file_id_for, raw_key
from chalicelib.lake_access.catalog import lake_table
from chalicelib.lake_access.object_store import S3ObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.lake_access.raw_subjects import subject_of_for
from chalicelib.mail import InMemoryMailer
from chalicelib.normalize.lake import lake_schema
from chalicelib.normalize.normalizer import document_id
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.sap.erasure import InMemorySapContacts
from chalicelib.state_keeper.subject_links import SubjectLinks
from tests.integration.ingest.conftest import RESOURCES, SUBJECT_KEY, Pipeline

ADA, BOB = "ada@example.org", "bob@example.org"


def _record(record_id: str, email: str, occurred_at: str, **contact: Any) -> dict[str, Any]:
    return {
        "platform": "shop",
        "record_id": record_id,
        "contact": {"email": email, **contact},
        "interaction": {"type": "registration", "occurred_at": occurred_at},
    }


def _jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _objects(session: boto3.Session, bucket: str) -> dict[str, bytes]:
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def _erase(session: boto3.Session, subject_id: str) -> None:
    """One erasure job for the subject, its tasks run in the state machine's order."""
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    table = lake_table("data-engine", "local", RESOURCES.bucket("lake").name)
    requests = DynamoErasureRequests(RESOURCES.table("config").name, dynamodb)
    request = requests.create(subject_id)
    job = batch_pending_requests(requests)
    assert job is not None
    workflow = ErasureWorkflow(
        requests=requests,
        engine=DuckDbQueryEngine([table], S3ObjectStore(s3), schemas={table.qualified_name: lake_schema()}),
        object_store=lambda: S3ObjectStore(s3),
        table=table,
        raw_bucket=RESOURCES.bucket("raw").name,
        quarantine_bucket=RESOURCES.bucket("quarantine").name,
        work_bucket=RESOURCES.bucket("athena-results").name,
        subject_of_for=subject_of_for(SUBJECT_KEY),
        traces=SubjectLinks(RESOURCES.table("state").name, wiring.state_reporter, dynamodb),
        mailer=InMemoryMailer(),
        sap=lambda: InMemorySapContacts(),
        tombstones=wiring.erasure_tombstones(),
    )
    state = workflow.find({"job_id": job.job_id})
    state["rewrites"] = [
        workflow.rewrite({"job_id": job.job_id, "round": state["round"], "chunk": c}) for c in state["chunks"]
    ]
    state = workflow.verify(workflow.erase_in_sap(workflow.forget(state)))
    assert state["verify"]["clean"]
    workflow.report(state)
    assert requests.get(request.request_id).status == DONE


def test_a_chunk_of_an_erased_subject_arriving_after_the_job_leaves_no_trace(pipeline: Pipeline) -> None:
    # GIVEN Ada's first registration ingested, and a second file of hers (an earlier lead and
    # an invalid record) split but still waiting on the normalize queue
    pipeline.ingest("canonical", "first.jsonl", _jsonl(_record("r-1", ADA, "2026-08-01T12:00:00Z")))
    late = _jsonl(
        _record("r-2", ADA, "2026-07-01T12:00:00Z", first_name="Ada"),
        _record("r-3", ADA, "2026-07-02T12:00:00Z", phone="12"),
        _record("r-4", BOB, "2026-07-01T12:00:00Z"),
    )
    late_key = raw_key("canonical", file_id_for(late), ".jsonl")
    pipeline.session.client("s3").put_object(Bucket=RESOURCES.bucket("raw").name, Key=late_key, Body=late)
    pipeline.splitter.split_file(RESOURCES.bucket("raw").name, late_key)
    waiting = pipeline.drain("normalize")
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    # ... WHEN Ada is erased
    ada = subject_id_of_email(ADA, SUBJECT_KEY)
    _erase(pipeline.session, ada)
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    lake_after_job = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    queued_after_job = len(pipeline.outbox.records)
    # ... and the waiting chunk is normalized after the job
    assert pipeline.normalizer.handle(waiting) == {"batchItemFailures": []}
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    # THEN nothing of Ada is in the lake, quarantine or the outbox; Bob's record went through
    lake = _objects(pipeline.session, RESOURCES.bucket("lake").name)
    rows = [row for key, body in lake.items() for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    assert ada not in {row["subject_id"] for row in rows}
    assert len(lake) == len(lake_after_job) + 1
    assert not [k for k in _objects(pipeline.session, RESOURCES.bucket("quarantine").name) if "quarantine/" in k]
    assert [r.contact.email for r in pipeline.outbox.records[queued_after_job:]] == [BOB]
    # ... and the late documents are ERASED in the State Keeper, linked to no one
    for record_id in ("shop:r-2", "shop:r-3"):
        document = pipeline.queries.get_document(document_id("canonical", record_id))
        assert document["state"] == "ERASED"
        assert [(e["state"], e.get("reason_code")) for e in document["history"]] == [
            ("RECEIVED", None),
            ("ERASED", SUBJECT_ERASED),
        ]
    assert pipeline.queries.get_document(document_id("canonical", "shop:r-4"))["state"] == "QUEUED_FOR_SAP"

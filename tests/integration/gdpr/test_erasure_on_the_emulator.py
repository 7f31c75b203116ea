"""The erasure on the local stack: S3 objects, the config table, Step Functions running our tasks."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from chalicelib.erasure.find_objects import find_objects
from chalicelib.erasure.forget_subjects import InMemorySubjectTraces
from chalicelib.erasure.requests import DONE, JOB_DONE, DynamoErasureRequests, batch_pending_requests
from chalicelib.erasure.state_machine import TASK_FUNCTIONS, erasure_definition, lambda_arn, state_machine_name
from chalicelib.erasure.workflow import ErasureWorkflow, start_erasure_job
from chalicelib.lake_access.catalog import lake_table
from chalicelib.lake_access.exceptions import ObjectChanged
from chalicelib.lake_access.object_store import S3ObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.lake_access.rewrite_object import rewrite_without_subjects
from chalicelib.mail import InMemoryMailer
from chalicelib.resources import for_stage
from chalicelib.sap.erasure import InMemorySapContacts
from chalicelib.subjects.tombstones import DynamoTombstones
from devstack.emulator import Emulator
from tests.unit.lake_access.builders import jsonl, lake_key, lake_parquet, person, raw_record, read_rows, subject_of_raw

RESOURCES = for_stage("local")
LAKE, RAW, QUARANTINE = (RESOURCES.bucket(k).name for k in ("lake", "raw", "quarantine"))
WORK = RESOURCES.bucket("athena-results").name  # the work bucket: declared, provisioned
RAW_KEY = "incoming/canonical/2024/03/01/f1.jsonl"  # a JSON Lines source, as ingest reads it


@pytest.fixture
def lake(stack: boto3.Session) -> dict[str, Any]:
    s3 = stack.client("s3")
    people = [person(i, raw_key=RAW_KEY) for i in range(8)]
    for day, rows in (("2024-03-01", people[:4]), ("2024-03-02", people[4:])):
        s3.put_object(
            Bucket=LAKE,
            Key=lake_key("eventbrite", day),
            Body=lake_parquet(rows),
            ContentType="application/vnd.apache.parquet",
            Metadata={"writer": "normalize"},
            Tagging="retention=standard",
        )
    s3.put_object(
        Bucket=RAW,
        Key=RAW_KEY,
        Body=jsonl([raw_record(i) for i in range(8)]),
        ContentType="application/x-ndjson",
        Metadata={"source": "eventbrite"},
    )
    s3.put_object(
        Bucket=QUARANTINE,
        Key="eventbrite/rejected.jsonl",
        Body=jsonl([{"email": "person3@example.com", "reason": "bad phone"}]),
    )
    return {"s3": s3, "people": people}


def test_find_rewrite_and_find_again_on_s3_keep_metadata_and_leave_no_hits(lake: dict[str, Any]) -> None:
    s3, people = lake["s3"], lake["people"]
    table = lake_table("data-engine", "local", LAKE)
    store = S3ObjectStore(s3)
    engine = DuckDbQueryEngine([table], S3ObjectStore(s3))
    subjects = [people[1]["subject_id"], people[6]["subject_id"]]
    # WHEN the find runs, and each found object is rewritten
    found = find_objects(engine, table, subjects, raw_bucket=RAW)
    assert found.lake_keys == [lake_key("eventbrite", "2024-03-01"), lake_key("eventbrite", "2024-03-02")]
    assert found.raw_keys == [RAW_KEY] and found.bytes_scanned > 0
    for key in found.lake_keys:
        rewrite_without_subjects(store, LAKE, key, subjects)
    rewrite_without_subjects(store, RAW, RAW_KEY, subjects, subject_of=subject_of_raw)
    # THEN the find again has zero hits, and the objects kept their metadata, type and tags
    assert find_objects(engine, table, subjects).hits == 0
    head = s3.head_object(Bucket=LAKE, Key=lake_key("eventbrite", "2024-03-01"))
    assert head["Metadata"] == {"writer": "normalize"} and head["ContentType"] == "application/vnd.apache.parquet"
    assert s3.get_object_tagging(Bucket=LAKE, Key=lake_key("eventbrite", "2024-03-01"))["TagSet"] == [
        {"Key": "retention", "Value": "standard"}
    ]
    assert s3.head_object(Bucket=RAW, Key=RAW_KEY)["Metadata"] == {"source": "eventbrite"}
    rows = read_rows(s3.get_object(Bucket=LAKE, Key=lake_key("eventbrite", "2024-03-01"))["Body"].read())
    assert [r["document_id"] for r in rows] == [people[i]["document_id"] for i in (0, 2, 3)]


def test_a_conditional_write_refuses_to_overwrite_an_object_that_changed(lake: dict[str, Any]) -> None:
    store = S3ObjectStore(lake["s3"])
    original = store.get(RAW, RAW_KEY)
    lake["s3"].put_object(Bucket=RAW, Key=RAW_KEY, Body=b"{}\n")
    with pytest.raises(ObjectChanged):
        store.put(RAW, RAW_KEY, b"rewritten", like=original, if_match=original.etag)
    assert lake["s3"].get_object(Bucket=RAW, Key=RAW_KEY)["Body"].read() == b"{}\n"


def test_requests_and_jobs_live_in_the_config_table(stack: boto3.Session) -> None:
    requests = DynamoErasureRequests(RESOURCES.table("config").name, stack.client("dynamodb"))
    first, second = requests.create("s" * 64), requests.create("t" * 64)
    job = batch_pending_requests(requests, max_requests=10)
    assert job is not None and sorted(job.request_ids) == sorted([first.request_id, second.request_id])
    assert requests.pending(10) == [] and requests.get_job(job.job_id).subject_ids == ["s" * 64, "t" * 64]
    requests.move(first.request_id, DONE, report={"rows_removed": 2})
    assert requests.get(first.request_id).public()["report"] == {"rows_removed": 2}


def test_one_job_holds_the_lock_until_it_ends(stack: boto3.Session) -> None:
    requests = DynamoErasureRequests(RESOURCES.table("config").name, stack.client("dynamodb"))
    requests.create("s" * 64)
    job = batch_pending_requests(requests, max_requests=10)
    assert job is not None and requests.job_lock() is None
    assert requests.take_job_lock(job.job_id) and not requests.take_job_lock("ej-other")
    held = requests.job_lock()
    assert held is not None and held.job_id == job.job_id
    requests.release_job_lock("ej-other")  # not its lock: nothing changes
    assert requests.job_lock() == held
    assert requests.take_job_lock("ej-next", replacing=job.job_id)  # a stale hold taken over
    assert requests.take_job_lock(job.job_id, replacing="ej-next")
    requests.finish_job(job.job_id, JOB_DONE, {"status": "DONE"})
    assert requests.job_lock() is None


def wait_for_execution(sfn: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError("the execution did not finish in time")


@pytest.fixture
def erasure(lake: dict[str, Any], stack: boto3.Session, emulator: Emulator) -> dict[str, Any]:
    """The workflow's tasks registered as the Lambda functions the ASL names, and the machine."""
    s3, people = lake["s3"], lake["people"]
    table = lake_table("data-engine", "local", LAKE)
    requests = DynamoErasureRequests(RESOURCES.table("config").name, stack.client("dynamodb"))
    traces = InMemorySubjectTraces({p["document_id"]: {"subject_id": p["subject_id"]} for p in people})
    mailer = InMemoryMailer()
    sap = InMemorySapContacts(contacts={p["subject_id"]: {"EmailAddress": p["email"]} for p in people[:4]})
    tombstones = DynamoTombstones(RESOURCES.table("config").name, stack.client("dynamodb"))
    workflow = ErasureWorkflow(
        requests=requests,
        engine=DuckDbQueryEngine([table], S3ObjectStore(s3)),
        object_store=lambda: S3ObjectStore(s3),
        table=table,
        raw_bucket=RAW,
        quarantine_bucket=QUARANTINE,
        work_bucket=WORK,
        subject_of_for=lambda bucket, key: subject_of_raw,
        traces=traces,
        mailer=mailer,
        sap=lambda: sap,
        tombstones=tombstones,
        chunk_size=1,
    )
    for step, name in TASK_FUNCTIONS.items():
        emulator.register_function(
            f"data-engine-local-{name}", lambda event, context, step=step: getattr(workflow, step)(event, context)
        )
    sfn = stack.client("stepfunctions")
    # the stage's state machine, provisioned from the declaration; its tasks are the functions above
    machine = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == state_machine_name("data-engine", "local")
    )
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    assert definition == erasure_definition(lambda_arn("eu-central-1", "123456789012", "data-engine", "local"))
    return {
        "s3": s3,
        "people": people,
        "requests": requests,
        "traces": traces,
        "mailer": mailer,
        "sfn": sfn,
        "machine": machine,
        "sap": sap,
        "tombstones": tombstones,
    }


def test_the_state_machine_runs_our_tasks_and_erases_two_subjects(erasure: dict[str, Any]) -> None:
    s3, people, requests, sfn, machine = (erasure[k] for k in ("s3", "people", "requests", "sfn", "machine"))
    traces, mailer = erasure["traces"], erasure["mailer"]
    erased = [requests.create(people[3]["subject_id"]), requests.create(people[5]["subject_id"])]
    # WHEN the pending requests are batched and the job's execution runs
    started = start_erasure_job(requests, sfn, machine)
    done = wait_for_execution(sfn, started["execution_arn"])
    # THEN it succeeded, both requests are done, and nothing of the two subjects is left
    assert done["status"] == "SUCCEEDED", done.get("cause") or done.get("error")
    reports = [requests.get(r.request_id) for r in erased]
    assert [r.status for r in reports] == [DONE, DONE]
    assert reports[0].report["objects_rewritten"] == 3  # lake, raw, quarantine
    assert reports[1].report["objects_rewritten"] == 2  # lake, raw
    gone = {people[3]["subject_id"], people[5]["subject_id"]}
    for day in ("2024-03-01", "2024-03-02"):
        rows = read_rows(s3.get_object(Bucket=LAKE, Key=lake_key("eventbrite", day))["Body"].read())
        assert not gone & {r["subject_id"] for r in rows}
    assert b"person3@" not in s3.get_object(Bucket=QUARANTINE, Key="eventbrite/rejected.jsonl")["Body"].read()
    raw = s3.get_object(Bucket=RAW, Key=RAW_KEY)["Body"].read()
    assert raw == jsonl([raw_record(i) for i in (0, 1, 2, 4, 6, 7)])
    assert traces.count(gone) == 0 and len(mailer.sent) == 1
    # ... and SAP: person 3's contact emptied and marked for deletion, person 5 was never there
    assert [r.report["sap"] for r in reports] == ["MARKED_FOR_DELETION", "NOT_IN_SAP"]
    assert erasure["sap"].contacts[people[3]["subject_id"]] == {"EmailAddress": None, "IsObsolete": True} | {
        name: None for name in erasure["sap"].contacts[people[3]["subject_id"]] if name != "IsObsolete"
    }
    # ... and the two subjects are tombstoned, no one else
    assert set(erasure["tombstones"].erased_at(p["subject_id"] for p in people)) == gone


def test_a_failing_rewrite_fails_the_execution_after_reporting_it(erasure: dict[str, Any]) -> None:
    # GIVEN a raw file that no longer holds the record the lake's lineage points to
    s3, people, requests = erasure["s3"], erasure["people"], erasure["requests"]
    s3.put_object(Bucket=RAW, Key=RAW_KEY, Body=jsonl([raw_record(i) for i in range(8) if i != 2]))
    request = requests.create(people[2]["subject_id"])
    # WHEN the job runs
    started = start_erasure_job(requests, erasure["sfn"], erasure["machine"])
    done = wait_for_execution(erasure["sfn"], started["execution_arn"])
    # THEN the execution fails, the request is FAILED with the reason, and operations got a mail
    assert done["status"] == "FAILED"
    failed = requests.get(request.request_id)
    assert failed.status == "FAILED" and failed.report["error"].startswith("NothingRemoved")
    assert "FAILED" in erasure["mailer"].sent[0][0]


def test_a_contact_sap_refuses_to_erase_fails_the_execution_after_reporting_it(erasure: dict[str, Any]) -> None:
    # GIVEN SAP refuses the erasure of person 1's contact
    people, requests = erasure["people"], erasure["requests"]
    erasure["sap"].failing.add(people[1]["subject_id"])
    request = requests.create(people[1]["subject_id"])
    # WHEN the job runs
    started = start_erasure_job(requests, erasure["sfn"], erasure["machine"])
    done = wait_for_execution(erasure["sfn"], started["execution_arn"])
    # THEN the execution fails and the request's report says SAP failed
    assert done["status"] == "FAILED"
    failed = requests.get(request.request_id)
    assert failed.status == "FAILED" and failed.report["error"].startswith("SapErasureIncomplete")
    assert failed.report["sap"] == "FAILED"

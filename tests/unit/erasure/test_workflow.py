"""The erasure tasks, run in-process in the state machine's order on in-memory twins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.erasure.forget_subjects import InMemorySubjectTraces
from chalicelib.erasure.requests import DONE, FAILED, InMemoryErasureRequests, JobLock, batch_pending_requests
from chalicelib.erasure.workflow import ErasureWorkflow
from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.exceptions import NothingRemoved
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.mail import InMemoryMailer
from chalicelib.sap.erasure import InMemorySapContacts
from chalicelib.sap.exceptions import SapErasureIncomplete
from chalicelib.subjects.tombstones import InMemoryTombstones
from tests.unit.lake_access.builders import jsonl, lake_key, lake_parquet, person, raw_record, read_rows, subject_of_raw

RAW_KEY = "incoming/canonical/2024/03/01/f1.jsonl"  # a JSON Lines source, as ingest reads it


def run_like_the_state_machine(workflow: ErasureWorkflow, job_id: str) -> dict[str, Any]:
    """FindObjects → Map(RewriteChunk) → ForgetSubjects → EraseInSap → VerifyErasure → IsErased → ReportJob."""
    state: dict[str, Any] = {"job_id": job_id}
    while True:
        state = workflow.find(state)
        state["rewrites"] = [
            workflow.rewrite({"job_id": job_id, "round": state["round"], "chunk": c}) for c in state["chunks"]
        ]
        state = workflow.verify(workflow.erase_in_sap(workflow.forget(state)))
        if state["verify"]["clean"]:
            return workflow.report(state)
        if state["round"] >= 2:
            return workflow.report({**state, "failed": True})


@pytest.fixture
def world() -> dict[str, Any]:
    store = InMemoryObjectStore()
    people = [person(i, raw_key=RAW_KEY) for i in range(6)]
    store.add("lake", lake_key("eventbrite", "2024-03-01"), lake_parquet(people[:3]))
    store.add("lake", lake_key("eventbrite", "2024-03-02"), lake_parquet(people[3:]))
    store.add("raw", RAW_KEY, jsonl([raw_record(i) for i in range(6)]))
    store.add(
        "quarantine",
        "eventbrite/bad.jsonl",
        jsonl([{"email": "person1@example.com", "reason": "x"}, {"email": "person9@example.com", "reason": "y"}]),
    )
    traces = InMemorySubjectTraces(
        {p["document_id"]: {"subject_id": p["subject_id"], "state": "DELIVERED"} for p in people}
    )
    requests = InMemoryErasureRequests()
    table = LakeTable("db", "lake_records", "lake")
    mailer = InMemoryMailer()
    tombstones = InMemoryTombstones()
    # SAP holds the contacts of persons 0 to 4 (person 5 was never sent)
    sap = InMemorySapContacts(
        contacts={p["subject_id"]: {"EmailAddress": p["email"], "FirstName": "Ann"} for p in people[:5]},
        additional_ids={p["subject_id"]: [p["email"]] for p in people[:5]},
    )
    workflow = ErasureWorkflow(
        requests=requests,
        engine=DuckDbQueryEngine([table], store),
        object_store=lambda: store,
        table=table,
        raw_bucket="raw",
        quarantine_bucket="quarantine",
        work_bucket="work",
        subject_of_for=lambda bucket, key: subject_of_raw,
        traces=traces,
        mailer=mailer,
        sap=lambda: sap,
        tombstones=tombstones,
        chunk_size=2,
    )
    return {
        "store": store,
        "people": people,
        "traces": traces,
        "requests": requests,
        "workflow": workflow,
        "mailer": mailer,
        "sap": sap,
        "tombstones": tombstones,
    }


def test_two_subjects_are_erased_everywhere_and_everything_else_is_unchanged(world: dict[str, Any]) -> None:
    # GIVEN requests for persons 1 and 4
    store, people, requests = world["store"], world["people"], world["requests"]
    first, second = requests.create(people[1]["subject_id"]), requests.create(people[4]["subject_id"])
    job = batch_pending_requests(requests)
    assert job is not None
    raw_before = store.objects[("raw", RAW_KEY)].body
    # WHEN the workflow runs
    result = run_like_the_state_machine(world["workflow"], job.job_id)
    # THEN both requests are done with a report, and no trace is left
    assert result["status"] == "DONE"
    remaining = read_rows(store.objects[("lake", lake_key("eventbrite", "2024-03-01"))].body) + read_rows(
        store.objects[("lake", lake_key("eventbrite", "2024-03-02"))].body
    )
    assert [r["document_id"] for r in remaining] == [p["document_id"] for i, p in enumerate(people) if i not in (1, 4)]
    raw_lines = raw_before.splitlines(keepends=True)
    assert store.objects[("raw", RAW_KEY)].body == b"".join(raw_lines[i] for i in (0, 2, 3, 5))
    assert b"person1@" not in store.objects[("quarantine", "eventbrite/bad.jsonl")].body
    assert world["traces"].count({people[1]["subject_id"], people[4]["subject_id"]}) == 0
    report = requests.get(first.request_id).report
    assert requests.get(second.request_id).status == DONE and report is not None
    assert report["objects_rewritten"] == 3 and report["rows_removed"] == 3  # lake + raw + quarantine
    assert report["verification"]["clean"] and report["cost_usd"]["request"] > 0
    assert "@" not in json.dumps(report)


def test_the_first_find_tombstones_the_subjects_before_it_scans_and_waits_to_settle(world: dict[str, Any]) -> None:
    # GIVEN a request for person 2, and a workflow that waits 65 s after writing tombstones
    requests, tombstones, person2 = world["requests"], world["tombstones"], world["people"][2]["subject_id"]
    requests.create(person2)
    job = batch_pending_requests(requests)
    assert job is not None
    slept: list[float] = []
    workflow = world["workflow"]
    workflow.settle_seconds, workflow.sleep = 65.0, slept.append
    # WHEN the first round's find runs, and a second round's
    first = workflow.find({"job_id": job.job_id})
    erased_at = tombstones.erased[person2]
    workflow.find(first)
    # THEN the subject is tombstoned once (a second round does not move the time) after one wait
    assert set(tombstones.erased) == {person2} and tombstones.erased[person2] == erased_at
    assert slept == [65.0] and first["usage"]["dynamodb_writes"] == 1


def test_the_job_mail_goes_to_operations_without_personal_data(world: dict[str, Any]) -> None:
    requests = world["requests"]
    requests.create(world["people"][2]["subject_id"])
    job = batch_pending_requests(requests)
    run_like_the_state_machine(world["workflow"], job.job_id)
    ((subject, body),) = world["mailer"].sent
    assert job.job_id in subject and "Objects rewritten: 2" in body
    assert "@" not in body and world["people"][2]["subject_id"] not in body


def test_a_find_that_rewrites_disagree_with_fails_the_job_and_says_why(world: dict[str, Any]) -> None:
    # GIVEN the raw file's records do not carry the subject the lake's lineage says they do
    store, requests, workflow = world["store"], world["requests"], world["workflow"]
    store.add("raw", RAW_KEY, jsonl([{"email": "someone.else@example.com"}]))
    request = requests.create(world["people"][0]["subject_id"])
    job = batch_pending_requests(requests)
    state = workflow.find({"job_id": job.job_id})
    # WHEN the rewrite reaches the raw file THEN it is an error, not a silent success
    with pytest.raises(NothingRemoved):
        for chunk in state["chunks"]:
            workflow.rewrite({"job_id": job.job_id, "round": 1, "chunk": chunk})
    workflow.report(
        {
            **state,
            "failed": True,
            "error": {"Error": "NothingRemoved", "Cause": json.dumps({"errorMessage": "raw says no"})},
        }
    )
    assert requests.get(request.request_id).status == FAILED
    assert requests.get(request.request_id).report["error"] == "NothingRemoved: raw says no"


def test_a_job_for_a_subject_with_no_data_is_done_with_nothing_rewritten(world: dict[str, Any]) -> None:
    requests = world["requests"]
    request = requests.create("0" * 64)
    job = batch_pending_requests(requests)
    assert run_like_the_state_machine(world["workflow"], job.job_id)["status"] == "DONE"
    assert requests.get(request.request_id).report["objects_rewritten"] == 0


def test_sap_contacts_are_marked_for_deletion_and_the_reports_count_them(world: dict[str, Any]) -> None:
    # GIVEN requests for person 1 (in SAP) and person 5 (never sent to SAP)
    requests, people, sap = world["requests"], world["people"], world["sap"]
    in_sap, not_sent = requests.create(people[1]["subject_id"]), requests.create(people[5]["subject_id"])
    job = batch_pending_requests(requests)
    # WHEN the workflow runs
    result = run_like_the_state_machine(world["workflow"], job.job_id)
    # THEN person 1's contact in SAP is emptied and marked, person 5 counts as not in SAP
    assert result["status"] == "DONE"
    assert sap.contacts[people[1]["subject_id"]]["EmailAddress"] is None
    assert sap.contacts[people[1]["subject_id"]]["IsObsolete"] is True
    assert people[1]["subject_id"] not in sap.additional_ids
    assert sap.contacts[people[2]["subject_id"]]["EmailAddress"] == people[2]["email"]
    assert requests.get(in_sap.request_id).report["sap"] == "MARKED_FOR_DELETION"
    assert requests.get(not_sent.request_id).report["sap"] == "NOT_IN_SAP"
    assert requests.get_job(job.job_id).report["sap"] == {
        "marked_for_deletion": 1,
        "not_in_sap": 1,
        "failed": 0,
        "erased_again": 0,
    }
    ((_, body),) = world["mailer"].sent
    assert "SAP: 1 contacts marked for deletion, 1 not in SAP, 0 failed" in body


def test_the_sap_step_runs_once_per_job(world: dict[str, Any]) -> None:
    requests, people = world["requests"], world["people"]
    requests.create(people[1]["subject_id"])
    job = batch_pending_requests(requests)
    calls: list[list[str]] = []
    sap = world["sap"]
    world["workflow"].sap = lambda: type(
        "Counting", (), {"erase": lambda self, subjects: (calls.append(sorted(subjects)), sap.erase(subjects))[1]}
    )()

    first = world["workflow"].erase_in_sap({"job_id": job.job_id})
    again = world["workflow"].erase_in_sap({"job_id": job.job_id})

    assert len(calls) == 1 and first["sap"] == again["sap"] == {"marked_for_deletion": 1, "not_in_sap": 0, "failed": 0}


def test_a_subject_sap_refuses_fails_the_job_and_the_report_says_so(world: dict[str, Any]) -> None:
    # GIVEN SAP refuses person 3's erasure
    requests, people, workflow = world["requests"], world["people"], world["workflow"]
    world["sap"].failing.add(people[3]["subject_id"])
    request = requests.create(people[3]["subject_id"])
    job = batch_pending_requests(requests)
    state = workflow.forget({**workflow.find({"job_id": job.job_id}), "rewrites": []})
    # WHEN the SAP task runs THEN it raises, and the failure report (as the state machine sends it) says why
    with pytest.raises(SapErasureIncomplete) as raised:
        workflow.erase_in_sap(state)
    workflow.report(
        {
            **state,
            "failed": True,
            "error": {"Error": "SapErasureIncomplete", "Cause": json.dumps({"errorMessage": str(raised.value)})},
        }
    )
    report = requests.get(request.request_id).report
    assert requests.get(request.request_id).status == FAILED and report["sap"] == "FAILED"
    assert report["error"] == "SapErasureIncomplete: 1 of 1 subjects could not be erased in SAP"
    assert requests.get_job(job.job_id).report["sap"]["failed"] == 1


def test_the_verification_reads_sap_back_and_a_contact_changed_back_is_not_clean(world: dict[str, Any]) -> None:
    # GIVEN person 1's contact erased in SAP
    requests, people, workflow, sap = world["requests"], world["people"], world["workflow"], world["sap"]
    requests.create(people[1]["subject_id"])
    job = batch_pending_requests(requests)
    state = workflow.erase_in_sap(workflow.forget({**workflow.find({"job_id": job.job_id}), "rewrites": []}))
    assert workflow.verify(state)["verify"]["sap"] == {"verified": 1, "not_clean": 0}

    # WHEN SAP holds the email again
    sap.contacts[people[1]["subject_id"]]["EmailAddress"] = people[1]["email"]
    verified = workflow.verify(state)["verify"]

    # THEN the verification is not clean, and it says counts only
    assert verified["clean"] is False and verified["sap"] == {"verified": 0, "not_clean": 1}
    assert people[1]["email"] not in json.dumps(verified)


def test_a_later_round_erases_again_in_sap_what_the_previous_round_read_back_not_clean(world: dict[str, Any]) -> None:
    # GIVEN person 1's contact erased in SAP, then given its email back before the verification
    requests, people, workflow, sap = world["requests"], world["people"], world["workflow"], world["sap"]
    requests.create(people[1]["subject_id"])
    job = batch_pending_requests(requests)
    state = workflow.erase_in_sap(workflow.forget({**workflow.find({"job_id": job.job_id}), "rewrites": []}))
    sap.contacts[people[1]["subject_id"]]["EmailAddress"] = people[1]["email"]
    first = workflow.verify(state)
    assert first["verify"]["sap"] == {"verified": 0, "not_clean": 1}
    # WHEN the state machine runs the next round
    second = workflow.forget({**workflow.find(first), "rewrites": []})
    second = workflow.verify(workflow.erase_in_sap(second))
    # THEN SAP got the erasure again, the round is clean, and the report counts it (ids and counts only)
    assert sap.contacts[people[1]["subject_id"]]["EmailAddress"] is None
    assert second["round"] == 2 and second["verify"]["sap"] == {"verified": 1, "not_clean": 0}
    workflow.report(second)
    report = requests.get_job(job.job_id).report
    assert report["sap"]["erased_again"] == 1
    ((_, body),) = world["mailer"].sent
    assert "1 erased again after a verification" in body and people[1]["email"] not in body
    # and a retried task of that round sends nothing more
    calls: list[list[str]] = []
    world["workflow"].sap = lambda: type(
        "Counting", (), {"erase": lambda self, subjects: (calls.append(sorted(subjects)), sap.erase(subjects))[1]}
    )()
    workflow.erase_in_sap(second)
    assert calls == []


# -- one job at a time, and cancelling one ---------------------------------------------------


class StepFunctions:
    """What the workflow asks of Step Functions: running executions, start, stop."""

    class exceptions:  # as boto3 names it: `client.exceptions.ExecutionDoesNotExist`
        class ExecutionDoesNotExist(Exception):
            pass

    def __init__(self, running: list[str] | None = None) -> None:
        self.running = list(running or [])
        self.ended: dict[str, str] = {}
        self.stopped: list[str] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        name = executionArn.rsplit(":", 1)[-1]
        if name in self.running:
            return {"status": "RUNNING"}
        if name in self.ended:
            return {"status": self.ended[name]}
        raise self.exceptions.ExecutionDoesNotExist(executionArn)

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.running.append(name)
        return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"}

    def end(self, name: str, status: str) -> None:
        self.running.remove(name)
        self.ended[name] = status

    def stop_execution(self, executionArn: str, error: str, cause: str) -> None:
        self.stopped.append(executionArn)


ARN = "arn:aws:states:eu-central-1:123456789012:stateMachine:data-engine-local-gdpr-erasure"


def test_no_second_job_starts_while_one_runs_and_the_next_starts_once_it_ended(world: dict[str, Any]) -> None:
    from chalicelib.erasure.requests import JOB_DONE, PENDING
    from chalicelib.erasure.workflow import start_erasure_job

    requests, people = world["requests"], world["people"]
    sfn = StepFunctions()
    requests.create(people[1]["subject_id"])
    first = start_erasure_job(requests, sfn, ARN)
    waiting = requests.create(people[2]["subject_id"])
    # WHEN a second start comes while the first job runs
    second = start_erasure_job(requests, sfn, ARN)
    # THEN nothing is batched, and the answer names the running job
    assert first["started"] and second == {"started": False, "requests": 0, "running_job": first["job_id"]}
    assert requests.get(waiting.request_id).status == PENDING
    # WHEN the first job ends (its report releases the lock), THEN the next one starts
    sfn.end(first["job_id"], "SUCCEEDED")
    requests.finish_job(first["job_id"], JOB_DONE, {})
    assert requests.job_lock() is None
    third = start_erasure_job(requests, sfn, ARN)
    assert third["started"] and third["requests"] == 1


def test_a_lock_left_by_an_execution_that_ended_without_its_report_is_taken_over(world: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.erasure.workflow import start_erasure_job

    requests, people = world["requests"], world["people"]
    sfn = StepFunctions()
    requests.create(people[1]["subject_id"])
    first = start_erasure_job(requests, sfn, ARN)
    sfn.end(first["job_id"], "TIMED_OUT")  # no report ran: the lock stays
    requests.create(people[2]["subject_id"])
    assert start_erasure_job(requests, sfn, ARN)["started"]
    # a lock whose execution is not there yet is being started: left alone for a while
    requests.lock = JobLock("ej-being-started", datetime.now(UTC))
    assert start_erasure_job(requests, sfn, ARN)["running_job"] == "ej-being-started"
    later = lambda: datetime.now(UTC) + timedelta(minutes=3)  # noqa: E731
    requests.create(people[3]["subject_id"])
    assert start_erasure_job(requests, sfn, ARN, now=later)["started"]


def test_a_cancelled_job_stops_between_objects_and_its_requests_wait_for_the_next(world: dict[str, Any]) -> None:
    from chalicelib.erasure.exceptions import JobNotRunning
    from chalicelib.erasure.requests import JOB_CANCELLED, PENDING

    store, people, requests, workflow = world["store"], world["people"], world["requests"], world["workflow"]
    request, other = requests.create(people[1]["subject_id"]), requests.create(people[4]["subject_id"])
    job = batch_pending_requests(requests)
    assert job is not None
    before = {key: stored.body for key, stored in store.objects.items()}
    sfn = StepFunctions([job.job_id])
    assert requests.take_job_lock(job.job_id)
    # GIVEN a job that found 3 objects (2 chunks) and rewrote its first chunk
    found = workflow.find({"job_id": job.job_id})
    assert found["chunks"] == [0, 1]
    first = workflow.rewrite({"job_id": job.job_id, "round": 1, "chunk": 0})
    # WHEN it is cancelled, and the second chunk's task runs anyway (it was in flight)
    report = workflow.cancel(job.job_id, sfn, ARN)
    late = workflow.rewrite({"job_id": job.job_id, "round": 1, "chunk": 1})
    # THEN the execution is stopped, the late task rewrote nothing, the request waits again
    assert sfn.stopped == [ARN.replace(":stateMachine:", ":execution:") + f":{job.job_id}"]
    assert late["objects"] == 0
    assert requests.get(request.request_id).status == requests.get(other.request_id).status == PENDING
    assert requests.get_job(job.job_id).status == JOB_CANCELLED
    assert report["objects_rewritten"] == first["objects"] == 2
    assert report["requests_pending_again"] == [request.request_id, other.request_id]
    assert report["found"] and not report["erased_in_sap"]
    # and every object is either as it was or fully rewritten (without the subject)
    manifest = json.loads(store.objects[("work", f"gdpr/jobs/{job.job_id}/round-1/manifest.json")].body)
    untouched = [(item["bucket"], item["key"]) for item in manifest["chunks"][1]]
    assert all(store.objects[key].body == before[key] for key in untouched)
    assert "@" not in json.dumps(report)
    assert requests.job_lock() is None  # the next job may start
    with pytest.raises(JobNotRunning):
        workflow.cancel(job.job_id, sfn, ARN)

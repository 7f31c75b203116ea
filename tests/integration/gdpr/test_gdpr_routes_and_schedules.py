"""The GDPR routes, task functions and schedules of `app.py` on the emulator.

Sample files are put into the buckets and the State Keeper as ingest leaves them
(`ingested.py`); the erasure job runs in the emulator's Step Functions, whose task states
call `app.py`'s own `@app.lambda_function`s through the emulator's Lambda Invoke front.
"""

from __future__ import annotations

import functools
import io
import json
import operator
import time
from collections.abc import Iterator
from datetime import date
from types import ModuleType
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.anonymization.anonymize import RetentionPolicy
from chalicelib.auth.tokens import TokenStore
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.resources import for_stage
from devstack.emulator import Emulator, LambdaContext
from devstack.events import scheduled_event
from devstack.runtime import function_name, resolve_handler
from devstack.stack import load_app
from sapstandin import StandIn
from tests.integration.gdpr.ingested import Ingested, ingest_sample

RESOURCES = for_stage("local")
BUCKETS = {key: RESOURCES.bucket(key).name for key in ("raw", "lake", "quarantine")}
ERASED = ("anna.schmidt@example.com", "marco.rossi@example.com")
POLICY = {
    "days_after_event": 30,
    "fields": {
        "email": {"action": "pseudonymize"},
        "first_name": {"action": "null"},
        "last_name": {"action": "null"},
        "phone": {"action": "null"},
    },
}


@pytest.fixture(scope="module")
def sap_standin() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


@pytest.fixture
def app_module(
    stack: boto3.Session, emulator: Emulator, sap_standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """`app.py`, its Lambda functions answering the emulator's Invoke as in the local runtime.

    The declared `sap` secret points at a stand-in, as devstack sets it, for the SAP task.
    """
    sap_standin.reset()
    secret = RESOURCES.secret("sap")
    stack.client("secretsmanager").put_secret_value(
        SecretId=secret.name,
        SecretString=json.dumps(
            {"base_url": sap_standin.url, "user": sap_standin.user, "password": sap_standin.password}
        ),
    )
    monkeypatch.setenv(secret.env, secret.name)
    for name in ("SAP_SECRET_ARN", "SAP_PARAMETER", "SAP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    module = load_app()
    for function in module.app.pure_lambda_functions:
        emulator.register_function(
            function_name(module.app, "local", function.name), resolve_handler(module, function.handler_string)
        )
    return module


@pytest.fixture
def api(app_module: ModuleType, stack: boto3.Session) -> Any:
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    headers = {
        role: {
            "Authorization": f"Bearer {tokens.create(f'gdpr-{role}', role, 1).token}",
            "Content-Type": "application/json",
        }
        for role in ("viewer", "operator", "privacy", "admin")
    }
    with Client(app_module.app, stage_name="local") as client:

        def call(method: str, path: str, body: Any = None, role: str = "privacy") -> Any:
            return getattr(client.http, method)(
                path, headers=headers[role], body=json.dumps(body) if body is not None else None
            )

        yield call


@pytest.fixture
def samples(stack: boto3.Session) -> dict[str, Ingested]:
    s3 = stack.client("s3")
    keeper, key = wiring.state_keeper(), wiring.subject_key()
    return {
        source: ingest_sample(path, source, s3, BUCKETS, key, keeper)
        for path, source in (
            ("eventbrite/attendees-page-1.json", "eventbrite"),
            ("ticketshop/export.csv", "ticketshop"),
        )
    }


def snapshot(s3: Any) -> dict[str, bytes]:
    return {
        f"{bucket}/{item['Key']}": s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for bucket in BUCKETS.values()
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    }


def lake_rows(s3: Any, keys: list[str]) -> list[dict[str, Any]]:
    return [
        row
        for key in keys
        for row in pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKETS["lake"], Key=key)["Body"].read())).to_pylist()
    ]


def state_items(dynamodb: Any) -> list[dict[str, Any]]:
    return dynamodb.scan(TableName=RESOURCES.table("state").name)["Items"]


def fire(app_module: ModuleType, name: str) -> Any:
    """A schedule's function, called with the event its rule sends."""
    return getattr(app_module, name)(scheduled_event(f"data-engine-local-{name}-event"), LambdaContext(name))


def wait_for(api: Any, request_id: str, timeout: float = 60, collection: str = "erasure-requests") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api("get", f"/gdpr/{collection}/{request_id}").json_body
        if body["status"] in ("DONE", "FAILED"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{collection}/{request_id} did not finish in time")


# -- erasure requests -------------------------------------------------------------------


def test_an_email_becomes_the_subject_id_at_once_and_is_never_stored(api: Any, stack: boto3.Session) -> None:
    response = api("post", "/gdpr/erasure-requests", {"email": " Anna.Schmidt@Example.com"})
    assert response.status_code == 202
    request_id = response.json_body["request_id"]
    shown = api("get", f"/gdpr/erasure-requests/{request_id}").json_body
    assert shown["status"] == "PENDING"
    assert shown["subject_id"] == subject_id_of_email("anna.schmidt@example.com", wiring.subject_key())
    stored = json.dumps(stack.client("dynamodb").scan(TableName=RESOURCES.table("config").name)["Items"])
    assert "schmidt" not in stored.lower()


def test_many_requests_in_one_call_are_all_or_nothing(api: Any) -> None:
    many = api("post", "/gdpr/erasure-requests", {"requests": [{"email": "a@example.com"}, {"subject_id": "s" * 64}]})
    assert many.status_code == 202 and len(many.json_body["requests"]) == 2
    # one bad item refuses the call, and names the item without echoing it
    bad = api("post", "/gdpr/erasure-requests", {"requests": [{"email": "b@example.com"}, {"email": "nope"}]})
    assert bad.status_code == 400 and "requests[1]" in bad.json_body["Message"]
    assert "nope" not in bad.json_body["Message"]
    started = api("post", "/gdpr/erasure-jobs?max_requests=10").json_body
    assert started["requests"] == 2  # the refused call stored nothing


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/gdpr/erasure-requests", {"email": "not-an-email"}, 400),
        ("post", "/gdpr/erasure-requests", {"email": "a@example.com", "subject_id": "s" * 64}, 400),
        ("post", "/gdpr/erasure-requests", {"subject_id": "short"}, 400),
        ("post", "/gdpr/erasure-requests", {"name": "Anna"}, 400),
        ("post", "/gdpr/erasure-requests", {"requests": [{"subject_id": "s" * 64}] * 101}, 413),
        ("get", "/gdpr/erasure-requests/er-00000000000000000000000000000000", None, 404),
        ("get", "/gdpr/erasure-requests/anything", None, 404),
        ("post", "/gdpr/erasure-jobs?max_requests=100000", None, 400),
    ],
)
def test_bad_requests_get_clear_client_errors(api: Any, method: str, path: str, body: Any, status: int) -> None:
    response = api(method, path, body)
    assert response.status_code == status
    assert response.json_body["Message"] and "not-an-email" not in response.json_body["Message"]


def test_routes_need_a_token(app_module: ModuleType) -> None:
    with Client(app_module.app, stage_name="local") as client:
        assert client.http.post("/gdpr/erasure-requests", body="{}").status_code == 401


def test_a_job_started_through_the_api_erases_two_subjects_everywhere(
    api: Any, samples: dict[str, Ingested], stack: boto3.Session
) -> None:
    s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
    key = wiring.subject_key()
    erased = {subject_id_of_email(email, key) for email in ERASED}
    before = snapshot(s3)
    others_before = [
        r
        for r in lake_rows(s3, functools.reduce(operator.iadd, (i.lake_keys for i in samples.values()), []))
        if r["subject_id"] not in erased
    ]
    # WHEN two subjects are requested (one by email, one by id) and a job is started now
    first = api("post", "/gdpr/erasure-requests", {"email": ERASED[0]}).json_body["request_id"]
    second = api("post", "/gdpr/erasure-requests", {"subject_id": subject_id_of_email(ERASED[1], key)}).json_body[
        "request_id"
    ]
    started = api("post", "/gdpr/erasure-jobs")
    assert started.status_code == 202 and started.json_body["requests"] == 2
    # THEN both requests are done with a report of objects, rows and cost
    reports = [wait_for(api, first), wait_for(api, second)]
    assert [r["status"] for r in reports] == ["DONE", "DONE"], reports[0]["report"]["error"]
    for report in (r["report"] for r in reports):
        assert report["objects_rewritten"] == 2 and report["rows_removed"] == 2  # lake + raw
        assert report["state_keeper_records_forgotten"] == 1 and report["verification"]["clean"]
        assert 0 < report["cost_usd"]["request"] < 0.01
        assert report["sap"] == "NOT_IN_SAP"  # these samples were never dispatched to SAP
    # and nothing of them is left in any bucket or the State Keeper
    after = snapshot(s3)
    for name, blob in after.items():
        text = blob.decode("utf-8", "replace").lower()
        assert not any(e in text for e in ERASED) and not any(s.encode() in blob for s in erased)
        if "eventbrite" in name:  # (the ticketshop file has another Anna Schmidt, another email)
            assert "schmidt" not in text and "rossi" not in text and "+49 151 23456789" not in text
    assert not any(s in json.dumps(state_items(dynamodb)) for s in erased)
    # while every other record is as it was: untouched objects byte for byte, other rows equal
    touched = {
        f"{BUCKETS['raw']}/{samples['eventbrite'].raw_key}",
        *(f"{BUCKETS['lake']}/{k}" for k in samples["eventbrite"].lake_keys),
    }
    assert {k: v for k, v in after.items() if k not in touched and "athena" not in k} == {
        k: v for k, v in before.items() if k not in touched
    }
    assert lake_rows(s3, functools.reduce(operator.iadd, (i.lake_keys for i in samples.values()), [])) == others_before
    # and operations got one mail for the job
    assert stack.client("ses").get_send_quota()["SentLast24Hours"] == 1
    # and the job, done, released the lock and cannot be cancelled any more
    assert wiring.erasure_requests().job_lock() is None
    cancelled = api("post", f"/gdpr/erasure-jobs/{started.json_body['job_id']}/cancel")
    assert cancelled.status_code == 409 and "DONE" in cancelled.json_body["Message"]
    assert api("post", "/gdpr/erasure-jobs/ej-20260101T000000-00000000/cancel").status_code == 404


def test_a_second_job_start_is_a_409_while_one_runs(api: Any) -> None:
    # GIVEN a job holding the lock, its execution being started
    assert wiring.erasure_requests().take_job_lock("ej-20261201T000000-0000abcd")
    api("post", "/gdpr/erasure-requests", {"subject_id": "u" * 64})
    # WHEN another start comes (from a privacy token; an operator may not start one)
    assert api("post", "/gdpr/erasure-jobs", role="operator").status_code == 403
    refused = api("post", "/gdpr/erasure-jobs")
    # THEN it is refused, naming the running job, and the request still waits
    assert refused.status_code == 409 and "ej-20261201T000000-0000abcd" in refused.json_body["Message"]
    assert wiring.erasure_requests().pending(10)


# -- retention policies -----------------------------------------------------------------


def test_only_the_privacy_role_changes_retention_policies(api: Any) -> None:
    assert api("put", "/gdpr/retention-policies/events", POLICY, role="operator").status_code == 403
    stored = api("put", "/gdpr/retention-policies/events", POLICY)
    assert stored.status_code == 200 and stored.json_body["policy_id"] == "source=*/event=*"
    assert api("get", "/gdpr/retention-policies", role="viewer").json_body["policies"][0]["name"] == "events"
    assert api("get", "/gdpr/retention-policies/events").json_body["days_after_event"] == 30
    assert api("get", "/gdpr/retention-policies/none").status_code == 404
    assert (
        api("put", "/gdpr/retention-policies/bad", {"days_after_event": -1, "fields": {}}, role="admin").status_code
        == 400
    )
    assert api("put", "/gdpr/retention-policies/Bad Name", POLICY, role="admin").status_code == 400
    assert api("delete", "/gdpr/retention-policies/events", role="admin").status_code == 204
    assert api("get", "/gdpr/retention-policies").json_body["policies"] == []


# -- anonymization ----------------------------------------------------------------------


def test_anonymization_changes_only_what_is_due_and_a_second_run_changes_nothing(
    samples: dict[str, Ingested], stack: boto3.Session
) -> None:
    s3 = stack.client("s3")
    wiring.retention_policies().put("events", RetentionPolicy.model_validate(POLICY), "test")
    before = snapshot(s3)
    eventbrite, ticketshop = samples["eventbrite"], samples["ticketshop"]
    # WHEN a dry run, then a run, on a day the eventbrite event (2026-10-01) is 45 days past
    today = date(2026, 11, 15)
    dry = wiring.anonymization_run().run(today=today, dry_run=True)
    assert snapshot(s3) == before
    done = wiring.anonymization_run().run(today=today)
    # THEN the dry run counted what the run did
    assert dry.lake_rows_anonymized == done.lake_rows_anonymized == len(eventbrite.valid)
    assert dry.raw_records_anonymized == done.raw_records_anonymized == len(eventbrite.valid)
    assert done.documents_anonymized == len(eventbrite.valid) and done.raw_objects_changed == 1
    # eventbrite's lake rows and raw records hold no name, email or phone any more
    for row in lake_rows(s3, eventbrite.lake_keys):
        assert row["first_name"] is row["last_name"] is row["phone"] is None
        assert row["email"].startswith("psn_") and row["subject_id"]
    raw = s3.get_object(Bucket=BUCKETS["raw"], Key=eventbrite.raw_key)["Body"].read().decode()
    assert "anna.schmidt@example.com" not in raw and "Schmidt" not in raw and "+49 151 23456789" not in raw
    assert "not-an-email" in raw  # a quarantined record never reached the lake: not the lake's to anonymize
    # ticketshop's events (2027) are not due: every byte as it was
    after = snapshot(s3)
    for key in [f"{BUCKETS['raw']}/{ticketshop.raw_key}", *(f"{BUCKETS['lake']}/{k}" for k in ticketshop.lake_keys)]:
        assert after[key] == before[key]
    # the State Keeper hears ANONYMIZED for each changed document
    sent = stack.client("sqs").receive_message(
        QueueUrl=wiring.queue_url(RESOURCES.queue("state-changes").name), MaxNumberOfMessages=10
    )
    assert sent.get("Messages")
    # AND a second run is a no-op
    again = wiring.anonymization_run().run(today=today)
    assert (again.lake_objects_changed, again.raw_objects_changed, again.documents_anonymized) == (0, 0, 0)
    assert snapshot(s3) == after


def test_the_anonymization_schedule_and_the_dry_run_route(
    api: Any, app_module: ModuleType, samples: dict[str, Ingested], stack: boto3.Session
) -> None:
    api(
        "put",
        "/gdpr/retention-policies/eventbrite",
        {**POLICY, "source": "eventbrite", "days_after_event": 0},
        role="admin",
    )
    # a run is started (202) and followed: the API never waits for the lake to be read
    started = api("post", "/gdpr/anonymization-runs?dry_run=true")
    assert started.status_code == 202 and started.json_body["dry_run"] and started.json_body["trigger"] == "api"
    dry = wait_for(api, started.json_body["run_id"], collection="anonymization-runs")
    assert dry["status"] == "DONE" and dry["report"]["lake_rows_anonymized"] == len(samples["eventbrite"].valid)
    assert api("post", "/gdpr/anonymization-runs", role="operator").status_code == 403  # runs: privacy
    fired = fire(app_module, "gdpr_anonymization")
    assert fired["trigger"] == "schedule" and fired["status"] == "DONE"
    assert fired["report"]["lake_rows_anonymized"] == len(samples["eventbrite"].valid)
    again = fire(app_module, "gdpr_anonymization")
    assert again["report"]["lake_objects_changed"] == 0
    # the runs are listed newest first
    listed = [run["run_id"] for run in api("get", "/gdpr/anonymization-runs").json_body["runs"]]
    assert listed == [again["run_id"], fired["run_id"], started.json_body["run_id"]]
    assert api("get", "/gdpr/anonymization-runs/20260101T000000000000Z-0000abcd").status_code == 404
    assert api("get", "/gdpr/anonymization-runs/not-a-run").status_code == 404


def test_the_erasure_batch_schedule_starts_a_job_only_when_requests_wait(api: Any, app_module: ModuleType) -> None:
    assert fire(app_module, "gdpr_erasure_batch") == {"started": False, "requests": 0}
    request_id = api("post", "/gdpr/erasure-requests", {"subject_id": "u" * 64}).json_body["request_id"]
    started = fire(app_module, "gdpr_erasure_batch")
    assert started["started"] and started["requests"] == 1
    assert wait_for(api, request_id)["status"] == "DONE"  # nobody to find: done, verified clean

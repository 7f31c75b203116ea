"""The daily summary after a small pipeline run: its figures are what the State Keeper and queues hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from chalice.app import ScheduledEventConfig

from chalicelib import operations, wiring
from chalicelib.erasure.requests import JOB_DONE, batch_pending_requests
from chalicelib.erasure.workflow import JOBS_PREFIX
from chalicelib.ingest.uploads import file_id_for, raw_key
from chalicelib.mail import InMemoryMailer
from chalicelib.operations.daily_summary import send_daily_summary
from chalicelib.resources import for_stage
from chalicelib.state_keeper.lifecycle import State, StateChange
from devstack.emulator import LambdaContext
from devstack.events import scheduled_event
from devstack.stack import load_app
from tests.integration.on_the_emulator import queue_url, settle

RESOURCES = for_stage("local")


def a_record(number: int, email: str) -> dict[str, Any]:
    return {
        "platform": "shop",
        "record_id": f"r-{number}",
        "contact": {"email": email, "first_name": "Ada", "last_name": "Lovelace"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
    }


@pytest.fixture
def after_a_day(stack: boto3.Session) -> dict[str, Any]:
    """A small day: four records in one file (one invalid), SAP answers two of them, a
    parked webhook, a throttle change and a 429, one erasure job done and one request waiting."""
    records = [a_record(n, f"person{n}@example.org") for n in range(3)] + [a_record(3, "not an email")]
    content = "\n".join(json.dumps(r) for r in records).encode()
    key = raw_key("canonical", file_id_for(content), ".jsonl")
    stack.client("s3").put_object(Bucket=RESOURCES.bucket("raw").name, Key=key, Body=content)
    assert settle(stack, key) == {"INVALID": 1, "QUEUED_FOR_SAP": 3}
    queued = sorted(d["document_id"] for d in wiring.state_queries().list_documents("QUEUED_FOR_SAP")["documents"])
    answered = datetime.now(UTC)
    wiring.state_store().apply(
        [
            StateChange(document_id=queued[0], state=State.DELIVERED, at=answered, component="sap-dispatch"),
            StateChange(
                document_id=queued[1],
                state=State.REJECTED_BY_SAP,
                at=answered,
                component="sap-dispatch",
                reason_code="SAP_400_HPA_MKT_IA_027",
            ),
        ]
    )
    stack.client("sqs").send_message(QueueUrl=queue_url(stack, "webhooks-dlq"), MessageBody="{}")
    throttle = wiring.sap_throttle()
    throttle.configure(requests_per_second=3)
    throttle.overloaded(1.0)
    requests = wiring.erasure_requests()
    requests.create("subject-erased")
    job = batch_pending_requests(requests)
    assert job is not None
    requests.finish_job(job.job_id, JOB_DONE, {"cost_usd": {"total": 0.0123}, "cost_usd_per_request": 0.0123})
    stack.client("s3").put_object(
        Bucket=RESOURCES.bucket("athena-results").name, Key=f"{JOBS_PREFIX}{job.job_id}/report.json", Body=b"{}"
    )
    requests.create("subject-waiting")
    subjects = {r.subject_id for r in wiring.state_store().get_many(queued).values()}
    return {"queued": queued, "job_id": job.job_id, "subjects": subjects, "records": records}


def test_the_summary_counts_what_the_state_keeper_and_the_queues_hold(
    stack: boto3.Session, after_a_day: dict[str, Any]
) -> None:
    # WHEN the summary runs three hours later (the whole period covers the run)
    mailer = InMemoryMailer()
    now = datetime.now(UTC) + timedelta(hours=3)
    figures = send_daily_summary(wiring.summary_sources(), mailer, now=now)

    # THEN documents per state and source are the State Keeper's
    assert figures["records"]["per_source"] == {
        "canonical": {
            "RECEIVED": 4,
            "NORMALIZED": 3,
            "INVALID": 1,
            "QUEUED_FOR_SAP": 3,
            "DELIVERED": 1,
            "REJECTED_BY_SAP": 1,
        }
    }
    # AND rejects by reason code, stuck documents with their ids
    rejects = {group["state"]: group["reasons"] for group in figures["rejects"]["states"]}
    assert rejects == {
        "INVALID": [{"reason_code": "INVALID_EMAIL", "documents": 1}],
        "REJECTED_BY_SAP": [{"reason_code": "SAP_400_HPA_MKT_IA_027", "documents": 1}],
    }
    stuck = {s["state"]: s for s in figures["stuck"]["states"]}
    still_queued = [d["document_id"] for d in wiring.state_queries().list_documents("QUEUED_FOR_SAP")["documents"]]
    assert stuck["QUEUED_FOR_SAP"]["ids"] == still_queued == [after_a_day["queued"][2]]
    assert stuck["RECEIVED"]["documents"] == stuck["NORMALIZED"]["documents"] == 0
    # AND the queues' depths as SQS tells them
    assert figures["queues"] == [
        {k: d[k] for k in ("queue", "name", "dead_letter", "waiting", "in_flight", "delayed")}
        for d in operations.queue_depths(RESOURCES, stack.client("sqs"))
    ]
    depth = {q["queue"]: q["waiting"] for q in figures["queues"]}
    assert depth["webhooks-dlq"] == 1 and depth["sap-dispatch"] >= 1
    # AND SAP's throttle change and 429, the erasure job with its cost and the waiting request
    assert figures["sap"]["requests_per_second"] == 3 and figures["sap"]["overload_answers"] == 1
    assert [c["settings"] for c in figures["sap"]["changes"]] == [{"requests_per_second": 3}]
    gdpr = figures["gdpr"]
    assert [(j["job_id"], j["status"], j["requests"], j["cost_usd"]) for j in gdpr["jobs"]] == [
        (after_a_day["job_id"], "DONE", 1, 0.0123)
    ]
    assert gdpr["requests_pending"] == 1 and gdpr["cost_usd"] == 0.0123

    # AND one mail, plain text and HTML, with counts and ids but no personal data
    ((subject, text),) = mailer.sent
    (page,) = mailer.html
    assert subject.startswith("[data-engine local] daily summary") and "4 received, 1 delivered, 1 invalid" in subject
    assert page is not None and page.startswith("<html>") and "INVALID_EMAIL" in page
    for body in (text, page):
        assert after_a_day["job_id"] in body and after_a_day["queued"][2] in body and "webhooks-dlq" in body
        assert "@" not in body and "Ada" not in body and "Lovelace" not in body
        assert not any(subject_id in body for subject_id in after_a_day["subjects"] | {"subject-erased"})


def test_a_quiet_day_gives_a_summary_of_zeros(stack: boto3.Session) -> None:
    mailer = InMemoryMailer()
    figures = send_daily_summary(wiring.summary_sources(), mailer, now=datetime.now(UTC))
    assert figures["records"] == {"per_source": {}, "total": {}}
    assert figures["gdpr"]["jobs"] == [] and figures["sap"]["overload_answers"] == 0
    assert "Documents entering each state" in mailer.sent[0][1]


def test_the_schedule_is_declared_and_mails_through_ses(stack: boto3.Session) -> None:
    # GIVEN the app as Lambda (and `python -m devstack fire daily_summary`) finds it
    app_module = load_app()
    schedules = {s.name: s for s in app_module.app.event_sources if isinstance(s, ScheduledEventConfig)}
    assert schedules["daily_summary"].schedule_expression == RESOURCES.schedule("daily-summary").expression
    ses = stack.client("ses")
    before = ses.get_send_quota()["SentLast24Hours"]

    # WHEN its rule fires
    result = app_module.daily_summary(scheduled_event("daily-summary"), LambdaContext("daily_summary"))

    # THEN one mail went out through SES, to the stage's summary recipients
    assert ses.get_send_quota()["SentLast24Hours"] == before + 1
    assert result["stage"] == "local" and RESOURCES.alerting.summary_to

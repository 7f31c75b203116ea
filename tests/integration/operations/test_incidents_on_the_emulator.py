"""The dead-letter watch on the emulator: incidents in the config table, one mail per change."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib import operations, wiring
from chalicelib.mail import InMemoryMailer
from chalicelib.operations.incidents import DynamoIncidents
from chalicelib.resources import for_stage
from chalicelib.state_keeper.lifecycle import State, StateChange
from tests.integration.on_the_emulator import queue_url

RESOURCES = for_stage("local")
CONFIG = RESOURCES.table("config").name
DLQ = RESOURCES.queue("webhooks").dead_letter
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
REMINDER = timedelta(hours=RESOURCES.alerting.reminder_hours)


def watch(mailer: InMemoryMailer, now: datetime, incidents: Any = None) -> dict[str, Any]:
    return operations.watch_dead_letter_queues(
        RESOURCES,
        wiring.client("sqs"),
        mailer,
        incidents or wiring.incidents(),
        wiring.state_store(),
        now=now,
    )


def park_a_message(session: boto3.Session) -> None:
    session.client("sqs").send_message(QueueUrl=queue_url(session, "webhooks-dlq"), MessageBody="{}")


def test_a_dead_letter_incident_opens_reminds_and_resolves_with_one_mail_each(stack: boto3.Session) -> None:
    # GIVEN a delivery parked in the webhooks DLQ
    park_a_message(stack)
    mailer = InMemoryMailer()

    # WHEN the watch runs every 15 minutes until the reminder is due, then after a replay
    opened = watch(mailer, T0)
    quiet = [watch(mailer, T0 + timedelta(minutes=15 * n)) for n in range(1, 4)]
    reminded = watch(mailer, T0 + REMINDER)
    stack.client("sqs").purge_queue(QueueUrl=queue_url(stack, "webhooks-dlq"))
    resolved = watch(mailer, T0 + REMINDER + timedelta(minutes=15))
    after = watch(mailer, T0 + REMINDER + timedelta(minutes=30))

    # THEN three mails: opened, one reminder, resolved; quiet runs send none
    assert opened["mailed"] == {"dlq:webhooks-dlq": "OPENED"}
    assert opened["dead_letter_messages"][DLQ.name] == 1
    assert all(run["mailed"] == {} for run in quiet) and after["mailed"] == {}
    assert reminded["mailed"] == {"dlq:webhooks-dlq": "REMINDED"}
    assert resolved["mailed"] == {"dlq:webhooks-dlq": "RESOLVED"}
    subjects = [subject for subject, _ in mailer.sent]
    assert subjects == [
        f"[data-engine local] incident opened: dead-letter queue {DLQ.name}",
        f"[data-engine local] incident still open: dead-letter queue {DLQ.name}",
        f"[data-engine local] incident resolved: dead-letter queue {DLQ.name}",
    ]
    assert "1 message(s)" in mailer.sent[0][1] and "@" not in mailer.sent[0][1]
    # AND the incident is kept in a partition of its own in the config table
    item = stack.client("dynamodb").get_item(
        TableName=CONFIG, Key={"pk": {"S": "incidents"}, "sk": {"S": "dlq:webhooks-dlq"}}
    )["Item"]
    assert item["status"]["S"] == "RESOLVED" and item["reminders"]["N"] == "1"


class ReadTogether:
    """A DynamoDB client whose reads of the incidents wait until both runs have read."""

    def __init__(self, client: Any, barrier: threading.Barrier) -> None:
        self.client, self.barrier = client, barrier

    def query(self, **request: Any) -> Any:
        response = self.client.query(**request)
        self.barrier.wait(timeout=30)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_two_watch_runs_at_once_mail_an_incident_once(stack: boto3.Session) -> None:
    # GIVEN a parked message and two runs that both read the incidents before either writes
    park_a_message(stack)
    barrier = threading.Barrier(2)
    mailer = InMemoryMailer()
    results: list[dict[str, Any]] = []
    wiring.state_store()  # built once, before the threads

    def one_run() -> None:
        book = DynamoIncidents(CONFIG, ReadTogether(wiring.client("dynamodb"), barrier))
        results.append(watch(mailer, T0, incidents=book))

    # WHEN they run concurrently
    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=60)

    # THEN exactly one of them claimed the opening and mailed it
    assert len(results) == 2
    assert sorted(len(result["mailed"]) for result in results) == [0, 1]
    assert len(mailer.sent) == 1


def test_documents_stuck_in_flight_open_an_incident(stack: boto3.Session) -> None:
    # GIVEN a document queued for SAP three hours ago that never got an answer
    queued = T0 - timedelta(hours=3)
    wiring.state_store().apply(
        [StateChange(document_id="doc-1", state=State.QUEUED_FOR_SAP, at=queued, component="normalize")]
    )
    mailer = InMemoryMailer()

    # WHEN the watch runs
    result = watch(mailer, T0)

    # THEN one incident for the state, naming how many (ids and counts only)
    assert result["mailed"] == {"stuck:QUEUED_FOR_SAP": "OPENED"}
    ((_subject, body),) = mailer.sent
    assert "documents in QUEUED_FOR_SAP for more than 120 min: 1 document(s)" in body

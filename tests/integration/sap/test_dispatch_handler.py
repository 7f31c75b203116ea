"""`app.py`'s SAP dispatch on the emulator and the stand-in: outbox → FIFO queue → handler → SAP.

The queue handler runs as the local runtime runs it (`QueuePoller` with `dispatch_to_sap`),
credentials come from the declared `sap` secret (the deployed path), the throttle and the
ledger live in the emulator's DynamoDB, and the State Keeper hears every outcome.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.mail import SesMailer
from chalicelib.normalize.schema import Consent, Contact, Interaction, InteractionType, Lineage, NormalizedRecord
from chalicelib.resources import for_stage
from chalicelib.sap.ledger import Settlement
from chalicelib.sap.payloads import DispatchMessage, DispatchRecord
from chalicelib.state_keeper.lifecycle import State, StateChange
from devstack.emulator import Emulator, LambdaContext
from devstack.events import scheduled_event, sqs_record
from devstack.pollers import QueuePoller
from devstack.stack import load_app
from sapstandin import StandIn
from tests.unit.sap.sample_records import a_record

RESOURCES = for_stage("local")
QUEUE = RESOURCES.queue("sap-dispatch")
AT = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def a_normalized(number: int, *, email: str | None = None) -> NormalizedRecord:
    return NormalizedRecord(
        document_id=f"doc-{number:04d}",
        subject_id=f"subject-{number % 7}",
        contact=Contact(
            email=email or f"person{number % 7}@example.com",
            first_name="Ann",
            last_name="Example",
            country="DE",
            language="de",
            marketing_consent=Consent(granted=True, source="form"),
        ),
        interaction=Interaction(
            type=InteractionType.REGISTRATION, occurred_at=AT, amount=Decimal("10"), currency="EUR"
        ),
        lineage=Lineage(
            source="canonical",
            source_record_id=f"r{number}",
            raw_key="incoming/x.jsonl",
            position=number,
            ingested_at=AT,
        ),
    )


class Sap:
    """The dispatch path of the local stack, driven step by step."""

    def __init__(self, session: boto3.Session, app_module: ModuleType, standin: StandIn, emulator: Emulator) -> None:
        self.session, self.app_module, self.standin, self.emulator = session, app_module, standin, emulator
        self.sqs = session.client("sqs")
        self.url = self.sqs.get_queue_url(QueueName=QUEUE.name)["QueueUrl"]
        assert QUEUE.dead_letter is not None
        self.dlq_url = self.sqs.get_queue_url(QueueName=QUEUE.dead_letter.name)["QueueUrl"]
        self.poller = QueuePoller(
            self.sqs, self.url, app_module.dispatch_to_sap, "dispatch_to_sap", batch_size=10, wait_seconds=0
        )

    def queue(self, records: list[NormalizedRecord]) -> list[str]:
        """What the normalize step does: outbox, then QUEUED_FOR_SAP."""
        queued_at = datetime.now(UTC)  # before the send, as the normalize step stamps it
        result = wiring.sap_outbox().send(records)
        with wiring.state_reporter() as reporter:
            for document_id in result.queued:
                reporter.report(
                    StateChange(
                        document_id=document_id, state=State.QUEUED_FOR_SAP, at=queued_at, component="normalize"
                    )
                )
        return result.queued

    def depth(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def run_until_empty(self, time_limit: float = 20.0) -> None:
        deadline = time.monotonic() + time_limit
        while self.depth():
            assert time.monotonic() < deadline, "the dispatch queue did not drain in time"
            if not self.poller.poll_once():
                time.sleep(0.2)

    def states(self) -> dict[str, str]:
        """Every document's current state, after the State Keeper took all reported changes."""
        keeper, sqs = wiring.state_keeper(), self.sqs
        url = sqs.get_queue_url(QueueName=RESOURCES.queue("state-changes").name)["QueueUrl"]
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
            assert keeper.handle(records) == {"batchItemFailures": []}
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        items = self.session.client("dynamodb").scan(
            TableName=RESOURCES.table("state").name,
            FilterExpression="sk = :doc",
            ExpressionAttributeValues={":doc": {"S": "doc"}},
        )["Items"]
        ids = [item["pk"]["S"].removeprefix("doc#") for item in items]
        return {document_id: wiring.state_queries().get_document(document_id)["state"] for document_id in ids}

    def document(self, document_id: str) -> dict[str, Any]:
        self.states()
        return wiring.state_queries().get_document(document_id)

    def mails_sent(self) -> int:
        return int(self.session.client("ses").get_send_quota()["SentLast24Hours"])


class RecordingMailer(SesMailer):
    """The real SES mailer that also keeps what it sent, for the test to read."""

    def __init__(self) -> None:
        super().__init__(RESOURCES.mail_from, list(RESOURCES.mail_to), wiring.client("ses"))
        self.sent: list[tuple[str, str]] = []

    def send(self, subject: str, body: str) -> None:
        super().send(subject, body)
        self.sent.append((subject, body))


@pytest.fixture
def sap(stack: boto3.Session, emulator: Emulator, standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> Sap:
    # GIVEN the declared `sap` secret points at the stand-in, as an operator would set it
    secret = RESOURCES.secret("sap")
    stack.client("secretsmanager").put_secret_value(
        SecretId=secret.name,
        SecretString=json.dumps({"base_url": standin.url, "user": standin.user, "password": standin.password}),
    )
    monkeypatch.setenv(secret.env, secret.name)
    for name in ("SAP_SECRET_ARN", "SAP_PARAMETER", "SAP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAP_RECORDS_PER_REQUEST", "10")
    wiring.sap_throttle().configure(requests_per_second=200, records_per_second=100_000)
    return Sap(stack, load_app(), standin, emulator)


def test_queued_records_reach_sap_once_and_the_state_keeper_hears_delivered(sap: Sap) -> None:
    queued = sap.queue([a_normalized(n) for n in range(30)])

    sap.run_until_empty()

    assert len(queued) == 30
    assert set(sap.states().values()) == {"DELIVERED"} and len(sap.states()) == 30
    counts = sap.standin.records()["counts"]
    assert (counts["contacts"], counts["interactions"], counts["duplicates"]) == (7, 30, 0)
    history = sap.document("doc-0001")["history"]
    assert [entry["state"] for entry in history] == ["QUEUED_FOR_SAP", "DELIVERED"]


def test_a_bad_part_is_rejected_with_a_reason_code_and_the_others_are_delivered(sap: Sap) -> None:
    # GIVEN one message whose middle record has an interaction for a contact SAP does not know
    orphan = DispatchRecord(
        record_id="orphan", subject_id="nobody", interactions=[a_record(99, subject="nobody").interactions[0]]
    )
    body = DispatchMessage(records=[a_record(1), orphan, a_record(2)]).model_dump_json()
    sap.sqs.send_message(QueueUrl=sap.url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="bad-part")

    sap.run_until_empty()

    # THEN SAP applied the others; the State Keeper holds SAP's code, never its message
    assert sap.states() == {"record-1": "DELIVERED", "orphan": "REJECTED_BY_SAP", "record-2": "DELIVERED"}
    (rejection,) = [e for e in sap.document("orphan")["history"] if e["state"] == "REJECTED_BY_SAP"]
    assert rejection["reason_code"] == "SAP_400_HPA_MKT_IA_027"
    assert sap.standin.records()["counts"]["interactions"] == 2
    assert wiring.sap_ledger().state("orphan") == "REJECTED_BY_SAP"


def test_csrf_expiry_mid_run_fetches_a_new_token_and_delivers_everything(sap: Sap) -> None:
    sap.queue([a_normalized(n) for n in range(10)])
    sap.poller.poll_once()

    # WHEN SAP forgets the session's token between two batches
    sap.standin.expire_csrf_tokens()
    sap.queue([a_normalized(n) for n in range(10, 20)])
    sap.run_until_empty()

    assert set(sap.states().values()) == {"DELIVERED"} and len(sap.states()) == 20
    assert sap.standin.stats()["csrf_rejections"] >= 1 and sap.standin.stats()["csrf_fetches"] == 2


def test_sap_down_then_back_comes_back_through_sqs_visibility_and_delivers_once(sap: Sap) -> None:
    # GIVEN SAP answers 503 (Retry-After 1 s) for four seconds: longer than the run's own two
    # retries wait (a second each)
    sap.standin.go_down(4, retry_after=1)
    sap.queue([a_normalized(n) for n in range(20)])

    # WHEN the poller runs until the queue is empty (the rest of the wait is in SQS, not in Lambda)
    started = time.monotonic()
    sap.run_until_empty()

    # THEN everything is delivered once, after SAP came back
    assert time.monotonic() - started >= 4.0
    assert set(sap.states().values()) == {"DELIVERED"} and len(sap.states()) == 20
    assert sap.standin.stats()["status_503"] >= 1
    assert sap.standin.records()["counts"]["duplicates"] == 0
    assert sap.poller.stats.failed_messages >= 1


def test_a_crash_between_sap_answer_and_queue_delete_sends_nothing_twice(sap: Sap) -> None:
    # GIVEN the handler ran and SAP answered, but the Lambda died before SQS deleted the messages
    sap.queue([a_normalized(n) for n in range(10)])
    messages = sap.sqs.receive_message(QueueUrl=sap.url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    arn = sap.sqs.get_queue_attributes(QueueUrl=sap.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert sap.app_module.dispatch_to_sap(
        {"Records": [sqs_record(m, arn) for m in messages]}, LambdaContext("dispatch_to_sap")
    ) == {"batchItemFailures": []}
    requests_before = sap.standin.stats()["requests"]
    for message in messages:
        sap.sqs.change_message_visibility(QueueUrl=sap.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    # WHEN SQS delivers them again
    sap.run_until_empty()

    # THEN the ledger answers: no request to SAP, nothing twice, still DELIVERED
    assert sap.standin.stats()["requests"] == requests_before
    assert sap.standin.records()["counts"]["interactions"] == 10
    assert set(sap.states().values()) == {"DELIVERED"}


def _dead_letter(sap: Sap) -> None:
    """Redrive as SQS does: receive past maxReceiveCount, and the message moves to the DLQ."""
    for _ in range(QUEUE.max_receive_count + 1):
        sap.sqs.receive_message(QueueUrl=sap.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert sap.depth() == 0 and sap.depth(sap.dlq_url) >= 1


def _dlq_watch(sap: Sap) -> dict[str, Any]:
    return sap.app_module.dlq_watch(scheduled_event("dlq-watch"), LambdaContext("dlq_watch"))


def test_dead_letters_are_parked_with_one_incident_mail_and_stay_replayable(sap: Sap) -> None:
    # GIVEN a message whose first record SAP holds already, and the message in the DLQ
    wiring.sap_ledger().claim("doc-0000:registration", "earlier-dispatcher", 60)
    wiring.sap_ledger().settle(Settlement("doc-0000:registration", "DELIVERED"), "earlier-dispatcher")
    sap.queue([a_normalized(0), a_normalized(7)])  # one subject: one message
    _dead_letter(sap)
    mailer = RecordingMailer()
    wiring.override(mailer=mailer)
    sent_before = sap.mails_sent()

    # WHEN the watch runs twice
    first, second = _dlq_watch(sap), _dlq_watch(sap)

    # THEN the record SAP lacks is PARKED (once), the delivered one is left alone, and the
    # incident the first run opened is mailed once (the second run finds it open)
    assert first["sap"] == {"messages": 1, "parked_records": 1, "final_records": 1, "unreadable_messages": 0}
    assert second["sap"] == first["sap"]
    document = sap.document("doc-0007")
    assert document["state"] == "PARKED"
    assert [entry["state"] for entry in document["history"]] == ["QUEUED_FOR_SAP", "PARKED"]
    assert sap.document("doc-0000")["state"] == "QUEUED_FOR_SAP"  # the test never reported its delivery
    assert first["mailed"] == {"dlq:sap-dispatch-dlq": "OPENED"} and second["mailed"] == {}
    assert len(mailer.sent) == 1 and sap.mails_sent() - sent_before == 1
    _subject, body = mailer.sent[0]
    assert "doc-0007" in body and "doc-0000" not in body
    assert "@" not in body.replace(RESOURCES.mail_from, "") and "Ann" not in body
    assert sap.depth(sap.dlq_url) == 1


@pytest.fixture
def api(sap: Sap, stack: boto3.Session) -> Any:
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    headers = {
        role: {
            "Authorization": f"Bearer {tokens.create(f'sap-{role}', role, 1).token}",
            "Content-Type": "application/json",
        }
        for role in ("viewer", "operator", "admin")
    }
    with Client(sap.app_module.app, stage_name="local") as client:

        def call(method: str, path: str, body: Any = None, role: str = "operator") -> Any:
            return getattr(client.http, method)(
                path, headers=headers[role], body=json.dumps(body) if body is not None else None
            )

        yield call


def test_replay_moves_dead_letters_back_and_they_are_delivered(sap: Sap, api: Any) -> None:
    # GIVEN parked records (SAP was down for longer than all retries)
    sap.queue([a_normalized(n) for n in range(3)])
    _dead_letter(sap)
    _dlq_watch(sap)
    assert set(sap.states().values()) == {"PARKED"}

    # WHEN a viewer tries, then an operator replays
    assert api("post", "/sap/replay", role="viewer").status_code == 403
    response = api("post", "/sap/replay")

    # THEN the messages are back on the queue, QUEUED_FOR_SAP, and get delivered
    assert response.status_code == 200
    assert response.json_body["requeued_records"] == 3
    assert sap.depth(sap.dlq_url) == 0
    assert set(sap.states().values()) == {"QUEUED_FOR_SAP"}
    sap.run_until_empty()
    assert set(sap.states().values()) == {"DELIVERED"}
    history = [entry["state"] for entry in sap.document("doc-0001")["history"]]
    assert history == ["QUEUED_FOR_SAP", "PARKED", "QUEUED_FOR_SAP", "DELIVERED"]
    assert sap.standin.records()["counts"]["duplicates"] == 0


def test_one_parked_document_is_retried_alone_and_a_later_replay_sends_it_no_second_time(sap: Sap, api: Any) -> None:
    # GIVEN three records parked in one dead letter
    sap.queue([a_normalized(n) for n in range(3)])
    _dead_letter(sap)
    _dlq_watch(sap)
    assert set(sap.states().values()) == {"PARKED"}
    # WHEN an operator retries one of them (a viewer may not)
    assert api("post", "/documents/doc-0001/retry", role="viewer").status_code == 403
    response = api("post", "/documents/doc-0001/retry")
    # THEN only that one is queued and delivered; the dead letters stay for the others
    assert response.status_code == 202 and response.json_body["requeued"]
    sap.run_until_empty()
    states = sap.states()
    assert states == {"doc-0000": "PARKED", "doc-0001": "DELIVERED", "doc-0002": "PARKED"}
    assert sap.depth(sap.dlq_url) == 3  # one message per record here
    # a document in another state is not retried
    assert api("post", "/documents/doc-0001/retry").status_code == 409
    assert api("post", "/documents/doc-9999/retry").status_code == 404
    # AND the replay of the whole dead letter delivers the others, and doc-0001 not again
    assert api("post", "/sap/replay").status_code == 200
    sap.run_until_empty()
    assert set(sap.states().values()) == {"DELIVERED"}
    assert sap.standin.records()["counts"]["duplicates"] == 0
    history = [entry["state"] for entry in sap.document("doc-0001")["history"]]
    assert history[:4] == ["QUEUED_FOR_SAP", "PARKED", "QUEUED_FOR_SAP", "DELIVERED"]
    assert set(history[4:]) <= {"DELIVERED"}  # the replay's answer from the ledger: SAP got it once


def test_the_replay_function_moves_dead_letters_back(sap: Sap) -> None:
    sap.queue([a_normalized(1)])
    _dead_letter(sap)

    result = sap.app_module.replay_sap_dead_letters({"limit": 10}, LambdaContext("replay_sap_dead_letters"))

    assert result == {"messages": 1, "requeued_records": 1}
    assert sap.depth() == 1 and sap.depth(sap.dlq_url) == 0


def test_throttle_rates_are_read_and_changed_at_runtime_by_an_admin(sap: Sap, api: Any) -> None:
    assert api("get", "/sap/throttle", role="viewer").status_code == 403  # throttle reads: operator
    shown = api("get", "/sap/throttle").json_body
    assert shown["settings"]["requests_per_second"] == 200

    assert api("put", "/sap/throttle", {"requests_per_second": 40}).status_code == 403
    assert api("put", "/sap/throttle", {"requests_per_second": -1}, role="admin").status_code == 400
    assert api("put", "/sap/throttle", {"burst": 3}, role="admin").status_code == 400
    changed = api("put", "/sap/throttle", {"requests_per_second": 40, "records_per_second": 900}, role="admin")

    assert changed.status_code == 200
    assert changed.json_body["settings"]["requests_per_second"] == 40
    assert wiring.sap_throttle().settings().records_per_second == 900


def test_parking_in_the_emulator_ledger_never_blocks_a_later_claim(stack: boto3.Session) -> None:
    from chalicelib.sap.ledger import DynamoDbLedger

    ledger = DynamoDbLedger(RESOURCES.table("sap-ledger").name, stack.client("dynamodb"))
    ledger.claim("done", "owner", 60)
    ledger.settle(Settlement("done", "DELIVERED"), "owner")

    parked = ledger.park_many(["done", "never-seen"])
    assert list(parked) == ["never-seen"] and ledger.park_many(["never-seen"]) == parked
    assert ledger.unpark_many(["done", "never-seen", "unknown"]) == {"never-seen", "unknown"}
    assert ledger.state("unknown") is None  # an unpark never creates an item
    assert ledger.claim("never-seen", "other", 60).status == "claimed"


def test_a_queued_record_of_an_erased_subject_is_not_sent_to_sap_nor_after_a_dlq_replay(sap: Sap) -> None:
    # GIVEN person 1's first record delivered, then person 1 erased (SAP contact emptied, tombstone
    # written, as the erasure job does), while two older records of theirs still wait on the queue
    sap.queue([a_normalized(1)])
    sap.run_until_empty()
    wiring.sap_erasure().erase(["subject-1"])
    wiring.erasure_tombstones().bury(["subject-1"], datetime.now(UTC), "ej-test")
    late = [a_normalized(8), a_normalized(2)]  # subject-1 (8 % 7) and subject-2
    sap.queue(late)
    # ... and a copy of the erased subject's record parked in the DLQ, replayed later
    parked = DispatchMessage(records=[a_record(50, subject="subject-1", email="person1@example.com")])
    sap.sqs.send_message(
        QueueUrl=sap.dlq_url,
        MessageBody=parked.model_dump_json(),
        MessageGroupId="g",
        MessageDeduplicationId="parked-1",
    )
    # WHEN the dispatcher runs, and the DLQ is replayed and dispatched too
    sap.run_until_empty()
    wiring.replay_sap_dead_letters()
    sap.run_until_empty()
    # THEN SAP holds no email, permission or interaction of person 1 beyond what the erasure left
    records = sap.standin.records()
    assert "person1@example.com" not in json.dumps(records["additional_ids"])
    assert next(c for c in records["contacts"] if c["ContactID"] == "subject-1")["EmailAddress"] is None
    assert {
        i["InteractionSourceObject"] for i in records["interactions"] if i["InteractionContactId"] == "subject-1"
    } == {"doc-0001"}
    # ... person 2 was delivered; person 1's late records are final in the ledger and ERASED
    states = sap.states()
    assert states["doc-0002"] == "DELIVERED"
    assert states["doc-0008"] == "ERASED" and states["record-50"] == "ERASED"
    assert wiring.sap_ledger().state("doc-0008:registration") == "WITHDRAWN"
    erased = [e for e in sap.document("doc-0008")["history"] if e["state"] == "ERASED"]
    assert [e["reason_code"] for e in erased] == ["SUBJECT_ERASED"]

"""Incidents: one mail when a problem appears, reminders at most every N hours, one when it ends."""

from __future__ import annotations

import pytest

from chalicelib.mail import InMemoryMailer
from chalicelib.operations.incidents import (
    Action,
    InMemoryIncidents,
    Observation,
    Status,
    next_step,
    review,
)

HOUR = 3600.0
T0 = 1_790_000_000.0


def dlq(count: int) -> Observation:
    return Observation(
        "dlq:sap-dispatch-dlq", "dead-letter queue data-engine-prod-sap-dispatch-dlq.fifo", count, "message(s)"
    )


def run(book: InMemoryIncidents, mailer: InMemoryMailer, count: int, at: float) -> dict[str, object]:
    return review([dlq(count)], book, mailer, now=at, reminder_hours=4, title="data-engine prod")


def test_a_dead_letter_queue_that_fills_opens_one_incident_with_one_mail() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()

    result = run(book, mailer, 3, T0)

    assert result["mailed"] == {"dlq:sap-dispatch-dlq": "OPENED"}
    ((subject, body),) = mailer.sent
    assert subject == "[data-engine prod] incident opened: dead-letter queue data-engine-prod-sap-dispatch-dlq.fifo"
    assert "OPENED   dead-letter queue data-engine-prod-sap-dispatch-dlq.fifo: 3 message(s)" in body
    assert book.items["dlq:sap-dispatch-dlq"].status is Status.OPEN


def test_an_open_incident_is_not_mailed_again_within_the_reminder_interval() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()
    run(book, mailer, 3, T0)

    for minutes in (15, 30, 120, 239):
        assert run(book, mailer, 5, T0 + minutes * 60)["mailed"] == {}

    assert len(mailer.sent) == 1


def test_a_reminder_goes_out_after_the_interval_and_then_waits_again() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()
    run(book, mailer, 3, T0)

    assert run(book, mailer, 7, T0 + 4 * HOUR)["mailed"] == {"dlq:sap-dispatch-dlq": "REMINDED"}
    assert run(book, mailer, 7, T0 + 5 * HOUR)["mailed"] == {}
    assert run(book, mailer, 7, T0 + 8 * HOUR)["mailed"] == {"dlq:sap-dispatch-dlq": "REMINDED"}

    subject, body = mailer.sent[1]
    assert "still open" in subject and "7 message(s), open for 4 h 0 min" in body
    assert book.items["dlq:sap-dispatch-dlq"].reminders == 2


def test_an_emptied_queue_resolves_the_incident_with_one_mail_and_a_new_one_can_open() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()
    run(book, mailer, 3, T0)

    assert run(book, mailer, 0, T0 + 1800)["mailed"] == {"dlq:sap-dispatch-dlq": "RESOLVED"}
    assert run(book, mailer, 0, T0 + 3600)["mailed"] == {}
    assert run(book, mailer, 2, T0 + 7200)["mailed"] == {"dlq:sap-dispatch-dlq": "OPENED"}

    assert [subject.split("incident ")[1].split(":")[0] for subject, _ in mailer.sent] == [
        "opened",
        "resolved",
        "opened",
    ]
    assert "clear again after 30 min" in mailer.sent[1][1]


def test_a_quiet_queue_never_mails() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()
    for hour in range(5):
        run(book, mailer, 0, T0 + hour * HOUR)
    assert mailer.sent == [] and book.items == {}


def test_one_run_mails_once_for_everything_it_claimed() -> None:
    book, mailer = InMemoryIncidents(), InMemoryMailer()
    stuck = Observation(
        "stuck:QUEUED_FOR_SAP", "documents in QUEUED_FOR_SAP for more than 120 min", 100, "document(s)", True
    )

    review([dlq(2), stuck], book, mailer, now=T0, reminder_hours=4, title="data-engine prod", notes=["SAP: 2 parked"])

    ((subject, body),) = mailer.sent
    assert subject == "[data-engine prod] incidents: 2 opened"
    assert "100 or more document(s)" in body and body.endswith("SAP: 2 parked")


def test_a_run_that_loses_the_claim_does_not_mail() -> None:
    # GIVEN two runs that read the same state; the first claims the opening
    book, first, second = InMemoryIncidents(), InMemoryMailer(), InMemoryMailer()
    step = next_step(None, dlq(1), T0, 4 * HOUR)
    assert step is not None and step[0] is Action.OPENED
    assert book.claim(step[1], None)

    # WHEN the second tries the same claim on what it read (nothing)
    assert not book.claim(step[1], None)

    # THEN only the winner's view holds; a later run sees the incident open and stays quiet
    assert run(book, second, 1, T0 + 60)["mailed"] == {} and second.sent == first.sent == []


class BrokenMailer:
    def send(self, subject: str, body: str) -> None:
        raise RuntimeError("SES is down")


def test_a_mail_that_cannot_be_sent_gives_its_claim_back_for_the_next_run() -> None:
    book = InMemoryIncidents()
    with pytest.raises(RuntimeError):
        review([dlq(1)], book, BrokenMailer(), now=T0, reminder_hours=4, title="t")
    assert book.items == {}

    mailer = InMemoryMailer()
    assert run(book, mailer, 1, T0 + 900)["mailed"] == {"dlq:sap-dispatch-dlq": "OPENED"}

    # and a reminder that fails is retried on the next run, not lost
    with pytest.raises(RuntimeError):
        review([dlq(1)], book, BrokenMailer(), now=T0 + 900 + 4 * HOUR, reminder_hours=4, title="t")
    assert run(book, mailer, 1, T0 + 1800 + 4 * HOUR)["mailed"] == {"dlq:sap-dispatch-dlq": "REMINDED"}

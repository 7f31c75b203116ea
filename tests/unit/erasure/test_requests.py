"""Erasure requests: a pseudonymous subject id only, clear errors, batched into jobs."""

from __future__ import annotations

import pytest

from chalicelib.erasure.exceptions import InvalidErasureRequest, InvalidTransition
from chalicelib.erasure.requests import (
    DONE,
    IN_JOB,
    PENDING,
    InMemoryErasureRequests,
    batch_pending_requests,
    parse_erasure_request,
)
from tests.unit.lake_access.builders import subject_id


def test_an_email_becomes_the_subject_id_at_once() -> None:
    assert parse_erasure_request({"email": " Anna@Example.com "}, subject_id) == subject_id("anna@example.com")


def test_a_subject_id_is_taken_as_it_is() -> None:
    assert parse_erasure_request({"subject_id": "a" * 64}, subject_id) == "a" * 64


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com", "subject_id": "a" * 64},
        {"email": "not-an-email-anna"},
        {"email": 42},
        {"subject_id": "short"},
        {"email": "a@example.com", "name": "Anna Secret"},
        ["a@example.com"],
    ],
)
def test_a_bad_request_is_refused_without_echoing_what_it_held(body: object) -> None:
    with pytest.raises(InvalidErasureRequest) as raised:
        parse_erasure_request(body, subject_id)
    message = str(raised.value)
    assert message and "anna" not in message.lower() and "@" not in message and "Secret" not in message


def test_pending_requests_are_batched_into_one_job_with_distinct_subjects() -> None:
    store = InMemoryErasureRequests()
    first, second, same = store.create("s" * 20), store.create("t" * 20), store.create("s" * 20)
    job = batch_pending_requests(store, max_requests=10)
    assert job is not None and job.request_ids == [first.request_id, second.request_id, same.request_id]
    assert job.subject_ids == ["s" * 20, "t" * 20]
    assert store.get(first.request_id).status == IN_JOB and store.get(first.request_id).job_id == job.job_id
    assert batch_pending_requests(store) is None  # nothing waits any more


def test_a_batch_takes_at_most_max_requests() -> None:
    store = InMemoryErasureRequests()
    for n in range(5):
        store.create(f"subject-{n:012d}")
    job = batch_pending_requests(store, max_requests=3)
    assert job is not None and len(job.request_ids) == 3
    assert len(store.pending(10)) == 2


def test_a_request_moves_only_along_allowed_transitions() -> None:
    store = InMemoryErasureRequests()
    request = store.create("s" * 20)
    with pytest.raises(InvalidTransition):
        store.move(request.request_id, DONE)
    store.move(request.request_id, IN_JOB, job_id="ej-1")
    store.move(request.request_id, DONE, report={"rows_removed": 1})
    with pytest.raises(InvalidTransition):
        store.move(request.request_id, PENDING)
    assert store.get(request.request_id).public()["report"] == {"rows_removed": 1}

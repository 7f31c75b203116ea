"""The lifecycle is data, and a state change carries ids only."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.state_keeper.lifecycle import (
    FINAL_STATES,
    IN_FLIGHT_STATES,
    TRANSITIONS,
    State,
    StateChange,
    is_allowed,
)
from tests.unit.state_keeper.changes import T0, change


def test_every_state_has_its_transitions_declared() -> None:
    assert set(TRANSITIONS) == set(State)
    assert all(target in State for targets in TRANSITIONS.values() for target in targets)


def test_the_normal_lifecycle_is_allowed_step_by_step() -> None:
    steps = [State.RECEIVED, State.NORMALIZED, State.QUEUED_FOR_SAP, State.DELIVERED, State.ANONYMIZED, State.ERASED]
    assert all(is_allowed(a, b) for a, b in itertools.pairwise(steps))


def test_parked_and_rejected_documents_can_be_replayed_and_erased_is_the_end() -> None:
    assert is_allowed(State.PARKED, State.QUEUED_FOR_SAP)
    assert is_allowed(State.REJECTED_BY_SAP, State.QUEUED_FOR_SAP)
    assert TRANSITIONS[State.ERASED] == {State.ERASED}
    assert not is_allowed(State.DELIVERED, State.RECEIVED)


def test_a_record_dropped_by_an_erasure_tombstone_goes_from_received_to_erased() -> None:
    # a late chunk of an erased subject: RECEIVED, then ERASED without being normalized
    assert is_allowed(State.RECEIVED, State.ERASED)
    # the same document already erased by the job: the suppression confirms it, nothing more
    assert is_allowed(State.ERASED, State.ERASED)
    assert all(not is_allowed(State.ERASED, other) for other in State if other is not State.ERASED)


def test_final_and_in_flight_states_partition_the_lifecycle() -> None:
    assert set(State) == FINAL_STATES | IN_FLIGHT_STATES
    assert not FINAL_STATES & IN_FLIGHT_STATES
    assert State.QUEUED_FOR_SAP in IN_FLIGHT_STATES


@pytest.mark.parametrize(
    "field, value",
    [
        ("document_id", "jane.doe@example.com"),
        ("subject_id", "Jane Doe"),
        ("component", "normalize; DROP"),
        ("reason_code", "customer jane@example.com"),
    ],
)
def test_it_refuses_anything_that_looks_like_personal_data(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        change(**{field: value})


def test_it_refuses_unknown_fields_so_no_payload_can_ride_along() -> None:
    with pytest.raises(ValidationError):
        change(email="x")  # type: ignore[arg-type]


def test_it_needs_a_time_zone_and_keeps_milliseconds_in_utc() -> None:
    with pytest.raises(ValidationError):
        StateChange(document_id="d", state=State.RECEIVED, at=datetime(2026, 1, 1), component="c")
    precise = StateChange(
        document_id="d", state="RECEIVED", component="c", at=datetime(2026, 1, 1, 12, 0, 0, 123999, tzinfo=UTC)
    )
    assert precise.at.microsecond == 123000
    assert precise.at_ms % 1000 == 123
    assert change(seconds=0).at == T0

"""Merging state changes into a document's record."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.state_keeper.document_record import merge
from chalicelib.state_keeper.lifecycle import State, epoch_millis
from tests.unit.state_keeper.changes import T0, change, normal_lifecycle


def test_the_current_state_is_the_latest_change_whatever_the_arrival_order() -> None:
    changes = normal_lifecycle("doc-1")
    forwards = merge(None, [(c, "m1") for c in changes])
    backwards = merge(None, [(c, "m1") for c in reversed(changes)])
    assert forwards == backwards
    assert forwards.state is State.DELIVERED
    assert [e.state for e in forwards.history] == [
        State.RECEIVED,
        State.NORMALIZED,
        State.QUEUED_FOR_SAP,
        State.DELIVERED,
    ]


def test_a_duplicate_change_adds_nothing() -> None:
    once = merge(None, [(change(), "m1")])
    twice = merge(once, [(change(), "m1"), (change(), "m1")])
    assert twice == once and len(twice.history) == 1


def test_changes_reported_in_the_same_millisecond_follow_the_flow() -> None:
    record = merge(None, [(change(state=State.QUEUED_FOR_SAP), "m"), (change(state=State.NORMALIZED), "m")])
    assert record.state is State.QUEUED_FOR_SAP


def test_an_erased_document_stays_erased_when_a_late_delivery_arrives() -> None:
    record = merge(
        None, [(change(state=State.ERASED, seconds=10), "m1"), (change(state=State.DELIVERED, seconds=20), "m2")]
    )
    assert record.state is State.ERASED


def test_the_same_change_from_two_messages_keeps_the_least_origin_and_details() -> None:
    a = merge(None, [(change(reason_code="B"), "m2")])
    a = merge(a, [(change(reason_code="A"), "m1")])
    b = merge(None, [(change(reason_code="A"), "m1")])
    b = merge(b, [(change(reason_code="B"), "m2")])
    assert a == b
    assert a.history[0].origin == "m1" and a.history[0].reason_code == "A"


def test_a_retried_attempt_is_a_separate_history_entry() -> None:
    record = merge(
        None,
        [
            (change(state=State.QUEUED_FOR_SAP, attempt=1), "m"),
            (change(state=State.QUEUED_FOR_SAP, seconds=5, attempt=2), "m"),
        ],
    )
    assert len(record.history) == 2


def test_history_past_retention_is_dropped_but_the_current_state_is_kept() -> None:
    changes = normal_lifecycle("doc-1")
    cutoff = epoch_millis(T0 + timedelta(seconds=30))
    record = merge(None, [(c, "m") for c in changes], expire_before_ms=cutoff)
    assert [e.state for e in record.history] == [State.DELIVERED]
    later = merge(None, [(c, "m") for c in changes[:1]], expire_before_ms=cutoff)
    assert later.state is State.RECEIVED and len(later.history) == 1


def test_irregular_steps_are_reported_not_refused() -> None:
    record = merge(None, [(change(state=State.RECEIVED), "m"), (change(state=State.DELIVERED, seconds=1), "m")])
    assert record.state is State.DELIVERED
    assert record.irregular_steps() == [(State.RECEIVED, State.DELIVERED)]


def test_document_level_fields_take_the_least_value_reported() -> None:
    record = merge(None, [(change(source="b-source"), "m"), (change(state=State.NORMALIZED, source="a-source"), "m")])
    assert record.source == "a-source"

"""Retention policies: the due records are anonymized, the others untouched, twice is once."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.anonymization.anonymize import (
    FieldRule,
    KeyedPseudonymizer,
    RetentionPolicy,
    anonymize_object,
    anonymize_record,
    anonymize_value,
    latest_due_event_date,
    policy_for,
)
from chalicelib.lake_access.object_store import InMemoryObjectStore
from tests.unit.lake_access.builders import jsonl, lake_key, lake_parquet, person, read_rows

PSEUDONYMIZE = KeyedPseudonymizer(b"pseudonym-key")
POLICY = RetentionPolicy(
    days_after_event=30,
    fields={
        "email": FieldRule(action="pseudonymize"),
        "first_name": FieldRule(action="null"),
        "last_name": FieldRule(action="null"),
        "phone": FieldRule(action="null"),
        "birth_date": FieldRule(action="generalize", to="year"),
    },
)
TODAY = date(2024, 6, 1)


def test_the_most_specific_policy_applies() -> None:
    default = RetentionPolicy(days_after_event=365, fields={"email": FieldRule(action="null")})
    by_source = RetentionPolicy(source="amazon", days_after_event=90, fields={"email": FieldRule(action="null")})
    by_event = RetentionPolicy(event_id="ev-9", days_after_event=7, fields={"email": FieldRule(action="null")})
    policies = [default, by_source, by_event]
    assert policy_for(policies, "amazon", "ev-1") is by_source
    assert policy_for(policies, "amazon", "ev-9") is by_event
    assert policy_for(policies, "eventbrite", "ev-1") is default
    assert latest_due_event_date(policies, TODAY) == date(2024, 5, 25)


def test_a_generalization_needs_to_say_to_what() -> None:
    with pytest.raises(ValidationError):
        FieldRule(action="generalize")
    with pytest.raises(ValidationError):
        FieldRule(action="generalize", to="prefix")


@pytest.mark.parametrize(
    ("value", "rule", "expected"),
    [
        ("1985-04-12", FieldRule(action="generalize", to="year"), "1985"),
        ("12.04.1985", FieldRule(action="generalize", to="year"), "1985"),
        ("1985-04-12", FieldRule(action="generalize", to="month"), "1985-04"),
        (date(1985, 4, 12), FieldRule(action="generalize", to="year"), date(1985, 1, 1)),
        ("80331", FieldRule(action="generalize", to="prefix", keep=2), "80"),
        ("Anna", FieldRule(action="null"), None),
    ],
)
def test_each_action_anonymizes_a_value(value: object, rule: FieldRule, expected: object) -> None:
    assert anonymize_value(value, rule, PSEUDONYMIZE) == expected


@given(
    st.text(min_size=1, max_size=40),
    st.sampled_from(
        [
            FieldRule(action="null"),
            FieldRule(action="pseudonymize"),
            FieldRule(action="generalize", to="year"),
            FieldRule(action="generalize", to="month"),
            FieldRule(action="generalize", to="prefix", keep=3),
        ]
    ),
)
def test_anonymizing_an_anonymized_value_changes_nothing(value: str, rule: FieldRule) -> None:
    once = anonymize_value(value, rule, PSEUDONYMIZE)
    assert anonymize_value(once, rule, PSEUDONYMIZE) == once


def test_a_pseudonym_is_keyed_and_stable() -> None:
    assert (
        PSEUDONYMIZE("a@example.com") == PSEUDONYMIZE("a@example.com") != KeyedPseudonymizer(b"other")("a@example.com")
    )


def test_a_raw_record_is_anonymized_through_its_field_map() -> None:
    record = {"profile": {"email": "a@example.com", "name": "Anna"}, "id": 1}
    changed = anonymize_record(record, POLICY, PSEUDONYMIZE, {"email": "profile.email", "first_name": "profile.name"})
    assert changed == {"profile": {"email": PSEUDONYMIZE("a@example.com"), "name": None}, "id": 1}
    assert record["profile"]["name"] == "Anna"  # the input is not changed
    assert (
        anonymize_record(changed, POLICY, PSEUDONYMIZE, {"email": "profile.email", "first_name": "profile.name"})
        is None
    )


def test_lake_rows_past_retention_are_anonymized_and_the_others_untouched() -> None:
    # GIVEN an object with rows of an old and a recent event
    old = [person(i, event_id="ev-old") for i in range(3)]
    recent = [person(10 + i, event_id="ev-new") for i in range(2)]
    store = InMemoryObjectStore()
    key = lake_key("eventbrite", "2024-03-01")
    store.add("lake", key, lake_parquet(old + recent), metadata={"m": "1"})
    policies = [POLICY, RetentionPolicy(event_id="ev-new", days_after_event=400, fields=POLICY.fields)]
    # WHEN the anonymization runs (the event date comes from the key's partition)
    outcome = anonymize_object(
        store,
        "lake",
        key,
        policies,
        TODAY,
        PSEUDONYMIZE,
        partition={"source": "eventbrite", "event_date": "2024-03-01"},
    )
    # THEN only the old event's rows changed, and their documents are named
    rows = read_rows(store.objects[("lake", key)].body)
    assert outcome.rows_changed == 3 and outcome.document_ids == sorted(r["document_id"] for r in old)
    assert rows[0]["first_name"] is None and rows[0]["birth_date"] == old[0]["birth_date"][:4]
    assert rows[0]["email"] == PSEUDONYMIZE(old[0]["email"]) and rows[0]["subject_id"] == old[0]["subject_id"]
    assert rows[3:] == [{k: v for k, v in r.items() if k not in ("source", "event_date")} for r in recent]
    assert store.objects[("lake", key)].metadata == {"m": "1"}


def test_a_second_anonymization_run_changes_nothing() -> None:
    store = InMemoryObjectStore()
    key = lake_key("eventbrite", "2024-03-01")
    store.add("lake", key, lake_parquet([person(i) for i in range(5)]))
    partition = {"source": "eventbrite", "event_date": "2024-03-01"}
    anonymize_object(store, "lake", key, [POLICY], TODAY, PSEUDONYMIZE, partition=partition)
    after_first = store.objects[("lake", key)].body
    puts = store.counts.put
    second = anonymize_object(store, "lake", key, [POLICY], TODAY, PSEUDONYMIZE, partition=partition)
    assert (second.rows_changed, second.rewritten, store.counts.put) == (0, False, puts)
    assert store.objects[("lake", key)].body == after_first


def test_a_dry_run_reports_counts_and_writes_nothing() -> None:
    store = InMemoryObjectStore()
    key = lake_key("eventbrite", "2024-03-01")
    store.add("lake", key, lake_parquet([person(i) for i in range(5)]))
    outcome = anonymize_object(
        store,
        "lake",
        key,
        [POLICY],
        TODAY,
        PSEUDONYMIZE,
        dry_run=True,
        partition={"source": "eventbrite", "event_date": "2024-03-01"},
    )
    assert (outcome.rows_changed, outcome.rewritten, store.counts.put) == (5, False, 0)


def test_raw_records_past_retention_are_anonymized_and_the_others_keep_their_bytes() -> None:
    records = [
        {"email": "a@example.com", "name": "Anna", "event": "ev-old", "date": "2024-01-01"},
        {"email": "b@example.com", "name": "Ben", "event": "ev-new", "date": "2024-05-30"},
    ]
    content = jsonl(records)
    store = InMemoryObjectStore()
    store.add("raw", "incoming/x/f.jsonl", content)

    def event_of(record: dict) -> tuple[str, date]:
        return record["event"], date.fromisoformat(record["date"])

    outcome = anonymize_object(
        store,
        "raw",
        "incoming/x/f.jsonl",
        [POLICY],
        TODAY,
        PSEUDONYMIZE,
        source="x",
        field_map={"first_name": "name"},
        event_of=event_of,
    )
    lines = store.objects[("raw", "incoming/x/f.jsonl")].body.decode().splitlines()
    assert outcome.rows_changed == 1
    assert '"name": null' in lines[0] and "a@example.com" not in lines[0]
    assert lines[1].encode() == content.splitlines()[1]
    again = anonymize_object(
        store,
        "raw",
        "incoming/x/f.jsonl",
        [POLICY],
        TODAY,
        PSEUDONYMIZE,
        source="x",
        field_map={"first_name": "name"},
        event_of=event_of,
    )
    assert again.rows_changed == 0

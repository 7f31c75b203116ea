"""Anonymization runs do not read again what they finished: partition marks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from chalicelib.anonymization.anonymize import FieldRule, KeyedPseudonymizer, RetentionPolicy
from chalicelib.anonymization.marks import InMemoryAnonymizationMarks, fingerprint, fully_due
from chalicelib.anonymization.run import AnonymizationRun, written_before
from chalicelib.lake_access.object_store import InMemoryObjectStore
from tests.unit.lake_access.builders import lake_key, lake_parquet, person, read_rows

PSEUDONYMIZE = KeyedPseudonymizer(b"pseudonym-key")
FIELDS = {"email": FieldRule(action="pseudonymize"), "first_name": FieldRule(action="null")}
POLICY = RetentionPolicy(days_after_event=30, fields=FIELDS)
TODAY = date(2024, 6, 1)
OLD_DAY = "2024-03-01"


def clock() -> datetime:
    # a little ahead of the store's clock, so what a run wrote counts as written before the next run
    return datetime.now(UTC) + timedelta(seconds=10)


def world(policies: list[RetentionPolicy]) -> tuple[InMemoryObjectStore, InMemoryAnonymizationMarks, AnonymizationRun]:
    store, marks = InMemoryObjectStore(), InMemoryAnonymizationMarks()
    store.add("lake", lake_key("eventbrite", OLD_DAY, "part-a.parquet"), lake_parquet([person(i) for i in range(3)]))
    store.add("lake", lake_key("eventbrite", OLD_DAY, "part-b.parquet"), lake_parquet([person(i) for i in range(3, 5)]))
    run = AnonymizationRun(store, "lake", "raw", policies, PSEUDONYMIZE, marks=marks, clock=clock)
    return store, marks, run


def test_a_finished_partition_is_not_read_again() -> None:
    store, marks, run = world([POLICY])

    first = run.run(today=TODAY)
    gets = store.counts.get
    second = run.run(today=TODAY + timedelta(days=1))

    assert (first.lake_objects_read, first.lake_rows_anonymized) == (2, 5)
    assert first.raw_objects_missing == 2  # the raw file named by both objects' rows is gone: not an error
    assert list(marks.marks) == ["eventbrite/2024-03-01"]
    assert (second.lake_objects_read, second.lake_objects_skipped, second.lake_rows_anonymized) == (0, 2, 0)
    assert store.counts.get == gets


def test_an_object_written_after_the_mark_is_read_and_anonymized() -> None:
    store, _marks, run = world([POLICY])
    run.run(today=TODAY)
    # GIVEN a late record of the old event, ingested after the partition was marked
    late = lake_key("eventbrite", OLD_DAY, "part-late.parquet")
    store.add("lake", late, lake_parquet([person(9)]))
    store.objects[("lake", late)].last_modified = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    report = run.run(today=TODAY + timedelta(days=1))

    assert (report.lake_objects_read, report.lake_objects_skipped, report.lake_rows_anonymized) == (1, 2, 1)
    assert read_rows(store.objects[("lake", late)].body)[0]["first_name"] is None


def test_changed_policies_read_the_partition_again() -> None:
    store, marks, run = world([POLICY])
    run.run(today=TODAY)
    stricter = RetentionPolicy(days_after_event=30, fields={**FIELDS, "last_name": FieldRule(action="null")})
    rerun = AnonymizationRun(store, "lake", "raw", [stricter], PSEUDONYMIZE, marks=marks, clock=clock)

    report = rerun.run(today=TODAY + timedelta(days=1))

    assert (report.lake_objects_read, report.lake_rows_anonymized) == (2, 5)
    assert all(row["last_name"] is None for key in store.objects for row in read_rows(store.objects[key].body))
    assert marks.marks["eventbrite/2024-03-01"].fingerprint == fingerprint([stricter])


def test_a_partition_some_policy_has_not_made_due_is_not_marked() -> None:
    # GIVEN a longer policy for one event: its rows in this partition become due later
    later = RetentionPolicy(event_id="ev-1", days_after_event=400, fields=FIELDS)
    _store, marks, run = world([POLICY, later])

    report = run.run(today=TODAY)

    assert report.lake_objects_read == 2 and marks.marks == {}
    assert not fully_due([POLICY, later], date.fromisoformat(OLD_DAY), TODAY)


def test_a_dry_run_leaves_no_mark() -> None:
    store, marks, run = world([POLICY])

    report = run.run(today=TODAY, dry_run=True)

    assert report.lake_rows_anonymized == 5 and marks.marks == {} and store.counts.put == 0


def test_written_before_keeps_a_margin_for_whole_second_timestamps() -> None:
    listed = "2024-06-01T10:00:05.500000+00:00"
    assert written_before("2024-06-01T10:00:03+00:00", listed)
    assert not written_before("2024-06-01T10:00:04+00:00", listed)  # maybe written after the listing
    assert not written_before("", listed)

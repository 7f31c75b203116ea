"""Anonymization runs are recorded: started, then DONE with a report or FAILED with the error's type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.anonymization.exceptions import UnknownAnonymizationRun
from chalicelib.anonymization.run_records import DONE, FAILED, RUNNING, InMemoryAnonymizationRuns, run_recorded


def test_a_run_is_recorded_running_then_done_with_its_report() -> None:
    runs = InMemoryAnonymizationRuns()
    record = runs.create(dry_run=True, trigger="api")
    assert record.status == RUNNING and record.public()["links"]["self"] == f"/gdpr/anonymization-runs/{record.run_id}"

    done = run_recorded(runs, record.run_id, lambda dry_run: {"dry_run": dry_run, "lake_rows_anonymized": 3})

    assert done.status == DONE and done.report == {"dry_run": True, "lake_rows_anonymized": 3}
    assert done.finished_at is not None and done.error is None


def test_a_failing_run_is_recorded_failed_by_its_error_type_only() -> None:
    runs = InMemoryAnonymizationRuns()
    record = runs.create(dry_run=False, trigger="schedule")

    def fails(dry_run: bool) -> dict[str, int]:
        raise ValueError("anna.schmidt@example.com is odd")  # a message that quotes a value

    failed = run_recorded(runs, record.run_id, fails)

    assert failed.status == FAILED and failed.error == "ValueError"
    assert "anna" not in str(failed.public())


def test_a_repeated_invoke_does_not_run_again() -> None:
    runs = InMemoryAnonymizationRuns()
    record = runs.create(dry_run=False, trigger="api")
    run_recorded(runs, record.run_id, lambda dry_run: {"n": 1})

    again = run_recorded(runs, record.run_id, lambda dry_run: pytest.fail("ran twice"))

    assert again.status == DONE and again.report == {"n": 1}


def test_recent_runs_come_newest_first_even_within_one_second() -> None:
    start = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
    ticks = iter(start + timedelta(microseconds=n) for n in range(100))
    runs = InMemoryAnonymizationRuns(clock=lambda: next(ticks))
    created = [runs.create(dry_run=False, trigger="api").run_id for _ in range(3)]

    assert [r.run_id for r in runs.recent(2)] == created[::-1][:2]


@pytest.mark.parametrize(
    "run_id", ["", "not-a-run", "20261129T023000000000Z-zzzzzzzz", "20261129T023000000000Z-0123abcd"]
)
def test_an_unknown_or_malformed_run_id_is_unknown(run_id: str) -> None:
    with pytest.raises(UnknownAnonymizationRun):
        InMemoryAnonymizationRuns().get(run_id)

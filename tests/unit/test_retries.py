"""Retry-After in both forms, and backoff with full jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.retries import MAX_VISIBILITY_SECONDS, backoff_seconds, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_it_reads_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", NOW) == 120.0


def test_it_reads_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", NOW) == 30.0


def test_a_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", NOW) == 0.0


def test_missing_or_garbage_retry_after_means_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


def test_backoff_never_undercuts_sap_retry_after() -> None:
    assert backoff_seconds(1, retry_after=42, rng=random.Random(1)) >= 42


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=10_000))
def test_backoff_stays_within_full_jitter_bounds(attempt: int, seed: int) -> None:
    delay = backoff_seconds(attempt, rng=random.Random(seed))

    assert 1 <= delay <= min(900, 2 * 2 ** (attempt - 1)) + 1
    assert delay <= MAX_VISIBILITY_SECONDS

"""The shared token bucket's math: rates, waits, adaptive decrease and gradual recovery."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.sap.throttle import BucketState, InMemoryThrottle, ThrottleSettings, overloaded, take


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_it_grants_at_the_configured_request_rate() -> None:
    # GIVEN 10 requests/s and a full bucket (0.2 s of rate: 2 requests)
    clock = Clock()
    throttle = InMemoryThrottle(ThrottleSettings(requests_per_second=10, records_per_second=1000), clock)
    assert throttle.acquire(records=10) == 0.0
    assert throttle.acquire(records=10) == 0.0

    # WHEN a dispatcher asks again right away, THEN it must wait about 1/10 s
    wait = throttle.acquire(records=10)
    assert 0.09 <= wait <= 0.11
    clock.now += wait
    assert throttle.acquire(records=10) == 0.0


def test_records_per_second_limits_too() -> None:
    clock = Clock()
    throttle = InMemoryThrottle(
        ThrottleSettings(requests_per_second=100, records_per_second=100, burst_seconds=1.0), clock
    )

    assert throttle.acquire(records=100) == 0.0
    assert throttle.acquire(records=50) >= 0.49


def test_an_overload_cuts_the_rate_and_blocks_until_retry_after() -> None:
    # GIVEN a throttle at full rate
    clock = Clock()
    throttle = InMemoryThrottle(ThrottleSettings(requests_per_second=10), clock)

    # WHEN SAP answers 429 with Retry-After: 5
    throttle.overloaded(5.0)

    # THEN nobody sends for 5 s, and the rate is 0.7 of what it was
    assert throttle.acquire(records=1) >= 4.99
    assert throttle.effective_rate()[0] == pytest.approx(7.0)


def test_the_rate_climbs_back_gradually_after_an_overload() -> None:
    clock = Clock()
    throttle = InMemoryThrottle(ThrottleSettings(requests_per_second=10, recovery_per_second=0.02), clock)
    throttle.overloaded(None)

    clock.now += 10
    assert round(throttle.effective_rate()[0], 6) == 9.0
    clock.now += 100
    assert throttle.effective_rate()[0] == 10.0


def test_overloads_seen_by_many_dispatchers_at_once_count_once() -> None:
    clock = Clock()
    throttle = InMemoryThrottle(ThrottleSettings(requests_per_second=10), clock)

    for _ in range(5):
        throttle.overloaded(None)

    assert throttle.effective_rate()[0] == pytest.approx(7.0)


def test_the_rate_never_drops_below_the_minimum_factor() -> None:
    state, config = BucketState(), ThrottleSettings(requests_per_second=10, min_factor=0.1)
    for second in range(20):
        state = overloaded(state, config, 1_000.0 + second * 2, None)

    assert state.floor == 0.1


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(min_value=1, max_value=200), sizes=st.lists(st.integers(1, 50), min_size=1, max_size=200))
def test_granted_requests_never_exceed_rate_times_time_plus_the_bucket(rate: float, sizes: list[int]) -> None:
    # GIVEN dispatchers that always wait as told
    config = ThrottleSettings(requests_per_second=rate, records_per_second=1e9)
    state, now, granted = BucketState(updated_at=0.0), 0.0, 0
    for size in sizes:
        while True:
            state, wait = take(state, config, now, records=size, requests=1)
            if wait == 0.0:
                granted += 1
                break
            now += wait
    # THEN the sent requests stay within the bucket's promise
    assert granted <= rate * now + max(1.0, rate * config.burst_seconds) + 1e-6

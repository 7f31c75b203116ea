"""The stand-in's capacity limiter: C requests/s with a short burst, as a real rate limiter."""

from __future__ import annotations

from sapstandin.faults import CapacityLimiter


def test_it_takes_a_burst_of_one_second_of_capacity_then_answers_429() -> None:
    limiter = CapacityLimiter(4)

    admitted = [limiter.admit() for _ in range(6)]

    assert admitted.count(True) == 4 and admitted[-1] is False


def test_a_low_capacity_still_takes_two_requests_close_together() -> None:
    limiter = CapacityLimiter(1, burst_seconds=0.25)

    assert [limiter.admit() for _ in range(3)] == [True, True, False]


def test_no_capacity_admits_everything() -> None:
    limiter = CapacityLimiter(None)

    assert all(limiter.admit() for _ in range(100))

"""Transition times: a mergeable histogram gives the average and the p95."""

from __future__ import annotations

from chalicelib.state_keeper.lifecycle import STATE_CODES, State
from chalicelib.state_keeper.statistics import bucket_upper_bound, histogram_bucket, summarize

PAIR = STATE_CODES[State.QUEUED_FOR_SAP] + STATE_CODES[State.DELIVERED]


def test_a_bucket_bounds_its_values_within_a_fifth() -> None:
    for milliseconds in (0, 1, 7, 250, 60_000, 3_600_000):
        bound = bucket_upper_bound(histogram_bucket(milliseconds))
        assert milliseconds <= bound <= milliseconds * 1.2 + 1


def test_the_p95_and_average_come_from_added_counters() -> None:
    # 95 transitions of 100 ms and 5 of 10 s, split over two shards
    a = {f"t{PAIR}n": 60, f"t{PAIR}s": 60 * 100, f"t{PAIR}b{histogram_bucket(100)}": 60}
    b = {
        f"t{PAIR}n": 40,
        f"t{PAIR}s": 35 * 100 + 5 * 10_000,
        f"t{PAIR}b{histogram_bucket(100)}": 35,
        f"t{PAIR}b{histogram_bucket(10_000)}": 5,
        f"n{STATE_CODES[State.DELIVERED]}": 100,
    }
    summary = summarize([("2026-11-28T10", "eventbrite", a), ("2026-11-28T10", "eventbrite", b)])
    [transition] = summary["transitions"]
    assert (transition["from"], transition["to"], transition["count"]) == ("QUEUED_FOR_SAP", "DELIVERED", 100)
    assert transition["avg_ms"] == 595.0
    assert 100 <= transition["p95_ms"] <= 120
    assert summary["counts"] == [{"hour": "2026-11-28T10", "source": "eventbrite", "states": {"DELIVERED": 100}}]

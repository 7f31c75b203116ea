"""EventBridge schedule expressions fire when AWS would fire them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devstack.schedules import BadScheduleExpression, next_fire, to_unix_cron

NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday


def test_a_rate_fires_its_interval_after_the_last_time() -> None:
    assert next_fire("rate(15 minutes)", NOON) == datetime(2026, 11, 28, 12, 15, tzinfo=UTC)
    assert next_fire("rate(1 hour)", NOON) == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    assert next_fire("rate(2 days)", NOON) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_daily_cron_fires_next_at_its_time_of_day() -> None:
    assert next_fire("cron(0 3 * * ? *)", NOON) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def test_eventbridge_weekdays_count_from_sunday_as_1() -> None:
    # 2 is Monday in EventBridge, 1 in Unix cron
    assert to_unix_cron("0 6 ? * 2 *") == "0 6 * * 1"
    assert next_fire("cron(0 6 ? * 2 *)", NOON) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_named_weekdays_pass_through() -> None:
    assert to_unix_cron("0 6 ? * MON-FRI *") == "0 6 * * MON-FRI"


@pytest.mark.parametrize(
    "expression", ["every 5 minutes", "rate(5 fortnights)", "cron(0 3 * *)", "cron(0 3 * * ? 2027)"]
)
def test_it_rejects_what_it_cannot_schedule(expression: str) -> None:
    with pytest.raises(BadScheduleExpression):
        next_fire(expression, NOON)

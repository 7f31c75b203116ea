"""When EventBridge `rate(...)` and `cron(...)` expressions fire next."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from croniter import croniter

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class BadScheduleExpression(ValueError):
    pass


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` (UTC) at which `expression` fires."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        return after + timedelta(seconds=value * _UNIT_SECONDS[unit])
    cron = _CRON.match(expression)
    if cron:
        return croniter(to_unix_cron(cron.group(1)), after).get_next(datetime)
    raise BadScheduleExpression(f"not an EventBridge schedule expression: {expression!r}")


def to_unix_cron(fields: str) -> str:
    """EventBridge's six cron fields to the five of Unix cron.

    EventBridge: minutes hours day-of-month month day-of-week year, `?` for "any" in one of
    the day fields, day-of-week 1-7 = SUN-SAT. Unix: no year, `*` for any, 0-6 = SUN-SAT.
    """
    parts = fields.split()
    if len(parts) != 6:
        raise BadScheduleExpression(f"cron needs 6 fields, got {len(parts)}: {fields!r}")
    minutes, hours, day_of_month, month, day_of_week, year = parts
    if year not in ("*", "?"):
        raise BadScheduleExpression(f"the local runtime fires recurring rules only: {fields!r}")
    day_of_week = re.sub(r"\d", lambda m: str((int(m.group()) - 1) % 7), day_of_week)
    return " ".join("*" if field == "?" else field for field in (minutes, hours, day_of_month, month, day_of_week))

"""When to try again: a Retry-After header (seconds or HTTP date) and backoff with full jitter.

Shared by SAP dispatch and the platforms' APIs. Retries travel through SQS visibility: a
message that must wait is left on the queue with its visibility timeout set to the delay,
so waiting costs no Lambda time.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# SQS caps a message's visibility timeout at 12 hours.
MAX_VISIBILITY_SECONDS = 12 * 3600
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 900.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (moment - current).total_seconds())


def backoff_seconds(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = BASE_DELAY_SECONDS,
    cap: float = MAX_DELAY_SECONDS,
    rng: random.Random | None = None,
) -> int:
    """Full-jitter exponential backoff for the `attempt`-th try (1-based), never below Retry-After.

    Full jitter (a uniform draw in [0, base * 2^(attempt-1)]) spreads the retries of many
    callers that failed together, so they do not hit the service together again.
    """
    draw = (rng or random).uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))
    delay = max(draw, retry_after or 0.0)
    return int(min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(delay))))

"""HTTP to a platform's API: timeouts, and retries of 429, 5xx and lost connections.

A retry waits the platform's `Retry-After` (seconds or an HTTP date) or a jittered backoff,
within a budget of `max_wait_seconds` per request; past it the caller gets
`PlatformUnavailable` (with the wait the platform asked for) and its queue or schedule
tries again later, so no Lambda sleeps for minutes. Any other answer is returned as it is:
the platform's client knows what its 4xx mean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from chalicelib.intake.exceptions import PlatformUnavailable
from chalicelib.retries import backoff_seconds, parse_retry_after

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})


class PlatformHttp:
    def __init__(
        self,
        platform: str,
        session: requests.Session | None = None,
        *,
        attempts: int = 4,
        max_wait_seconds: float = 20.0,
        timeout: tuple[float, float] = (3.05, 30.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.platform = platform
        self.session = session or requests.Session()
        self.attempts = attempts
        self.max_wait_seconds = max_wait_seconds
        self.timeout = timeout
        self.sleep = sleep
        self.requests = 0  # requests sent, retries included (for pull summaries and benches)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The platform's answer to `method url`; raises `PlatformUnavailable` when it never came."""
        waited = 0.0
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                self.requests += 1
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = type(error).__name__
            else:
                if response.status_code not in RETRYABLE:
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = float(backoff_seconds(attempt, retry_after=retry_after, base=0.5, cap=self.max_wait_seconds))
            if attempt == self.attempts or waited + delay > self.max_wait_seconds:
                raise PlatformUnavailable(self.platform, f"{problem} after {attempt} attempts", retry_after)
            log.info("%s answered %s; retrying in %.0f s", self.platform, problem, delay)
            self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # the loop returns or raises

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

"""How the stand-in misbehaves on purpose: a capacity limit (429 above it) and scripted faults."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal

FaultKind = Literal["status", "reset", "slow", "down"]
KINDS = ("status", "reset", "slow", "down")


@dataclass
class Fault:
    """One scripted fault.

    - `status`: answer `status` (with Retry-After if `retry_after`) to the next `count` requests;
    - `down`: answer `status` to every request for `seconds` (SAP down for a while);
    - `reset`: reset the connection of the next `count` requests; `when="after"` processes
      the request first (SAP applied it, the answer is lost);
    - `slow`: delay the answer by `delay` seconds (`when="after"`: after processing).
    Only requests whose path contains `path_contains` (if given) are hit.
    """

    kind: FaultKind = "status"
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    delay: float = 0.0
    seconds: float = 0.0
    when: Literal["before", "after"] = "before"
    path_contains: str | None = None
    until: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)} - {"until"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(**data)
        if fault.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        return fault


def retry_after_header(seconds: float, form: str) -> str:
    if form == "http-date":
        moment = datetime.now(UTC) + timedelta(seconds=seconds)
        return format_datetime(moment.replace(microsecond=0), usegmt=True)
    return str(max(0, round(seconds)))


class FaultScript:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        if fault.kind == "down":
            fault.until = time.monotonic() + fault.seconds
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(vars(f)) for f in self._faults]

    def take(self, path: str) -> Fault | None:
        """The fault that hits this request (consuming one of its count), if any. SAP down
        answers every request while it lasts, before any counted fault."""
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if (f.until or now + 1) > now]
            hitting = [f for f in self._faults if not f.path_contains or f.path_contains in path]
            for fault in sorted(hitting, key=lambda f: f.kind != "down"):
                if fault.kind == "down":
                    return fault
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None


class CapacityLimiter:
    """SAP's capacity: a token bucket of `capacity` requests/s (None: unlimited).

    Like a real rate limiter it takes a short burst: the bucket holds `burst_seconds` of
    capacity, at least two requests, so a client sending just below the capacity is not
    refused for a few milliseconds of network or scheduling jitter. Sustained traffic above
    the capacity still gets 429.
    """

    MIN_BURST_REQUESTS = 2.0

    def __init__(
        self,
        capacity: float | None = None,
        *,
        burst_seconds: float = 1.0,
        retry_after: float = 1.0,
        retry_after_format: str = "seconds",
    ) -> None:
        self._lock = threading.Lock()
        self.configure(
            capacity, burst_seconds=burst_seconds, retry_after=retry_after, retry_after_format=retry_after_format
        )

    def configure(
        self,
        capacity: float | None,
        *,
        burst_seconds: float | None = None,
        retry_after: float | None = None,
        retry_after_format: str | None = None,
    ) -> None:
        with self._lock:
            self.capacity = capacity
            if burst_seconds is not None:
                self.burst_seconds = burst_seconds
            if retry_after is not None:
                self.retry_after = retry_after
            if retry_after_format is not None:
                self.retry_after_format = retry_after_format
            self._size = max(self.MIN_BURST_REQUESTS, (capacity or 0) * self.burst_seconds)
            self._tokens = self._size
            self._at = time.monotonic()

    def admit(self) -> bool:
        with self._lock:
            if self.capacity is None:
                return True
            now = time.monotonic()
            self._tokens = min(self._size, self._tokens + (now - self._at) * self.capacity)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

"""One rate limit for all dispatchers: a token bucket in the config table, adaptive to SAP.

Operators set `requests_per_second` and `records_per_second` on the stage's throttle item
(`pk=throttle, sk=sap` in the config table); dispatchers read them with every acquire,
so a change takes effect at once, without a deploy. The bucket state lives in the same
item and is updated with an optimistic condition on `version`, so any number of
concurrently running dispatchers share one budget.

Adaptive (AIMD): an overload signal from SAP (429/503) cuts the effective rate to 0.7 of
what it was (`decrease_factor`, the factor of CUBIC and of the AWS SDKs' adaptive retry
mode) and blocks everyone until Retry-After has passed; the rate then climbs back linearly
(`recovery_per_second` of the configured rate per second) while SAP stays quiet. Set close
to SAP's capacity, the throttle mostly meets a 429 from requests bunched on the way, not
from a wrong rate: halving would leave a quarter of SAP unused for the 25 s of the climb.

Overload signals and operators' changes are also counted per UTC hour (`pk=throttle-events`,
`sk={YYYY-MM-DDTHH}`, kept 35 days), so the daily summary can say what happened. Each
decrease and each operator change is a metric too: `SapThrottleDecreases` and the rates
then in force, `SapThrottleRequestsPerSecond` and `SapThrottleRecordsPerSecond`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib import observability

log = logging.getLogger(__name__)

THROTTLE_KEY = {"pk": {"S": "throttle"}, "sk": {"S": "sap"}}
EVENTS_PK = "throttle-events"
EVENTS_TTL_SECONDS = 35 * 24 * 3600


@dataclass(frozen=True)
class ThrottleSettings:
    requests_per_second: float = 5.0
    records_per_second: float = 500.0
    # bucket size in seconds of rate: small, so a burst never exceeds SAP's capacity
    burst_seconds: float = 0.2
    min_factor: float = 0.05
    decrease_factor: float = 0.7
    recovery_per_second: float = 0.02
    # overload signals closer together than this count as one (many dispatchers see the same 429)
    decrease_cooldown_seconds: float = 1.0


@dataclass(frozen=True)
class BucketState:
    requests: float = 0.0  # tokens; may go below zero (a debt) for one oversized acquire
    records: float = 0.0
    updated_at: float = 0.0
    floor: float = 1.0  # the factor right after the last decrease
    decreased_at: float = 0.0
    blocked_until: float = 0.0
    version: int = 0

    def factor(self, settings: ThrottleSettings, now: float) -> float:
        return min(1.0, self.floor + settings.recovery_per_second * max(0.0, now - self.decreased_at))


def refill(state: BucketState, settings: ThrottleSettings, now: float) -> BucketState:
    factor = state.factor(settings, now)
    elapsed = max(0.0, now - state.updated_at)
    cap_requests = max(1.0, settings.requests_per_second * settings.burst_seconds)
    cap_records = max(1.0, settings.records_per_second * settings.burst_seconds)
    return replace(
        state,
        requests=min(cap_requests, state.requests + elapsed * settings.requests_per_second * factor),
        records=min(cap_records, state.records + elapsed * settings.records_per_second * factor),
        updated_at=now,
    )


def take(
    state: BucketState, settings: ThrottleSettings, now: float, *, records: int, requests: int
) -> tuple[BucketState, float]:
    """(new state, 0.0) when granted, else (state refilled, seconds to wait before asking again)."""
    state = refill(state, settings, now)
    if now < state.blocked_until:
        return state, state.blocked_until - now
    factor = state.factor(settings, now)
    cap_records = max(1.0, settings.records_per_second * settings.burst_seconds)
    # an acquire larger than the bucket is granted when the bucket is full, leaving a debt
    need_records = min(float(records), cap_records)
    need_requests = min(float(requests), max(1.0, settings.requests_per_second * settings.burst_seconds))
    if state.requests >= need_requests and state.records >= need_records:
        return replace(state, requests=state.requests - requests, records=state.records - records), 0.0
    wait = max(
        (need_requests - state.requests) / (settings.requests_per_second * factor),
        (need_records - state.records) / (settings.records_per_second * factor),
        0.001,
    )
    return state, wait


def overloaded(state: BucketState, settings: ThrottleSettings, now: float, retry_after: float | None) -> BucketState:
    """SAP said 429/503: multiplicative decrease (once per cooldown) and block until Retry-After."""
    blocked_until = max(state.blocked_until, now + (retry_after or 0.0))
    if now - state.decreased_at < settings.decrease_cooldown_seconds and state.floor < 1.0:
        return replace(state, blocked_until=blocked_until)
    floor = max(settings.min_factor, state.factor(settings, now) * settings.decrease_factor)
    # an empty bucket, so nobody bursts into SAP the moment the block ends
    return replace(
        refill(state, settings, now),
        floor=floor,
        decreased_at=now,
        blocked_until=blocked_until,
        requests=0.0,
        records=0.0,
    )


@dataclass(frozen=True)
class ThrottleEvents:
    """What happened to the throttle in a span of hours."""

    overloads: int = 0  # 429/503 answers from SAP reported to the throttle
    changes: list[dict[str, Any]] = field(default_factory=list)  # {"at", "settings"}, oldest first


def _hour(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H")


class Throttle(Protocol):
    def acquire(self, records: int, requests: int = 1) -> float:
        """Take tokens; 0.0 when granted, else the seconds to wait before trying again."""

    def overloaded(self, retry_after: float | None) -> None:
        """Report SAP's 429/503 (with its Retry-After in seconds, if any)."""

    def effective_rate(self) -> tuple[float, float]:
        """(requests/s, records/s) allowed right now."""


class InMemoryThrottle:
    def __init__(self, settings: ThrottleSettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or ThrottleSettings()
        self.clock = clock
        self.state = BucketState()  # updated_at 0: the first refill fills the bucket
        self.overloads = 0
        self._lock = threading.Lock()

    def acquire(self, records: int, requests: int = 1) -> float:
        with self._lock:
            self.state, wait = take(self.state, self.settings, self.clock(), records=records, requests=requests)
            return wait

    def overloaded(self, retry_after: float | None) -> None:
        with self._lock:
            self.overloads += 1
            self.state = overloaded(self.state, self.settings, self.clock(), retry_after)

    def effective_rate(self) -> tuple[float, float]:
        factor = self.state.factor(self.settings, self.clock())
        return self.settings.requests_per_second * factor, self.settings.records_per_second * factor


# Dispatchers in one process (threads locally; Lambda runs one at a time) take turns on the
# item: the condition on `version` is what shares the bucket between processes, and an
# emulator that checks conditions without a lock could otherwise grant one token twice.
_PROCESS_LOCK = threading.Lock()

_SETTING_FIELDS = tuple(ThrottleSettings.__dataclass_fields__)
_STATE_FIELDS = tuple(f for f in BucketState.__dataclass_fields__ if f != "version")


class DynamoDbThrottle:
    """The shared bucket: one item, optimistic concurrency on `version`, ~1 write per acquire."""

    def __init__(
        self,
        table_name: str,
        client: Any,
        *,
        defaults: ThrottleSettings | None = None,
        clock: Callable[[], float] = time.time,
        max_conflicts: int = 20,
        max_item_age: float = 1.0,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.defaults = defaults or ThrottleSettings()
        self.clock = clock
        self.max_conflicts = max_conflicts
        # the last item seen saves a read per acquire; refused acquires write nothing, so a
        # cached item older than this is read again (settings changes show up within it)
        self.max_item_age = max_item_age
        self._item: dict[str, Any] | None = None
        self._item_at = 0.0

    # -- operators ------------------------------------------------------------------------

    def configure(self, **settings: float) -> None:
        """Change rates at runtime (ops API, tests); leaves the bucket state alone."""
        unknown = set(settings) - set(_SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown throttle settings: {', '.join(sorted(unknown))}")
        names = {f"#{name}": name for name in settings}
        values = {f":{name}": {"N": _number(value)} for name, value in settings.items()}
        # bumping the version makes every dispatcher's next write fail and re-read the settings
        names["#version"] = "version"
        values[":one"] = {"N": "1"}
        self.client.update_item(
            TableName=self.table_name,
            Key=THROTTLE_KEY,
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in settings) + " ADD #version :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self._item = None
        change = {"at": datetime.fromtimestamp(self.clock(), UTC).isoformat(), "settings": settings}
        self._note(
            "SET #log = list_append(if_not_exists(#log, :none), :change)",
            {"#log": "changes"},
            {":none": {"L": []}, ":change": {"L": [{"S": json.dumps(change, sort_keys=True)}]}},
        )
        if "requests_per_second" in settings:
            observability.gauge("SapThrottleRequestsPerSecond", settings["requests_per_second"], "Count/Second")
        if "records_per_second" in settings:
            observability.gauge("SapThrottleRecordsPerSecond", settings["records_per_second"], "Count/Second")

    def events(self, since: float, until: float) -> ThrottleEvents:
        """Overload signals and operators' changes in the UTC hours from `since` to `until`."""
        items = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": EVENTS_PK},
                ":low": {"S": _hour(since)},
                ":high": {"S": _hour(until)},
            },
            ConsistentRead=True,
        ).get("Items", [])
        return ThrottleEvents(
            overloads=sum(int(item.get("overloads", {}).get("N", 0)) for item in items),
            changes=[json.loads(entry["S"]) for item in items for entry in item.get("changes", {}).get("L", [])],
        )

    def _note(self, update: str, names: dict[str, str], values: dict[str, Any]) -> None:
        """Count an event in this hour's item; a failure is logged, never stops a dispatcher."""
        now = self.clock()
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": EVENTS_PK}, "sk": {"S": _hour(now)}},
                UpdateExpression=update + ", #expires = :expires",
                ExpressionAttributeNames={**names, "#expires": "expires_at"},
                ExpressionAttributeValues={**values, ":expires": {"N": str(int(now) + EVENTS_TTL_SECONDS)}},
            )
        except ClientError as error:
            log.warning("throttle event not counted: %s", error.response["Error"]["Code"])

    def settings(self) -> ThrottleSettings:
        return self._settings(self._read())

    # -- dispatchers ----------------------------------------------------------------------

    def acquire(self, records: int, requests: int = 1) -> float:
        return self._transact(
            lambda state, settings, now: take(state, settings, now, records=records, requests=requests)
        )

    def overloaded(self, retry_after: float | None) -> None:
        decreased: list[tuple[float, float]] = []  # the rates after a decrease, when this call made one

        def change(state: BucketState, settings: ThrottleSettings, now: float) -> tuple[BucketState, float]:
            new_state = overloaded(state, settings, now, retry_after)
            decreased.clear()  # a conflict runs the change again: only the last run counts
            if new_state.decreased_at != state.decreased_at:
                factor = new_state.factor(settings, now)
                decreased.append((settings.requests_per_second * factor, settings.records_per_second * factor))
            return new_state, 0.0

        self._transact(change)
        self._note(
            "SET #n = if_not_exists(#n, :zero) + :one", {"#n": "overloads"}, {":zero": {"N": "0"}, ":one": {"N": "1"}}
        )
        for requests, records in decreased:
            observability.count("SapThrottleDecreases")
            observability.gauge("SapThrottleRequestsPerSecond", requests, "Count/Second")
            observability.gauge("SapThrottleRecordsPerSecond", records, "Count/Second")

    def effective_rate(self) -> tuple[float, float]:
        item = self._read()
        settings = self._settings(item)
        factor = self._state(item).factor(settings, self.clock())
        return settings.requests_per_second * factor, settings.records_per_second * factor

    # -- the item ---------------------------------------------------------------------------

    def _transact(self, change: Callable[[BucketState, ThrottleSettings, float], tuple[BucketState, float]]) -> float:
        with _PROCESS_LOCK:
            return self._transact_locked(change)

    def _transact_locked(
        self, change: Callable[[BucketState, ThrottleSettings, float], tuple[BucketState, float]]
    ) -> float:
        fresh = self._item is not None and time.monotonic() - self._item_at < self.max_item_age
        item = self._item if fresh and self._item is not None else self._read()
        for _ in range(self.max_conflicts):
            settings, state = self._settings(item), self._state(item)
            new_state, wait = change(state, settings, self.clock())
            if wait > 0 or new_state == state:
                return wait  # a refused acquire changes nothing worth a write
            try:
                self._item = self._write(new_state, expected_version=state.version)
                self._item_at = time.monotonic()
                return wait
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                # someone else moved the bucket: start again from what they wrote
                item = error.response.get("Item") or self._read()
        # heavy contention: behave as if the bucket were empty for a moment
        self._item = None
        return 0.05

    def _read(self) -> dict[str, Any]:
        item = self.client.get_item(TableName=self.table_name, Key=THROTTLE_KEY, ConsistentRead=True).get("Item") or {}
        self._item, self._item_at = item, time.monotonic()
        return item

    def _write(self, state: BucketState, expected_version: int) -> dict[str, Any]:
        values = {f":{name}": {"N": _number(value)} for name, value in asdict(state).items() if name != "version"}
        values[":next"] = {"N": str(expected_version + 1)}
        if expected_version:
            condition = "#version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        else:
            condition = "attribute_not_exists(#version)"
        names = {f"#{name}": name for name in _STATE_FIELDS}
        names["#version"] = "version"
        response = self.client.update_item(
            TableName=self.table_name,
            Key=THROTTLE_KEY,
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in _STATE_FIELDS) + ", #version = :next",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return response["Attributes"]

    def _settings(self, item: dict[str, Any]) -> ThrottleSettings:
        given = {name: float(item[name]["N"]) for name in _SETTING_FIELDS if name in item}
        return replace(self.defaults, **given)

    def _state(self, item: dict[str, Any]) -> BucketState:
        if "version" not in item:
            return BucketState()  # a new bucket starts full
        values: dict[str, Any] = {name: float(item[name]["N"]) for name in _STATE_FIELDS if name in item}
        return BucketState(version=int(item["version"]["N"]), **values)


def _number(value: float) -> str:
    return format(float(value), ".6f")

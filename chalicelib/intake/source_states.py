"""Each intake source's settings, cursor, counts and pull runs, in the configuration table.

Items (`pk = intake-source#{name}`): `sk = settings` (what an admin set), `sk = cursor` (the
pull's own JSON, saved per page), `sk = status` (counters and the last webhook, pull and
error: ids, codes and counts, never personal data) and `sk = pull#{id}` (one pull run,
expiring after 30 days). Delivery markers (`pk = intake-delivery#{source}#{delivery id}`)
remember for a week which deliveries were stored, so a platform's retry changes nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import observability
from chalicelib.intake.exceptions import InvalidSourceSettings, UnknownIntakeSource
from chalicelib.intake.pulls import SourceSettings

MARKER_LIFETIME = timedelta(days=7)
PULL_RUN_LIFETIME = timedelta(days=30)
MIN_EVERY_MINUTES = 5


def _now() -> datetime:
    return datetime.now(UTC)


def settings_from(name: str, body: Mapping[str, Any], current: SourceSettings | None = None) -> SourceSettings:
    """Settings from a `PUT /sources/{name}` body, keeping what it leaves out."""
    base = current or SourceSettings(name=name)
    known = {"enabled", "follow", "organization", "every_minutes", "options"}
    unknown = set(body) - known
    if unknown:
        raise InvalidSourceSettings(
            f"unknown settings: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    enabled = body.get("enabled", base.enabled)
    follow = body.get("follow", list(base.follow))
    organization = body.get("organization", base.organization)
    every = body.get("every_minutes", base.every_minutes)
    options = body.get("options", base.options)
    if not isinstance(enabled, bool):
        raise InvalidSourceSettings("enabled is true or false")
    if not isinstance(follow, list) or not all(isinstance(item, str) and item.strip() for item in follow):
        raise InvalidSourceSettings("follow is a list of ids (event, form or marketplace ids)")
    if organization is not None and (not isinstance(organization, str) or not organization.strip()):
        raise InvalidSourceSettings("organization is an id or null")
    if not isinstance(every, int) or isinstance(every, bool) or every < MIN_EVERY_MINUTES:
        raise InvalidSourceSettings(f"every_minutes is a whole number of minutes, at least {MIN_EVERY_MINUTES}")
    if not isinstance(options, dict):
        raise InvalidSourceSettings("options is an object")
    return SourceSettings(
        name=name,
        enabled=enabled,
        follow=tuple(item.strip() for item in follow),
        organization=organization.strip() if organization else None,
        every_minutes=every,
        options=options,
    )


@dataclass
class PullRun:
    pull_id: str
    source: str
    trigger: str  # "schedule" or "api"
    status: str  # RUNNING, DONE, FAILED
    started_at: str
    finished_at: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class DynamoSourceStates:
    def __init__(self, table_name: str, client: Any, clock: Callable[[], datetime] = _now) -> None:
        self.table = table_name
        self.client = client
        self.clock = clock
        self._settings: dict[str, tuple[float, SourceSettings | None]] = {}

    # -- settings and cursor --------------------------------------------------------

    def settings(self, name: str, max_age_seconds: float = 0.0) -> SourceSettings | None:
        """The source's settings; with `max_age_seconds`, as read up to that long ago in this
        process (the webhook routes: one read a minute, not one per delivery)."""
        cached = self._settings.get(name)
        if cached is not None and time.monotonic() - cached[0] < max_age_seconds:
            return cached[1]
        item = self._get(name, "settings", consistent=max_age_seconds == 0)
        settings = None if item is None else settings_from(name, json.loads(item["value"]["S"]))
        self._settings[name] = (time.monotonic(), settings)
        return settings

    def put_settings(self, settings: SourceSettings, principal: str) -> None:
        value = {
            "enabled": settings.enabled,
            "follow": list(settings.follow),
            "organization": settings.organization,
            "every_minutes": settings.every_minutes,
            "options": settings.options,
        }
        self._put(settings.name, "settings", {"value": {"S": json.dumps(value)}, "updated_by": {"S": principal}})
        self._settings.pop(settings.name, None)

    def cursor(self, name: str) -> dict[str, Any] | None:
        item = self._get(name, "cursor")
        return json.loads(item["value"]["S"]) if item else None

    def save_cursor(self, name: str, cursor: dict[str, Any]) -> None:
        self._put(name, "cursor", {"value": {"S": json.dumps(cursor, sort_keys=True)}})

    # -- status ------------------------------------------------------------------------

    def status(self, name: str) -> dict[str, Any]:
        item = self._get(name, "status") or {}
        status: dict[str, Any] = {}
        for attribute, value in item.items():
            if attribute in ("pk", "sk"):
                continue
            if "N" in value:
                status[attribute] = int(value["N"])
            elif "S" in value:
                status[attribute] = value["S"]
            elif "M" in value:
                status[attribute] = {k: int(v["N"]) for k, v in value["M"].items()}
        return status

    def count(self, name: str, counters: Mapping[str, int], stamps: Mapping[str, str] | None = None) -> None:
        """Add to counters and set the given stamps (e.g. `last_webhook_at`) on the status item."""
        counters = {key: value for key, value in counters.items() if value}
        stamps = dict(stamps or {})
        if not counters and not stamps:
            return
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for index, (key, amount) in enumerate(counters.items()):
            names[f"#c{index}"] = key
            values[f":c{index}"] = {"N": str(amount)}
            adds.append(f"#c{index} :c{index}")
        sets = []
        for index, (key, stamp) in enumerate(stamps.items()):
            names[f"#s{index}"] = key
            values[f":s{index}"] = {"S": stamp}
            sets.append(f"#s{index} = :s{index}")
        expression = " ".join(
            part
            for part in (f"SET {', '.join(sets)}" if sets else "", f"ADD {', '.join(adds)}" if adds else "")
            if part
        )
        self.client.update_item(
            TableName=self.table,
            Key=self._key(name, "status"),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def refused(self, name: str, reason: str) -> None:
        """Count a refused webhook delivery by its reason code (and as the `WebhooksRefused` metric)."""
        observability.count("WebhooksRefused", source=name, reason=reason)
        self.count(name, {"webhooks_refused": 1, f"refused_{reason}": 1}, {"last_refused_at": self._stamp()})

    def take_lease(self, name: str, seconds: int) -> bool:
        """Whether this caller may pull `name` now (no other pull holds an unexpired lease)."""
        now = self.clock()
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(name, "status"),
                UpdateExpression="SET pull_lease_until = :until",
                ConditionExpression="attribute_not_exists(pull_lease_until) OR pull_lease_until < :now",
                ExpressionAttributeValues={
                    ":until": {"N": str(int(now.timestamp()) + seconds)},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, name: str) -> None:
        self.client.update_item(
            TableName=self.table, Key=self._key(name, "status"), UpdateExpression="REMOVE pull_lease_until"
        )

    # -- pull runs -----------------------------------------------------------------------

    def start_pull(self, name: str, trigger: str) -> PullRun:
        run = PullRun(
            pull_id=f"{self.clock():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            source=name,
            trigger=trigger,
            status="RUNNING",
            started_at=self._stamp(),
        )
        self._put_run(run)
        return run

    def finish_pull(self, run: PullRun, result: dict[str, Any] | None = None, error: str | None = None) -> PullRun:
        run.status = "FAILED" if error else "DONE"
        run.finished_at = self._stamp()
        run.result = result or {}
        run.error = error
        self._put_run(run)
        return run

    def pull_run(self, name: str, pull_id: str) -> PullRun:
        item = self._get(name, f"pull#{pull_id}")
        if item is None:
            raise UnknownIntakeSource(f"no pull {pull_id!r} of source {name!r}")
        return PullRun(**json.loads(item["value"]["S"]))

    def _put_run(self, run: PullRun) -> None:
        expires = int((self.clock() + PULL_RUN_LIFETIME).timestamp())
        self._put(
            run.source,
            f"pull#{run.pull_id}",
            {"value": {"S": json.dumps(run.public())}, "expires_at": {"N": str(expires)}},
        )

    # -- delivery markers -------------------------------------------------------------------

    def unseen(self, source: str, delivery_ids: Iterable[str]) -> set[str]:
        """The ids of `delivery_ids` not stored before."""
        wanted = sorted(set(delivery_ids))
        seen: set[str] = set()
        for start in range(0, len(wanted), 100):
            keys = [self._marker_key(source, delivery) for delivery in wanted[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ProjectionExpression": "pk"}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    seen.add(item["pk"]["S"].split("#", 2)[2])
                request = response.get("UnprocessedKeys") or {}
        return set(wanted) - seen

    def mark_stored(self, source: str, delivery_ids: Iterable[str]) -> None:
        expires = str(int((self.clock() + MARKER_LIFETIME).timestamp()))
        items = [
            {"PutRequest": {"Item": {**self._marker_key(source, delivery), "expires_at": {"N": expires}}}}
            for delivery in sorted(set(delivery_ids))
        ]
        for start in range(0, len(items), 25):
            request: dict[str, Any] = {self.table: items[start : start + 25]}
            while request:
                request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    # -- items ------------------------------------------------------------------------

    def _stamp(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    @staticmethod
    def _key(name: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": f"intake-source#{name}"}, "sk": {"S": sk}}

    @staticmethod
    def _marker_key(source: str, delivery_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"intake-delivery#{source}#{delivery_id}"}, "sk": {"S": "stored"}}

    def _get(self, name: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key=self._key(name, sk), ConsistentRead=consistent
        ).get("Item")
        return item

    def _put(self, name: str, sk: str, attributes: dict[str, Any]) -> None:
        item = {**self._key(name, sk), **attributes, "updated_at": {"S": self._stamp()}}
        self.client.put_item(TableName=self.table, Item=item)

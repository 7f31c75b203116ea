"""Alerts as incidents: one mail when a problem appears, a reminder at most every N hours, one when it ends.

A watcher run observes counts (messages in a dead-letter queue, documents stuck in a state);
each watched thing has one incident item in the config table (`pk=incidents`, `sk=<key>`)
with a version. A run that sees a change worth a mail (opened, reminder due, resolved)
claims it with a conditional write on that version, and only the run that won the claim
mails it: two runs that see the same change mail once. Mails carry names and counts only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.mail import Mailer

PARTITION = "incidents"


class Status(str, enum.Enum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class Action(str, enum.Enum):
    OPENED = "OPENED"
    REMINDED = "REMINDED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True)
class Observation:
    """What one watcher run saw of one watched thing: `count` 0 means all is well."""

    key: str  # `dlq:sap-dispatch-dlq`, `stuck:QUEUED_FOR_SAP`
    label: str  # `dead-letter queue data-engine-prod-sap-dispatch-dlq.fifo`
    count: int
    unit: str  # `message(s)`, `document(s)`
    at_least: bool = False  # the count stopped at a cap: "100 or more"

    def amount(self) -> str:
        return f"{self.count}{' or more' if self.at_least else ''} {self.unit}"


@dataclass(frozen=True)
class Incident:
    """The state of one watched thing's incident; times in epoch seconds."""

    key: str
    incident_id: str
    status: Status
    opened_at: float
    mailed_at: float
    count: int
    reminders: int = 0
    resolved_at: float | None = None
    version: int = 0  # the version as stored; a claim writes version + 1


@dataclass(frozen=True)
class Event:
    """A mail-worthy change this run claimed."""

    action: Action
    observation: Observation
    incident: Incident  # as written
    previous: Incident | None  # as read, to put back if the mail cannot be sent


def next_step(
    current: Incident | None, seen: Observation, now: float, reminder_seconds: float
) -> tuple[Action, Incident] | None:
    """The change `seen` calls for, as (action, incident to write); None when no mail is due."""
    is_open = current is not None and current.status is Status.OPEN
    version = current.version if current else 0
    if seen.count > 0 and not is_open:
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        opened = Incident(seen.key, f"{seen.key}@{stamp}", Status.OPEN, now, now, seen.count, version=version)
        return Action.OPENED, opened
    if current is None or not is_open:
        return None
    if seen.count == 0:
        return Action.RESOLVED, replace(current, status=Status.RESOLVED, resolved_at=now, mailed_at=now, count=0)
    if now - current.mailed_at >= reminder_seconds:
        return Action.REMINDED, replace(current, mailed_at=now, count=seen.count, reminders=current.reminders + 1)
    return None


class IncidentBook(Protocol):
    def read(self) -> dict[str, Incident]:
        """Every incident by key, read consistently."""

    def claim(self, incident: Incident, previous: Incident | None) -> bool:
        """Write `incident` if the stored one is still `previous`; False when another run was first."""

    def release(self, incident: Incident, previous: Incident | None) -> None:
        """Put `previous` back over our own `incident` (the mail it claimed was not sent)."""


class InMemoryIncidents:
    def __init__(self) -> None:
        self.items: dict[str, Incident] = {}

    def read(self) -> dict[str, Incident]:
        return dict(self.items)

    def claim(self, incident: Incident, previous: Incident | None) -> bool:
        if self.items.get(incident.key) != previous:
            return False
        self.items[incident.key] = replace(incident, version=incident.version + 1)
        return True

    def release(self, incident: Incident, previous: Incident | None) -> None:
        if self.items.get(incident.key) == replace(incident, version=incident.version + 1):
            if previous is None:
                del self.items[incident.key]
            else:
                self.items[incident.key] = replace(previous, version=incident.version + 2)


class DynamoIncidents:
    """The incidents partition of the config table: one small item per watched thing."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def read(self) -> dict[str, Incident]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PARTITION}},
            "ConsistentRead": True,
        }
        found: dict[str, Incident] = {}
        while True:
            response = self.client.query(**request)
            for item in response.get("Items", []):
                incident = _incident(item)
                found[incident.key] = incident
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def claim(self, incident: Incident, previous: Incident | None) -> bool:
        return self._put(_item(replace(incident, version=incident.version + 1)), previous)

    def release(self, incident: Incident, previous: Incident | None) -> None:
        ours = replace(incident, version=incident.version + 1)
        if previous is not None:
            self._put(_item(replace(previous, version=incident.version + 2)), ours)
            return
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": PARTITION}, "sk": {"S": incident.key}},
                ConditionExpression="v = :ours",
                ExpressionAttributeValues={":ours": {"N": str(ours.version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _put(self, item: dict[str, Any], expected: Incident | None) -> bool:
        request: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if expected is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "v = :seen"
            request["ExpressionAttributeValues"] = {":seen": {"N": str(expected.version)}}
        try:
            self.client.put_item(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _item(incident: Incident) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": PARTITION},
        "sk": {"S": incident.key},
        "id": {"S": incident.incident_id},
        "status": {"S": incident.status.value},
        "opened_at": {"N": repr(incident.opened_at)},
        "mailed_at": {"N": repr(incident.mailed_at)},
        "count": {"N": str(incident.count)},
        "reminders": {"N": str(incident.reminders)},
        "v": {"N": str(incident.version)},
    }
    if incident.resolved_at is not None:
        item["resolved_at"] = {"N": repr(incident.resolved_at)}
    return item


def _incident(item: dict[str, Any]) -> Incident:
    return Incident(
        key=item["sk"]["S"],
        incident_id=item["id"]["S"],
        status=Status(item["status"]["S"]),
        opened_at=float(item["opened_at"]["N"]),
        mailed_at=float(item["mailed_at"]["N"]),
        count=int(item["count"]["N"]),
        reminders=int(item["reminders"]["N"]),
        resolved_at=float(item["resolved_at"]["N"]) if "resolved_at" in item else None,
        version=int(item["v"]["N"]),
    )


def review(
    observations: Sequence[Observation],
    book: IncidentBook,
    mailer: Mailer,
    *,
    now: float,
    reminder_hours: float,
    title: str,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Open, remind and resolve incidents for what a run observed; one mail for what it claimed.

    `notes` (counts and ids from the components that parked records) go into that mail.
    A mail that cannot be sent gives its claims back, so the next run tries again.
    """
    current = book.read()
    claimed: list[Event] = []
    for seen in observations:
        previous = current.get(seen.key)
        step = next_step(previous, seen, now, reminder_hours * 3600)
        if step is not None and book.claim(step[1], previous):
            claimed.append(Event(step[0], seen, step[1], previous))
    if claimed:
        mailed = {event.incident.key for event in claimed}
        still_open = [
            seen
            for seen in observations
            if seen.count and seen.key not in mailed and seen.key in current and current[seen.key].status is Status.OPEN
        ]
        subject, body = incident_mail(claimed, still_open, now, reminder_hours, title, notes)
        try:
            mailer.send(subject, body)
        except Exception:
            for event in claimed:
                book.release(event.incident, event.previous)
            raise
    return {
        "incidents": {seen.key: ("OPEN" if seen.count else "CLEAR") for seen in observations},
        "mailed": {event.incident.key: event.action.value for event in claimed},
    }


def incident_mail(
    events: Sequence[Event],
    still_open: Sequence[Observation],
    now: float,
    reminder_hours: float,
    title: str,
    notes: Sequence[str] = (),
) -> tuple[str, str]:
    """(subject, body): what opened, what is still open (reminders) and what was resolved."""
    by_action = {action: [e for e in events if e.action is action] for action in Action}
    parts = [f"{len(by_action[a])} {a.value.lower()}" for a in Action if by_action[a]]
    subject = f"[{title}] incidents: {', '.join(parts)}"
    if len(events) == 1:
        only = events[0]
        verb = {Action.OPENED: "opened", Action.REMINDED: "still open", Action.RESOLVED: "resolved"}[only.action]
        subject = f"[{title}] incident {verb}: {only.observation.label}"
    lines: list[str] = []
    for event in by_action[Action.OPENED]:
        lines.append(f"OPENED   {event.observation.label}: {event.observation.amount()}")
    for event in by_action[Action.REMINDED]:
        open_for = _duration(now - event.incident.opened_at)
        lines.append(f"OPEN     {event.observation.label}: {event.observation.amount()}, open for {open_for}")
    for event in by_action[Action.RESOLVED]:
        lines.append(
            f"RESOLVED {event.observation.label}: clear again after {_duration(now - event.incident.opened_at)}"
        )
    if still_open:
        lines += ["", "Also still open (reminded separately):"]
        lines += [f"  {seen.label}: {seen.amount()}" for seen in still_open]
    lines += [
        "",
        f"While an incident stays open you hear of it again at most every {reminder_hours:g} h, "
        "and once when it is resolved.",
        "Queues: GET /queues; stuck documents: GET /documents?state=...&until=...",
    ]
    lines += [f"\n{note}" for note in notes if note]
    return subject, "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"

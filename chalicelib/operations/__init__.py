"""Operational views over the engine: queue depths, stuck documents, and the watch that alerts on them.

`incidents` turns what a watch sees into incident mails (opened, reminded, resolved);
`daily_summary` mails the last 24 hours in figures. Counts and ids only, never personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.mail import Mailer
from chalicelib.operations.incidents import IncidentBook, Observation, review
from chalicelib.resources import DeadLetterQueue, Resources
from chalicelib.state_keeper.lifecycle import IN_FLIGHT_STATES, RANK, State, epoch_millis
from chalicelib.state_keeper.store import StateStore

_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]

# A document cannot rightly be in flight longer than a DLQ keeps its message (14 days):
# stuck documents are looked for that far back.
STUCK_LOOKBACK = timedelta(days=14)
STUCK_STATES = tuple(sorted(IN_FLIGHT_STATES, key=RANK.__getitem__))


def queue_depths(resources: Resources, sqs: Any) -> list[dict[str, Any]]:
    """Messages waiting, in flight and delayed, for every queue and dead-letter queue."""
    depths = []
    for queue in resources.all_queues():
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_DEPTH_ATTRIBUTES)["Attributes"]
        depths.append(
            {
                "queue": queue.key,
                "name": queue.name,
                "dead_letter": isinstance(queue, DeadLetterQueue),
                "waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
        )
    return depths


@dataclass
class Stuck:
    """Documents in one in-flight state for longer than the threshold."""

    state: State
    documents: int = 0
    at_least: bool = False  # counting stopped at the cap
    document_ids: list[str] = field(default_factory=list)  # the newest, up to `ids_kept`


def stuck_documents(
    store: StateStore, now: datetime, older_than: timedelta, cap: int, ids_kept: int = 20
) -> list[Stuck]:
    """Per in-flight state, the documents that entered it more than `older_than` ago and are
    still there (state pages list only documents still in their state), at most `cap` each."""
    since_ms, until_ms = epoch_millis(now - STUCK_LOOKBACK), epoch_millis(now - older_than)
    found = []
    for state in STUCK_STATES:
        stuck, cursor = Stuck(state), None
        while True:
            records, cursor = store.list_in_state(
                state, None, since_ms, until_ms, min(100, cap - stuck.documents), cursor
            )
            stuck.documents += len(records)
            room = ids_kept - len(stuck.document_ids)
            stuck.document_ids += [record.document_id for record in records[: max(room, 0)]]
            if cursor is None:
                break
            if stuck.documents >= cap:
                stuck.at_least = True
                break
        found.append(stuck)
    return found


def observations(resources: Resources, depths: Sequence[dict[str, Any]], stuck: Sequence[Stuck]) -> list[Observation]:
    """What a watch run sees: messages per dead-letter queue, stuck documents per state."""
    seen = [
        Observation(f"dlq:{d['queue']}", f"dead-letter queue {d['name']}", d["waiting"] + d["in_flight"], "message(s)")
        for d in depths
        if d["dead_letter"]
    ]
    minutes = resources.alerting.stuck_after_minutes
    seen += [
        Observation(
            f"stuck:{s.state.value}",
            f"documents in {s.state.value} for more than {minutes} min",
            s.documents,
            "document(s)",
            at_least=s.at_least,
        )
        for s in stuck
    ]
    return seen


# a watch run counts at most this many stuck documents per state (the summary counts more)
WATCH_STUCK_CAP = 100


def watch_dead_letter_queues(
    resources: Resources,
    sqs: Any,
    mailer: Mailer,
    incidents: IncidentBook,
    store: StateStore,
    now: datetime,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Open, remind and resolve incidents for dead-letter queues holding messages and for
    stuck documents; at most one mail per run, and none when nothing changed.

    `notes` are sections from the components that parked records (counts and ids only);
    they go into the run's mail when there is one.
    """
    depths = queue_depths(resources, sqs)
    stuck = stuck_documents(store, now, timedelta(minutes=resources.alerting.stuck_after_minutes), WATCH_STUCK_CAP)
    reviewed = review(
        observations(resources, depths, stuck),
        incidents,
        mailer,
        now=now.timestamp(),
        reminder_hours=resources.alerting.reminder_hours,
        title=f"{resources.app} {resources.stage}",
        notes=notes,
    )
    parked = {d["name"]: d["waiting"] + d["in_flight"] for d in depths if d["dead_letter"]}
    return {"dead_letter_messages": parked, "alerted": bool(reviewed["mailed"]), **reviewed}

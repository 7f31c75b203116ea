"""Operational views and alerts over the engine's queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.mail import Mailer
from chalicelib.resources import Resources

_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


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
                "dead_letter": queue.key.endswith("-dlq"),
                "waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
        )
    return depths


def watch_dead_letter_queues(
    resources: Resources, sqs: Any, mailer: Mailer, notes: Sequence[str] = ()
) -> dict[str, Any]:
    """Mail business operations one summary when any dead-letter queue holds messages.

    `notes` are sections from the components that parked records (counts and ids only),
    so one run sends one mail however many queues hold messages.
    """
    parked = {d["name"]: d["waiting"] + d["in_flight"] for d in queue_depths(resources, sqs) if d["dead_letter"]}
    holding = {name: count for name, count in parked.items() if count}
    if holding:
        lines = [f"- {name}: {count} message(s)" for name, count in sorted(holding.items())]
        sections = "".join(f"\n\n{note}" for note in notes if note)
        mailer.send(
            subject=f"[{resources.app} {resources.stage}] messages parked in dead-letter queues",
            body="These dead-letter queues hold messages that need a replay or a fix:\n"
            + "\n".join(lines)
            + "\n\nEach message holds many records; see GET /queues."
            + sections,
        )
    return {"dead_letter_messages": parked, "alerted": bool(holding)}

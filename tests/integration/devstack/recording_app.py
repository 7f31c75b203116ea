"""A small Chalice app whose handlers record what the local runtime hands them.

It exercises the runtime's behaviours independently of the Data Engine's own handlers.
The handlers run in the runtime's worker processes: each call is a JSON line appended to
the file `RECORDING_APP_CALLS` names (set before the runtime starts), read by `calls()`.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import Any

from chalice import Chalice

app = Chalice(app_name="recorder")

CALLS_FILE = "RECORDING_APP_CALLS"


def record(name: str, value: Any) -> None:
    with open(os.environ[CALLS_FILE], "a", encoding="utf-8") as calls_file:  # one short append: atomic
        calls_file.write(json.dumps([name, value]) + "\n")


def calls() -> dict[str, list[Any]]:
    """Every call recorded so far, by handler, in the order they happened (tuples as lists)."""
    recorded: dict[str, list[Any]] = defaultdict(list)
    with open(os.environ[CALLS_FILE], encoding="utf-8") as calls_file:
        for line in calls_file:
            name, value = json.loads(line)
            recorded[name].append(value)
    return recorded


def clear_calls() -> None:
    open(os.environ[CALLS_FILE], "w").close()


@app.on_sqs_message(queue="rec-batches", batch_size=5, maximum_batching_window_in_seconds=1)
def batches(event: Any) -> None:
    record("batches", [r.body for r in event])


@app.on_sqs_message(queue="rec-partial", batch_size=10, maximum_batching_window_in_seconds=1)
def partial(event: Any) -> dict[str, Any]:
    failures = []
    for r in event:
        record("partial", r.body)
        if r.body.startswith("bad"):
            failures.append({"itemIdentifier": r.to_dict()["messageId"]})
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue="rec-poison", batch_size=1)
def poison(event: Any) -> None:
    for r in event:
        record("poison", [r.body, r.to_dict()["attributes"]["ApproximateReceiveCount"]])
    raise RuntimeError("this handler always fails")


@app.on_sqs_message(queue="rec-orders.fifo", batch_size=1)
def orders(event: Any) -> None:
    for r in event:
        record("orders", json.loads(r.body))


@app.on_s3_event(bucket="rec-bucket", prefix="incoming/", suffix=".json")
def uploaded(event: Any) -> None:
    """Fails on a key under `incoming/fail/` while the file `failing_uploads()` names exists."""
    record("uploaded", [event.bucket, event.key])
    if event.key.startswith("incoming/fail/") and os.path.exists(failing_uploads()):
        raise RuntimeError("told to fail")


def failing_uploads() -> str:
    return os.environ[CALLS_FILE] + ".fail-uploads"


@app.schedule("cron(0 3 * * ? *)")
def nightly(event: Any) -> None:
    """Fails while the file `failing_nightly()` names exists."""
    record("nightly", event.to_dict()["detail-type"])
    if os.path.exists(failing_nightly()):
        raise RuntimeError("told to fail")


def failing_nightly() -> str:
    return os.environ[CALLS_FILE] + ".fail-nightly"


@app.lambda_function(name="double")
def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"value": event["value"] * 2}


@app.lambda_function(name="slow_note")
def slow_note(event: dict[str, Any], context: Any) -> None:
    time.sleep(event["seconds"])
    record("slow_note", event["note"])


@app.lambda_function(name="flaky")
def flaky(event: dict[str, Any], context: Any) -> None:
    """Fails while the file `fail_while` names exists."""
    record("flaky", event["n"])
    if os.path.exists(event["fail_while"]):
        raise RuntimeError("told to fail")


@app.on_sqs_message(queue="rec-slow", batch_size=1, maximum_concurrency=2)
def slow(event: Any) -> None:
    """Bodies `name:seconds`: records its start (with its process), sleeps, records its end."""
    for r in event:
        name, seconds = r.body.split(":")
        count = r.to_dict()["attributes"]["ApproximateReceiveCount"]
        record("slow", {"name": name, "pid": os.getpid(), "receive_count": count, "at": time.time()})
        time.sleep(float(seconds))
        record("slow_done", {"name": name, "pid": os.getpid(), "at": time.time()})

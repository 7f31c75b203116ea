"""A small Chalice app whose handlers record what the local runtime hands them.

It exercises the runtime's behaviours independently of the Data Engine's own handlers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

from chalice import Chalice

app = Chalice(app_name="recorder")

calls: dict[str, list[Any]] = defaultdict(list)
_lock = threading.Lock()


def record(name: str, value: Any) -> None:
    with _lock:
        calls[name].append(value)


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
        record("poison", (r.body, r.to_dict()["attributes"]["ApproximateReceiveCount"]))
    raise RuntimeError("this handler always fails")


@app.on_sqs_message(queue="rec-orders.fifo", batch_size=1)
def orders(event: Any) -> None:
    for r in event:
        record("orders", json.loads(r.body))


@app.on_s3_event(bucket="rec-bucket", prefix="incoming/", suffix=".json")
def uploaded(event: Any) -> None:
    record("uploaded", (event.bucket, event.key))


@app.schedule("cron(0 3 * * ? *)")
def nightly(event: Any) -> None:
    record("nightly", event.to_dict()["detail-type"])


@app.lambda_function(name="double")
def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"value": event["value"] * 2}


@app.lambda_function(name="slow_note")
def slow_note(event: dict[str, Any], context: Any) -> None:
    time.sleep(event["seconds"])
    calls["slow_note"].append(event["note"])

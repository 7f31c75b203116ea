"""What Lambda's event source mappings and S3 notifications do, against the emulator.

`QueuePoller` is one SQS event source mapping: it receives up to `batch_size` messages,
calls the handler with Lambda's SQS event, and deletes what succeeded. A raised exception
leaves the whole batch to reappear after the queue's visibility timeout; a returned
`{"batchItemFailures": [...]}` leaves only those records. The queue's own redrive
policy (`maxReceiveCount`) moves messages that keep failing to the dead-letter queue.

SQS delivers at least once and S3 may notify twice: with `duplicate_share` above 0 (off by
default; the chaos bench sets it) that share of batches, or of S3 events, is handed to the
handler a second time right after the first, as a redelivery would be.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.emulator import LambdaContext
from devstack.events import sqs_record

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]
_MAX_RECEIVE = 10  # SQS's own limit per ReceiveMessage call


@dataclass
class PollerStats:
    batches: int = 0
    messages: int = 0
    failed_batches: int = 0
    failed_messages: int = 0
    duplicated_messages: int = 0  # handed to the handler a second time (`duplicate_share`)


class QueuePoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        function_name: str,
        batch_size: int = 10,
        batching_window: float = 0.0,
        wait_seconds: int = 1,
        concurrency: int = 1,
        duplicate_share: float = 0.0,
    ) -> None:
        """`concurrency` is the event source's `maximum_concurrency`: handlers running at once;
        `duplicate_share` the share of deliveries handed over twice."""
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.function_name = function_name
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.wait_seconds = wait_seconds
        self.concurrency = max(1, concurrency)
        self.duplicate_share = duplicate_share
        self._random = random.Random()
        self.stats = PollerStats()
        self._running = 0
        self._running_lock = threading.Lock()
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # moto's ReceiveMessage is not safe against itself: two at once on a queue can both
        # take a message, or fail after marking messages in flight (HTTP 500, retried), which
        # then reappear only after the visibility timeout; so this mapping's threads take turns
        self._receive_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def busy(self) -> bool:
        return self._running > 0

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._run, name=f"poll-{self.function_name}-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def halt(self) -> None:
        """Take no new batch (a long poll under way ends on its own)."""
        self._stop.set()

    def stop(self, idle_until: float | None = None) -> None:
        """Halt, and wait for a batch being handled to finish; a thread that is only waiting
        in a long poll holds nothing, so it is waited for until `idle_until` (monotonic
        time; a second from now by default), not for the rest of its poll."""
        self.halt()
        grace_ends = time.monotonic() + 1.0 if idle_until is None else idle_until
        for thread in self._threads:
            busy = self.busy
            thread.join(timeout=self.wait_seconds + 30 if busy else max(0.0, grace_ends - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (ClientError, EndpointConnectionError) as error:  # SQS misbehaving or gone: poll again
                if self._stop.is_set():
                    return
                log.warning("poller for %s: %s", self.function_name, error)
                self._stop.wait(1)
            except Exception:  # keep polling, as Lambda's poller does; the batch is retried
                if self._stop.is_set():  # the stack is going down (the emulator may be gone first)
                    return
                log.exception("poller for %s failed", self.function_name)
                self._stop.wait(1)

    def poll_once(self) -> int:
        """Receive one batch, run the handler, delete what succeeded. Returns batch size."""
        messages = self._receive_batch()
        if not messages:
            return 0
        with self._running_lock:
            self._running += 1
        try:
            self._handle(messages)
        finally:
            with self._running_lock:
                self._running -= 1
        return len(messages)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.batching_window
        wait = self.wait_seconds
        while len(messages) < self.batch_size and not self._stop.is_set():
            with self._receive_lock:
                received = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(_MAX_RECEIVE, self.batch_size - len(messages)),
                    WaitTimeSeconds=wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            messages.extend(received)
            wait = 0 if messages else self.wait_seconds  # an empty queue is long-polled, not spun on
            window_over = time.monotonic() >= deadline
            if messages and (window_over or not received):  # Lambda invokes when its window ends
                break
            if not received and window_over:
                break
        return messages

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self._queue_arn) for m in messages]}
        self.stats.batches += 1
        self.stats.messages += len(messages)
        try:
            result = self.handler(event, LambdaContext(self.function_name))
        except Exception as error:  # noqa: BLE001 - a handler error fails its batch, as in Lambda
            self.stats.failed_batches += 1
            self.stats.failed_messages += len(messages)
            log.warning("%s failed on a batch of %d: %s", self.function_name, len(messages), type(error).__name__)
            return
        if self._twice():
            self.stats.duplicated_messages += len(messages)
            try:  # the redelivery's own failures come back as the first's would; the first decides
                self.handler(event, LambdaContext(self.function_name))
            except Exception as error:  # noqa: BLE001 - as above
                log.warning("%s failed on a redelivered batch: %s", self.function_name, type(error).__name__)
        failed = _failed_message_ids(result)
        self.stats.failed_messages += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), _MAX_RECEIVE):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + _MAX_RECEIVE])
                ],
            )

    def _twice(self) -> bool:
        return self.duplicate_share > 0 and self._random.random() < self.duplicate_share


def _failed_message_ids(result: Any) -> set[str]:
    if isinstance(result, dict) and "batchItemFailures" in result:
        return {item["itemIdentifier"] for item in result["batchItemFailures"]}
    return set()


def _error_name(error: Exception) -> str:
    """The error's type, and for an AWS error its operation and code (never its message)."""
    if isinstance(error, ClientError):
        return f"{type(error).__name__} {error.operation_name} {error.response.get('Error', {}).get('Code')}"
    return type(error).__name__


class S3NotificationPoller(QueuePoller):
    """Delivers S3 event notifications, which moto puts on an SQS queue, to a handler.

    Lambda receives S3 notifications one event per invocation; the queue is an
    implementation detail of the local runtime, invisible to the handler. An event that
    failed its `max_receives`-th time goes to `on_exhausted` (Lambda's on-failure
    destination), and leaves the queue once that took it; else the queue's redrive keeps it.
    """

    max_receives = 0  # 0: the queue's redrive policy alone decides
    on_exhausted: Callable[[str, Any, Exception], bool] | None = None

    def _exhausted(self, message: dict[str, Any], body: Any, error: Exception) -> bool:
        received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if not self.max_receives or received < self.max_receives or self.on_exhausted is None:
            return False
        return self.on_exhausted(self.function_name, body, error)

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            body = json.loads(message["Body"])
            if body.get("Event") == "s3:TestEvent":  # S3 sends one when notifications are set
                self._delete(message)
                continue
            self.stats.batches += 1
            self.stats.messages += 1
            try:
                self.handler(body, LambdaContext(self.function_name))
            except Exception as error:  # noqa: BLE001 - a handler error fails its event, as in Lambda
                self.stats.failed_messages += 1
                log.warning("%s failed on an S3 event: %s", self.function_name, _error_name(error))
                if self._exhausted(message, body, error):
                    self._delete(message)
                continue
            if self._twice():
                self.stats.duplicated_messages += 1
                try:
                    self.handler(body, LambdaContext(self.function_name))
                except Exception as error:  # noqa: BLE001 - as above
                    log.warning("%s failed on a repeated S3 event: %s", self.function_name, _error_name(error))
            self._delete(message)

    def _delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

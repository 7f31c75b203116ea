"""The local event source mapping: its threads receive one at a time; its batching window ends a batch."""

from __future__ import annotations

import threading
import time
from typing import Any

from devstack.pollers import QueuePoller


class CountingSqs:
    """Answers receives with one message each, and records how many ran at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_at_once = 0
        self.deleted = 0
        self.lock = threading.Lock()
        self.serial = 0

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:eu-central-1:000000000000:q"}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.inside += 1
            self.most_at_once = max(self.most_at_once, self.inside)
            self.serial += 1
            serial = self.serial
        time.sleep(0.02)
        with self.lock:
            self.inside -= 1
        return {"Messages": [{"MessageId": str(serial), "ReceiptHandle": str(serial), "Body": "{}", "Attributes": {}}]}

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.deleted += len(kwargs["Entries"])
        return {"Successful": kwargs["Entries"]}


def test_a_mappings_threads_take_turns_receiving() -> None:
    sqs = CountingSqs()
    poller = QueuePoller(
        sqs, "http://queue/q", lambda event, context: None, "f", batch_size=3, batching_window=30, concurrency=4
    )
    threads = [threading.Thread(target=poller.poll_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sqs.most_at_once == 1
    assert sqs.serial == 12  # every thread still gathered its batch of three
    assert sqs.deleted == 12


def test_a_batch_is_handed_over_when_its_window_ends_though_messages_keep_coming() -> None:
    sqs = CountingSqs()
    batches: list[int] = []
    poller = QueuePoller(
        sqs,
        "http://queue/q",
        lambda event, context: batches.append(len(event["Records"])),
        "f",
        batch_size=500,
        batching_window=0.1,
    )
    poller.poll_once()
    assert batches and 2 <= batches[0] < 500  # a receive takes 20 ms: the window ends after a few

"""The one client every component uses to report state changes, many per SQS message.

`report()` buffers; `flush()` (or leaving the `with` block) packs the buffered changes
into gzip-compressed messages and sends them with SendMessageBatch, up to 10 messages
and 256 KB per call. Changes of one chunk travel together, so one SQS request carries
hundreds of documents' changes. The body format is `encode_changes`/`decode_changes`.
What was sent is counted for the invocation's metrics: records per state and source, and
rejects per reason code (`count_changes`).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from chalicelib import observability
from chalicelib.queues import MAX_BATCH_ENTRIES, send_batches
from chalicelib.state_keeper.exceptions import InvalidStateMessage
from chalicelib.state_keeper.lifecycle import State, StateChange

log = logging.getLogger(__name__)

BODY_PREFIX = "sk1:"
MAX_MESSAGE_BYTES = 240 * 1024  # below SQS's 256 KB, leaving room for attributes
DEFAULT_CHANGES_PER_MESSAGE = 2000
SEND_ATTEMPTS = 5
REJECTED = frozenset({State.INVALID, State.REJECTED_BY_SAP})  # counted as `Rejects` by reason code


def state_metric(state: State) -> str:
    """The metric counting records reported in `state`: `RecordsQueuedForSap` for QUEUED_FOR_SAP."""
    return "Records" + "".join(part.capitalize() for part in state.value.split("_"))


def count_changes(changes: Iterable[StateChange]) -> None:
    """Records per state and source, and rejects per reason code, for the invocation's metrics."""
    states: Counter[tuple[State, str | None]] = Counter()
    rejects: Counter[tuple[str | None, str]] = Counter()
    for change in changes:
        states[(change.state, change.source)] += 1
        if change.state in REJECTED and change.reason_code:
            rejects[(change.source, change.reason_code)] += 1
    for (state, source), number in states.items():
        observability.count(state_metric(state), number, source=source)
    for (source, reason), number in rejects.items():
        observability.count("Rejects", number, source=source, reason=reason)


def encode_changes(changes: Iterable[StateChange]) -> str:
    document = {"v": 1, "changes": [c.model_dump(mode="json", exclude_none=True) for c in changes]}
    packed = gzip.compress(json.dumps(document, separators=(",", ":")).encode(), mtime=0)
    return BODY_PREFIX + base64.b64encode(packed).decode()


def decode_changes(body: str) -> list[StateChange]:
    """The changes in a message body; raises `InvalidStateMessage` (never echoing content)."""
    try:
        if not body.startswith(BODY_PREFIX):
            raise ValueError("unknown body format")
        document = json.loads(gzip.decompress(base64.b64decode(body[len(BODY_PREFIX) :], validate=True)))
        if document.get("v") != 1 or not isinstance(document.get("changes"), list):
            raise ValueError("unknown body version")
        return [StateChange.model_validate(item) for item in document["changes"]]
    except (ValueError, OSError, EOFError, ValidationError, AttributeError) as error:
        raise InvalidStateMessage(f"not a state-change message: {type(error).__name__}") from error


def pack_messages(changes: list[StateChange], per_message: int = DEFAULT_CHANGES_PER_MESSAGE) -> list[str]:
    """Bodies for `changes`, in order, each at most `per_message` changes and MAX_MESSAGE_BYTES."""
    bodies: list[str] = []
    pending = [changes[i : i + per_message] for i in range(0, len(changes), per_message)]
    while pending:
        group = pending.pop(0)
        body = encode_changes(group)
        if len(body.encode()) > MAX_MESSAGE_BYTES and len(group) > 1:
            half = len(group) // 2
            pending[:0] = [group[:half], group[half:]]
            continue
        bodies.append(body)
    return bodies


class _BufferingReporter:
    def __init__(self, per_message: int = DEFAULT_CHANGES_PER_MESSAGE) -> None:
        self.per_message = per_message
        self._buffer: list[StateChange] = []

    def report(self, change: StateChange) -> None:
        self._buffer.append(change)
        if len(self._buffer) >= self.per_message * MAX_BATCH_ENTRIES:
            self.flush()

    def report_all(self, changes: Iterable[StateChange]) -> None:
        for change in changes:
            self.report(change)

    def flush(self) -> None:
        if not self._buffer:
            return
        bodies = pack_messages(self._buffer, self.per_message)
        self._send(bodies)
        count_changes(self._buffer)
        self._buffer = []

    def _send(self, bodies: list[str]) -> None:
        raise NotImplementedError

    def __enter__(self) -> _BufferingReporter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.flush()


class StateReporter(_BufferingReporter):
    """Reports state changes to the State Keeper's queue."""

    def __init__(self, queue_url: str, client: Any, per_message: int = DEFAULT_CHANGES_PER_MESSAGE) -> None:
        super().__init__(per_message)
        self.queue_url = queue_url
        self.client = client

    def _send(self, bodies: list[str]) -> None:
        for batch in send_batches(bodies, str):
            entries = {str(i): body for i, body in enumerate(batch)}
            for _attempt in range(SEND_ATTEMPTS):
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in entries.items()],
                )
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = {key: body for key, body in entries.items() if key in failed}
                if not entries:
                    break
            else:
                # Keep the changes: the caller's at-least-once retry will report them again.
                raise RuntimeError(f"{len(entries)} state-change messages could not be sent")


class InMemoryStateReporter(_BufferingReporter):
    """Twin for unit tests: keeps the message bodies it would have sent."""

    def __init__(self, per_message: int = DEFAULT_CHANGES_PER_MESSAGE) -> None:
        super().__init__(per_message)
        self.sent: list[str] = []

    def _send(self, bodies: list[str]) -> None:
        self.sent.extend(bodies)

    @property
    def changes(self) -> list[StateChange]:
        return [change for body in self.sent for change in decode_changes(body)]


def message_origin(body: str) -> str:
    """A short, stable id of a message body: re-delivery gives the same origin."""
    return hashlib.blake2b(body.encode(), digest_size=6).hexdigest()

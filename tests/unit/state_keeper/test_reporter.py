"""Components report many state changes per message."""

from __future__ import annotations

import pytest

from chalicelib.state_keeper.exceptions import InvalidStateMessage
from chalicelib.state_keeper.reporter import (
    MAX_MESSAGE_BYTES,
    InMemoryStateReporter,
    StateReporter,
    decode_changes,
    encode_changes,
    pack_messages,
)
from tests.unit.state_keeper.changes import change, normal_lifecycle


class RecordingSqs:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.fail_first = fail_first

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, object]:
        self.calls.append(Entries)
        failed = Entries[: self.fail_first]
        self.fail_first = 0
        return {"Successful": [], "Failed": [{"Id": e["Id"], "Code": "x", "SenderFault": False} for e in failed]}


def test_a_body_round_trips_and_is_compact() -> None:
    changes = [c for i in range(200) for c in normal_lifecycle(f"doc-{i}")]
    body = encode_changes(changes)
    assert decode_changes(body) == changes
    assert len(body) < 64 * 1024  # one SQS billing unit for 800 changes


@pytest.mark.parametrize("body", ["", "hello", "sk1:not-base64!", "sk1:" + "aGVsbG8="])
def test_a_foreign_body_is_refused_without_echoing_it(body: str) -> None:
    with pytest.raises(InvalidStateMessage) as refused:
        decode_changes(body)
    assert "hello" not in str(refused.value)


def test_the_context_manager_flushes_the_changes_of_a_chunk_in_one_message() -> None:
    with InMemoryStateReporter() as reporter:
        reporter.report_all(c for i in range(100) for c in normal_lifecycle(f"doc-{i}")[:3])
        assert reporter.sent == []
    assert len(reporter.sent) == 1 and len(reporter.changes) == 300


def test_large_batches_are_split_below_the_sqs_limit() -> None:
    changes = [change(f"doc-{i}", chunk_id=f"c{i}x" * 20, file_id=f"f{i}y" * 20) for i in range(3000)]
    bodies = pack_messages(changes, per_message=3000)
    assert all(len(b.encode()) <= MAX_MESSAGE_BYTES for b in bodies)
    assert [c for b in bodies for c in decode_changes(b)] == changes


def test_it_sends_up_to_ten_messages_per_call_and_resends_the_failed_ones() -> None:
    sqs = RecordingSqs(fail_first=1)
    reporter = StateReporter("https://queue", client=sqs, per_message=10)
    reporter.report_all(change(f"doc-{i}") for i in range(150))
    reporter.flush()
    assert [len(call) for call in sqs.calls] == [10, 1, 5]
    sent = [c for call in sqs.calls[1:] for e in call for c in decode_changes(e["MessageBody"])]
    sent += [c for e in sqs.calls[0][1:] for c in decode_changes(e["MessageBody"])]
    assert len(sent) == 150

"""A chunk that keeps failing is parked in the normalize DLQ, reported PARKED, and replayable."""

from __future__ import annotations

import json

from chalicelib import wiring
from chalicelib.ingest.dead_letters import park_dead_chunks
from chalicelib.ingest.uploads import file_id_for
from chalicelib.queues import move_messages
from tests.integration.ingest.conftest import RESOURCES, Pipeline

RECORDS = [
    {
        "platform": "shop",
        "record_id": f"dl-{n}",
        "contact": {"email": f"p{n}@example.org"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
    }
    for n in range(3)
]


def _dead_chunk(pipeline: Pipeline) -> str:
    """Split a file, then move its chunk to the DLQ as SQS redrive would."""
    content = "\n".join(json.dumps(r) for r in RECORDS).encode()
    bucket = RESOURCES.bucket("raw").name
    key = f"incoming/canonical/2026/08/01/{file_id_for(content)}.jsonl"
    pipeline.session.client("s3").put_object(Bucket=bucket, Key=key, Body=content)
    pipeline.splitter.split_file(bucket, key)
    sqs = pipeline.session.client("sqs")
    for message in pipeline.drain("normalize"):
        sqs.send_message(QueueUrl=pipeline.url("normalize-dlq"), MessageBody=message["body"])
    return file_id_for(content)


def test_dead_chunks_are_reported_parked_and_stay_in_the_queue(pipeline: Pipeline) -> None:
    file_id = _dead_chunk(pipeline)
    sqs = pipeline.session.client("sqs")
    for _ in range(2):  # a second watch reports the same, stored once
        found = park_dead_chunks(sqs, pipeline.url("normalize-dlq"), wiring.state_reporter)
        assert (found.chunks, found.records) == (1, 3)
        assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    assert pipeline.queries.file_outcome(file_id)["states"] == {"PARKED": 3}
    document = pipeline.queries.list_documents("PARKED")["documents"][0]
    history = pipeline.queries.get_document(document["document_id"])["history"]
    assert [entry["state"] for entry in history] == ["RECEIVED", "PARKED"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=pipeline.url("normalize-dlq"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_replayed_chunks_are_normalized_and_leave_parked(pipeline: Pipeline) -> None:
    file_id = _dead_chunk(pipeline)
    sqs = pipeline.session.client("sqs")
    park_dead_chunks(sqs, pipeline.url("normalize-dlq"), wiring.state_reporter)
    assert move_messages(sqs, pipeline.url("normalize-dlq"), pipeline.url("normalize")) == 1
    assert pipeline.normalizer.handle(pipeline.drain("normalize")) == {"batchItemFailures": []}
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    assert pipeline.queries.file_outcome(file_id)["states"] == {"QUEUED_FOR_SAP": 3}
    assert pipeline.drain("normalize-dlq") == []


def test_a_replay_moves_large_messages_in_calls_within_sqs_batch_limits(pipeline: Pipeline) -> None:
    # GIVEN ten parked chunk messages of 100 KB each (a million bytes together)
    sqs = pipeline.session.client("sqs")
    bodies = [json.dumps({"n": n, "pad": "x" * 100_000}) for n in range(10)]
    for body in bodies:
        sqs.send_message(QueueUrl=pipeline.url("normalize-dlq"), MessageBody=body)

    # WHEN they are replayed
    moved = move_messages(sqs, pipeline.url("normalize-dlq"), pipeline.url("normalize"))

    # THEN every one is back on its queue, and none is left behind
    assert moved == 10
    assert sorted(m["body"] for m in pipeline.drain("normalize")) == sorted(bodies)
    assert pipeline.drain("normalize-dlq") == []

"""Shared by the ingest integration tests: the ingest steps wired to the emulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.ingest.normalize_chunk import ChunkNormalizer
from chalicelib.ingest.split_file import FileSplitter
from chalicelib.ingest.uploads import file_id_for, raw_key
from chalicelib.resources import for_stage
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.handler import StateKeeper
from chalicelib.state_keeper.queries import StateQueries
from tests.unit.ingest.recording_outbox import RecordingOutbox

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
RESOURCES = for_stage("local")
SUBJECT_KEY = b"k" * 32


@dataclass
class Pipeline:
    session: boto3.Session
    splitter: FileSplitter
    normalizer: ChunkNormalizer
    keeper: StateKeeper
    queries: StateQueries
    outbox: RecordingOutbox

    def url(self, queue: str) -> str:
        name = {q.key: q.name for q in RESOURCES.all_queues()}[queue]
        return self.session.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def drain(self, queue: str) -> list[dict[str, Any]]:
        sqs, url, drained = self.session.client("sqs"), self.url(queue), []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return drained
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                drained.append({"messageId": message["MessageId"], "body": message["Body"]})

    def ingest(self, source: str, name: str, content: bytes) -> str:
        key = raw_key(source, file_id_for(content), name[name.index(".") :])
        self.session.client("s3").put_object(Bucket=RESOURCES.bucket("raw").name, Key=key, Body=content)
        self.splitter.split_file(RESOURCES.bucket("raw").name, key)
        chunks = self.drain("normalize")
        assert self.normalizer.handle(chunks) == {"batchItemFailures": []}
        assert self.keeper.handle(self.drain("state-changes")) == {"batchItemFailures": []}
        return key


@pytest.fixture
def pipeline(stack: boto3.Session) -> Pipeline:
    s3, sqs, dynamodb = stack.client("s3"), stack.client("sqs"), stack.client("dynamodb")
    state_table = RESOURCES.table("state").name
    outbox = RecordingOutbox()
    splitter = FileSplitter(
        s3,
        sqs,
        sqs.get_queue_url(QueueName=RESOURCES.queue("normalize").name)["QueueUrl"],
        FileOutcomeStore(state_table, dynamodb),
        max_records=50,
    )
    normalizer = ChunkNormalizer(
        s3,
        RESOURCES.bucket("lake").name,
        RESOURCES.bucket("quarantine").name,
        SUBJECT_KEY,
        wiring.state_reporter,
        outbox,
        wiring.erasure_tombstones(),
    )
    store = DynamoStateStore(state_table, dynamodb)
    return Pipeline(stack, splitter, normalizer, StateKeeper(store), StateQueries(store), outbox)

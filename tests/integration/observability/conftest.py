"""A small pipeline on the emulator, run through `app.py`'s handlers (and so its middleware).

Files are put into the raw bucket and handed to `ingest_raw_object` as S3 would; the queues
are then drained by the local runtime's pollers into `normalize_chunks`, `keep_state` and
`dispatch_to_sap` (SAP: the stand-in), until all of them are empty.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from chalicelib.ingest.uploads import file_id_for, raw_key
from chalicelib.resources import for_stage
from devstack.emulator import LambdaContext
from devstack.pollers import QueuePoller
from devstack.stack import load_app
from sapstandin import StandIn

RESOURCES = for_stage("local")
SAMPLES = Path(__file__).resolve().parents[3] / "samples"
RAW = RESOURCES.bucket("raw").name


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    """The parts of S3's notification that Chalice's `S3Event` reads."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


class LocalPipeline:
    def __init__(self, session: boto3.Session, app_module: ModuleType) -> None:
        self.session, self.app = session, app_module
        sqs = session.client("sqs")
        self.pollers = [
            QueuePoller(
                sqs,
                sqs.get_queue_url(QueueName=RESOURCES.queue(queue).name)["QueueUrl"],
                getattr(app_module, handler),
                handler,
                batch_size=10,
                wait_seconds=0,
            )
            for queue, handler in (
                ("normalize", "normalize_chunks"),
                ("state-changes", "keep_state"),
                ("sap-dispatch", "dispatch_to_sap"),
            )
        ]

    def deliver(self, source: str, extension: str, content: bytes) -> str:
        """A platform's file lands in the raw bucket and S3 notifies `ingest_raw_object`; its file id."""
        key = raw_key(source, file_id_for(content), extension)
        self.session.client("s3").put_object(Bucket=RAW, Key=key, Body=content)
        self.app.ingest_raw_object(s3_event(RAW, key), LambdaContext("ingest_raw_object"))
        return file_id_for(content)

    def run_until_empty(self, time_limit: float = 30.0) -> None:
        deadline, quiet = time.monotonic() + time_limit, 0
        while quiet < 2:  # twice in a row: a handler may have queued more for the others
            assert time.monotonic() < deadline, "the pipeline's queues did not drain in time"
            handled = sum(poller.poll_once() for poller in self.pollers)
            quiet = quiet + 1 if not handled else 0


@pytest.fixture(scope="module")
def running_standin() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


@pytest.fixture
def pipeline(stack: boto3.Session, running_standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> LocalPipeline:
    # GIVEN the declared `sap` secret points at the stand-in, as an operator would set it
    running_standin.reset()
    secret = RESOURCES.secret("sap")
    stack.client("secretsmanager").put_secret_value(
        SecretId=secret.name,
        SecretString=json.dumps(
            {"base_url": running_standin.url, "user": running_standin.user, "password": running_standin.password}
        ),
    )
    monkeypatch.setenv(secret.env, secret.name)
    for name in ("SAP_SECRET_ARN", "SAP_PARAMETER", "SAP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    wiring.sap_throttle().configure(requests_per_second=200, records_per_second=100_000)
    return LocalPipeline(stack, load_app())


def printed_json(out: str) -> list[dict[str, Any]]:
    """Every JSON line printed (logs and EMF documents); other lines fail the test."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def emf_documents(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" in line]

"""Sources declared as mappings, over the API on the emulator: a new layout ingested after
only a `PUT` of its mapping, a mapping tried on a sample, and a file reprocessed after a
mapping fix, without duplicates in the lake or the SAP outbox."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from devstack.emulator import Emulator
from devstack.runtime import function_name, resolve_handler
from devstack.stack import load_app
from tests.integration.on_the_emulator import RESOURCES, run_handler

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
PRETIX = json.loads((SAMPLES / "pretix" / "mapping.json").read_text(encoding="utf-8"))
ORDERS = (SAMPLES / "pretix" / "orders.csv").read_bytes()


@pytest.fixture
def app_module(stack: boto3.Session, emulator: Emulator) -> ModuleType:
    """`app.py`, its functions answering the emulator's Invoke (the reprocess runs in one)."""
    module = load_app()
    for function in module.app.pure_lambda_functions:
        emulator.register_function(
            function_name(module.app, "local", function.name), resolve_handler(module, function.handler_string)
        )
    return module


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def admin(stack: boto3.Session) -> dict[str, str]:
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    return {"Authorization": f"Bearer {tokens.create('mapper', 'admin', 1).token}", "Content-Type": "application/json"}


def call(client: Client, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    response = client.http.request(method, path, headers=headers, body=json.dumps(body).encode() if body else b"")
    return response.status_code, json.loads(response.body) if response.body else None


def settle(stack: boto3.Session, key: str | None = None) -> None:
    """The S3 event's split (when `key` is given), then normalize and the State Keeper."""
    if key is not None:
        wiring.ingest().split_file(RESOURCES.bucket("raw").name, key)
    assert run_handler(stack, "normalize", wiring.normalizer().handle) == {"batchItemFailures": []}
    assert run_handler(stack, "state-changes", wiring.state_keeper().handle) == {"batchItemFailures": []}


def upload(client: Client, admin: dict[str, str]) -> dict[str, Any]:
    response = client.http.post("/ingest/pretix", headers={**admin, "Content-Type": "text/csv"}, body=ORDERS)
    assert response.status_code == 202, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def lake_rows(stack: boto3.Session) -> list[dict[str, Any]]:
    s3, bucket = stack.client("s3"), RESOURCES.bucket("lake").name
    rows: list[dict[str, Any]] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="lake/source=pretix/").get("Contents", []):
        rows += pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())).to_pylist()
    return rows


def test_a_new_layout_is_ingested_after_only_a_put_of_its_mapping(
    stack: boto3.Session, client: Client, admin: dict[str, str]
) -> None:
    # GIVEN no pretix source: an upload is refused
    assert (
        client.http.post("/ingest/pretix", headers={**admin, "Content-Type": "text/csv"}, body=ORDERS).status_code
        == 400
    )
    # WHEN an admin declares its mapping
    status, declared = call(client, "PUT", "/sources/pretix/mapping", admin, PRETIX)
    assert status == 200 and declared["version"] == 1
    # THEN its export is ingested: the positions with an email are valid, the other is not
    upload_body = upload(client, admin)
    settle(stack, _raw_key(stack, upload_body["file_id"]))
    outcome = wiring.state_queries().file_outcome(upload_body["file_id"])
    assert outcome["states"] == {"QUEUED_FOR_SAP": 4, "INVALID": 1}
    assert wiring.file_outcomes().get(upload_body["file_id"]).mapping_version == 1
    assert len(lake_rows(stack)) == 4
    status, shown = call(client, "GET", "/sources/pretix/mapping", admin)
    assert status == 200 and shown["mapping"]["version"] == 1 and shown["versions"] == [0, 1]


def _raw_key(stack: boto3.Session, file_id: str) -> str:
    listed = stack.client("s3").list_objects_v2(Bucket=RESOURCES.bucket("raw").name, Prefix="incoming/pretix/")
    [key] = [item["Key"] for item in listed.get("Contents", []) if file_id in item["Key"]]
    return key


def test_a_bad_mapping_is_refused_and_only_an_admin_declares_one(
    stack: boto3.Session, client: Client, admin: dict[str, str]
) -> None:
    status, error = call(client, "PUT", "/sources/pretix/mapping", admin, {**PRETIX, "timezone": "Mars/Olympus"})
    assert status == 400 and "time zone" in error["Message"]
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    operator = {
        "Authorization": f"Bearer {tokens.create('op', 'operator', 1).token}",
        "Content-Type": "application/json",
    }
    assert call(client, "PUT", "/sources/pretix/mapping", operator, PRETIX)[0] == 403
    assert call(client, "PUT", "/sources/eventbrite/mapping", admin, {**PRETIX, "source": "eventbrite"})[0] == 400


def test_trying_a_mapping_on_a_sample_stores_nothing(
    stack: boto3.Session, client: Client, admin: dict[str, str]
) -> None:
    status, tried = call(
        client, "POST", "/sources/pretix/mapping/try", admin, {"sample": ORDERS.decode(), "mapping": PRETIX}
    )
    assert status == 200 and tried["valid"] == 4 and tried["invalid"] == 1
    assert stack.client("s3").list_objects_v2(Bucket=RESOURCES.bucket("raw").name).get("KeyCount", 0) == 0
    assert call(client, "GET", "/sources/pretix/mapping", admin)[0] == 404  # nothing was declared


def test_a_file_reprocessed_after_a_mapping_fix_turns_invalid_into_valid_without_duplicates(
    stack: boto3.Session, client: Client, admin: dict[str, str]
) -> None:
    # GIVEN a mapping that looks for the email under a column the export does not have
    wrong = {**PRETIX, "fields": {**PRETIX["fields"], "email": {"column": "E-mail address"}}}
    assert call(client, "PUT", "/sources/pretix/mapping", admin, wrong)[0] == 200
    uploaded = upload(client, admin)
    settle(stack, _raw_key(stack, uploaded["file_id"]))
    assert wiring.state_queries().file_outcome(uploaded["file_id"])["states"] == {"INVALID": 5}
    # WHEN the mapping is fixed and the file reprocessed
    assert call(client, "PUT", "/sources/pretix/mapping", admin, PRETIX)[0] == 200
    status, again = call(client, "POST", f"/files/{uploaded['file_id']}/reprocess", admin)
    assert status == 202 and again["status"] == f"/files/{uploaded['file_id']}"
    wait_for_mapping_version(uploaded["file_id"], 2)
    settle(stack)
    # THEN its documents are valid now, once each in the lake and once in the SAP outbox
    assert wiring.state_queries().file_outcome(uploaded["file_id"])["states"] == {"QUEUED_FOR_SAP": 4, "INVALID": 1}
    rows = lake_rows(stack)
    assert len(rows) == 4 and len({row["document_id"] for row in rows}) == 4
    sap = [json.loads(r["body"]) for r in _drain_outbox(stack)]
    assert sap  # the valid documents were queued for SAP
    # AND a second reprocess with the same mapping changes nothing
    status, unchanged = call(client, "POST", f"/files/{uploaded['file_id']}/reprocess", admin)
    assert status == 200 and unchanged["mapping_version"] == 2 and unchanged["reprocessed"] is False
    assert call(client, "POST", "/files/0123456789abcdef0123/reprocess", admin)[0] == 404
    assert run_handler(stack, "normalize", wiring.normalizer().handle) == {"batchItemFailures": []}
    assert len(lake_rows(stack)) == 4


def wait_for_mapping_version(file_id: str, version: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = wiring.file_outcomes().get(file_id)
        if outcome is not None and outcome.mapping_version == version and outcome.finished_at is not None:
            return
        time.sleep(0.2)
    raise AssertionError(f"file {file_id} was not reprocessed with mapping version {version}")


def _drain_outbox(stack: boto3.Session) -> list[dict[str, Any]]:
    from tests.integration.on_the_emulator import lambda_records

    return lambda_records(stack, "sap-dispatch")

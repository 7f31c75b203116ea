"""The emulator's door counts: operation, resource and billed units from the request alone."""

from __future__ import annotations

import io
import json
from typing import Any

from devstack.door_counts import DoorCounts

SCOPE = "AWS4-HMAC-SHA256 Credential=testing/20261128/eu-central-1/{service}/aws4_request, SignedHeaders=host"


def request(service: str, body: bytes = b"", target: str | None = None, **environ: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "HTTP_AUTHORIZATION": SCOPE.format(service=service),
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **environ,
    }
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def serve(door: DoorCounts, env: dict[str, Any], answer: bytes = b"{}") -> bytes:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()  # moto still gets the whole body
        return [answer]

    return b"".join(door.count(env, app, lambda *args: None))


def test_it_counts_dynamodb_write_units_by_item_size_and_table() -> None:
    # GIVEN a batch write of one 3,000-byte item and two small ones
    items = [{"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"S": "x" * 3000}}}}] + [
        {"PutRequest": {"Item": {"pk": {"S": str(n)}}}} for n in range(2)
    ]
    door = DoorCounts()
    body = json.dumps({"RequestItems": {"state": items}}).encode()
    # WHEN it passes the door
    serve(door, request("dynamodb", body, "DynamoDB_20120810.BatchWriteItem"))
    # THEN it is one request of 3 + 1 + 1 write units on table `state`
    (row,) = door.snapshot()
    assert (row["service"], row["operation"], row["resource"]) == ("dynamodb", "BatchWriteItem", "state")
    assert (row["requests"], row["units"]) == (1, 5.0)


def test_it_tells_empty_receives_from_receives_that_bring_messages() -> None:
    door = DoorCounts()
    body = json.dumps({"QueueUrl": "http://127.0.0.1:1/123456789012/data-engine-local-normalize"}).encode()
    serve(door, request("sqs", body, "AmazonSQS.ReceiveMessage"), b'{"Messages": [{"ReceiptHandle": "r"}]}')
    serve(door, request("sqs", body, "AmazonSQS.ReceiveMessage"), b"{}")
    counted = {(r["operation"], r["resource"]): r["requests"] for r in door.snapshot(reset=True)}
    assert counted == {
        ("ReceiveMessage", "data-engine-local-normalize"): 1,
        ("ReceiveMessage(empty)", "data-engine-local-normalize"): 1,
    }
    assert door.snapshot() == []


def test_it_bills_sqs_payloads_in_64_kb_chunks_and_names_s3_operations() -> None:
    door = DoorCounts()
    body = json.dumps({"QueueUrl": "http://h/1/q", "MessageBody": "x" * 100_000}).encode()
    serve(door, request("sqs", body, "AmazonSQS.SendMessage"))
    serve(door, request("s3", REQUEST_METHOD="PUT", PATH_INFO="/raw/incoming/a.json", CONTENT_LENGTH="10"))
    serve(door, request("s3", REQUEST_METHOD="GET", PATH_INFO="/raw/incoming/a.json"))
    rows = {(r["service"], r["operation"], r["resource"]): r for r in door.snapshot()}
    assert rows["sqs", "SendMessage", "q"]["units"] == 2.0
    assert rows["s3", "PutObject", "raw"]["bytes_in"] == 10
    assert ("s3", "GetObject", "raw") in rows


def test_it_leaves_unsigned_requests_uncounted() -> None:
    door = DoorCounts()
    env = request("s3")
    del env["HTTP_AUTHORIZATION"]
    assert serve(door, env, b"ok") == b"ok"
    assert door.snapshot() == []

"""AWS requests counted at the emulator's door: (service, operation, resource) and billed units.

The emulator's WSGI front calls `DoorCounts.count` for every AWS request, so a bench knows
what a run cost in requests without hooking every boto3 client. It reads only what it
needs: the `X-Amz-Target` header or the query string for the operation, the SigV4 scope for
the service, and the body (already in memory for moto anyway) of DynamoDB and SQS requests
for the table or queue and the units AWS bills (write and read units, 64 KB chunks).
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/(?P<service>[^/]+)/aws4_request")
_QUEUE_URL = re.compile(rb'"QueueUrl"\s*:\s*"[^"]*/(?P<name>[^"/]+)"')
_TABLE = re.compile(rb'"TableName"\s*:\s*"(?P<name>[^"]+)"')
_FIRST_TABLE = re.compile(rb'"RequestItems"\s*:\s*\{\s*"(?P<name>[^"]+)"')
_CHUNK = 64 * 1024  # SQS bills every 64 KB of payload as one request
_WRITE_UNIT, _READ_UNIT = 1024, 4096
_BODY_READ = {"dynamodb", "sqs"}  # services whose bodies name the resource (JSON protocol)
_RESPONSE_READ = {"Query", "Scan", "ReceiveMessage"}  # billed by what comes back


@dataclass
class Tally:
    requests: int = 0
    units: float = 0.0  # DynamoDB write or read units, SQS 64 KB chunks, else requests
    bytes_in: int = 0


class DoorCounts:
    """A thread-safe tally of the AWS requests that reached the emulator."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str, str], Tally] = {}
        self._lock = threading.Lock()

    def snapshot(self, reset: bool = False) -> list[dict[str, Any]]:
        """Every (service, operation, resource) seen, with its tally; `reset` starts afresh."""
        with self._lock:
            rows = [
                {"service": s, "operation": o, "resource": r, **asdict(t)} for (s, o, r), t in self._tallies.items()
            ]
            if reset:
                self._tallies = {}
        return sorted(rows, key=lambda row: (row["service"], row["operation"], row["resource"]))

    def _add(self, key: tuple[str, str, str], units: float, bytes_in: int) -> None:
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = Tally()
            tally.requests += 1
            tally.units += units
            tally.bytes_in += bytes_in

    def count(self, environ: dict[str, Any], app: Callable[..., Iterable[bytes]], start_response: Any) -> Any:
        """Serve the request with `app` (moto), tallying it on the way."""
        service, operation = _service_and_operation(environ)
        if service is None:
            return app(environ, start_response)
        body = b""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if service in _BODY_READ and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        if operation is None:
            operation = _query_action(environ, body)
        resource = _resource(service, environ, body)
        if operation in _RESPONSE_READ:
            answer = b"".join(app(environ, start_response))
            if operation == "ReceiveMessage" and b"ReceiptHandle" not in answer:
                operation = "ReceiveMessage(empty)"  # a poll that found nothing: time, not records
            self._add((service, operation, resource), _response_units(operation, body, answer), length)
            return [answer]
        self._add((service, operation, resource), _request_units(service, operation, body, length), length)
        return app(environ, start_response)


def identify(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    """The AWS service and operation of a request (None, None for unsigned ones); the body
    of a query-protocol request is read, and put back, for its `Action`."""
    service, operation = _service_and_operation(environ)
    if service is not None and operation is None:
        operation = _query_action(environ, b"")
    return service, operation


def _service_and_operation(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    path = environ.get("PATH_INFO", "")
    if scope is None:
        return None, None  # moto's own API, devstack's control routes, unsigned calls
    service = scope.group("service")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service == "s3":
        return service, _s3_operation(environ, path)
    if service == "lambda" and path.endswith("/invocations"):
        return service, "Invoke"
    return service, None


def _s3_operation(environ: dict[str, Any], path: str) -> str:
    method = environ.get("REQUEST_METHOD", "GET")
    query = environ.get("QUERY_STRING", "")
    has_key = "/" in path.lstrip("/")
    if method == "PUT" and has_key:
        return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in environ else "PutObject"
    if method == "GET" and has_key:
        return "GetObject"
    if method == "GET":
        return "ListObjects" if not query or "list-type" in query or "prefix" in query else "GetBucketConfig"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "POST":
        return "MultipartUpload"
    return "PutBucketConfig" if method == "PUT" else f"{method}Bucket"


def _query_action(environ: dict[str, Any], body: bytes) -> str:
    """The query protocol's `Action` (SES v1, CloudWatch, older SQS), from URL or form body."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if not body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    return form.get("Action", [environ.get("REQUEST_METHOD", "?")])[0]


def queue_named(body: bytes) -> str:
    """The queue an SQS request's (JSON) body names, "" for none."""
    match = _QUEUE_URL.search(body)
    return match.group("name").decode() if match else ""


def _resource(service: str, environ: dict[str, Any], body: bytes) -> str:
    if service == "sqs":
        return queue_named(body)
    if service == "dynamodb":
        match = _TABLE.search(body) or _FIRST_TABLE.search(body)
        return match.group("name").decode() if match else ""
    if service == "s3":
        return unquote(environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0])
    return ""


def _request_units(service: str, operation: str, body: bytes, length: int) -> float:
    if service == "sqs":
        return float(max(1, math.ceil(length / _CHUNK)))
    if service != "dynamodb":
        return 1.0
    if operation in ("PutItem", "BatchWriteItem", "TransactWriteItems", "GetItem", "BatchGetItem"):
        request = json.loads(body or b"{}")
        if operation == "PutItem":
            return float(_write_units(request.get("Item", {})))
        if operation == "BatchWriteItem":
            return float(
                sum(
                    _write_units(entry["PutRequest"]["Item"]) if "PutRequest" in entry else 1
                    for entries in request.get("RequestItems", {}).values()
                    for entry in entries
                )
            )
        if operation == "TransactWriteItems":  # two write units per item in a transaction
            return float(
                sum(2 * _write_units(item.get("Put", {}).get("Item", {})) for item in request["TransactItems"])
            )
        if operation == "GetItem":
            return 1.0 if request.get("ConsistentRead") else 0.5
        return float(
            sum(
                len(table["Keys"]) * (1.0 if table.get("ConsistentRead") else 0.5)
                for table in request.get("RequestItems", {}).values()
            )
        )
    return 1.0  # UpdateItem, DeleteItem, TransactGetItems: an item under 1 KB


def _response_units(operation: str, body: bytes, answer: bytes) -> float:
    if operation.startswith("ReceiveMessage"):
        return float(max(1, math.ceil(len(answer) / _CHUNK)))
    consistent = b'"ConsistentRead": true' in body or b'"ConsistentRead":true' in body
    return max(1, math.ceil(len(answer) / _READ_UNIT)) * (1.0 if consistent else 0.5)


def _write_units(item: dict[str, Any]) -> int:
    """DynamoDB's item size rule (names plus values), in 1 KB write units."""
    return max(1, math.ceil(sum(len(name.encode()) + _value_size(value) for name, value in item.items()) / _WRITE_UNIT))


def _value_size(value: dict[str, Any]) -> int:
    kind, data = next(iter(value.items()))
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data) // 2 + 1
    if kind == "B":
        return len(data) * 3 // 4  # base64 in the request
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + _value_size(element) + 1 for name, element in data.items())
    if kind == "L":
        return 3 + sum(_value_size(element) + 1 for element in data)
    return 1  # BOOL, NULL

"""`$batch` on the wire, server side: parse multipart/mixed requests, render the 202 answer."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus


class MalformedBatch(ValueError):
    pass


@dataclass
class InnerRequest:
    method: str
    path: str  # relative to the service root, query included
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class InnerResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


# a batch is a list of items: one request (a retrieval) or a list of requests (a changeset)
BatchItem = InnerRequest | list[InnerRequest]


def boundary(content_type: str) -> str:
    match = re.search(r'boundary="?([^";,]+)"?', content_type or "", re.IGNORECASE)
    if not match:
        raise MalformedBatch("multipart/mixed content type without a boundary")
    return match.group(1).strip()


def _parts(body: bytes, marker: str) -> list[bytes]:
    delimiter = re.escape(b"--" + marker.encode())
    segments = re.split(rb"(?:\r?\n|^)" + delimiter, body, flags=re.MULTILINE)
    parts = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            return parts
        parts.append(segment.partition(b"\n")[2])
    raise MalformedBatch("multipart body without closing delimiter")


def _headers(block: bytes) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    rest = block
    while True:
        line, newline, rest = rest.partition(b"\n")
        line = line.rstrip(b"\r")
        if not line:
            return headers, (rest if newline else b"")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise MalformedBatch(f"bad header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()


def _request(part: bytes, service_root: str) -> InnerRequest:
    mime, message = _headers(part)
    if "application/http" not in mime.get("content-type", "").lower():
        raise MalformedBatch("batch part is neither application/http nor multipart/mixed")
    request_line, _, rest = message.lstrip(b"\r\n").partition(b"\n")
    match = re.match(r"^([A-Z]+)\s+(\S+)\s+HTTP/1\.[01]$", request_line.decode("latin-1").strip())
    if not match:
        raise MalformedBatch(f"bad request line {request_line[:60]!r}")
    headers, body = _headers(rest)
    path = match.group(2)
    if service_root in path:  # absolute or root-relative URLs are allowed too
        path = path.split(service_root, 1)[1]
    return InnerRequest(
        match.group(1),
        path.lstrip("/"),
        headers,
        body.rstrip(b"\r\n"),
        mime.get("content-id") or headers.get("content-id"),
    )


def parse(body: bytes, content_type: str, service_root: str) -> list[BatchItem]:
    items: list[BatchItem] = []
    for part in _parts(body, boundary(content_type)):
        mime, payload = _headers(part)
        if mime.get("content-type", "").lower().startswith("multipart/mixed"):
            requests = [_request(inner, service_root) for inner in _parts(payload, boundary(mime["content-type"]))]
            if any(r.method == "GET" for r in requests):
                raise MalformedBatch("a changeset must not contain GET requests")
            items.append(requests)
        else:
            request = _request(part, service_root)
            if request.method != "GET":
                raise MalformedBatch("modifying requests must be inside a changeset")
            items.append(request)
    return items


def _http(response: InnerResponse) -> list[str]:
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    headers = {"Content-Length": str(len(response.body)), "DataServiceVersion": "2.0", **response.headers}
    if response.body:
        headers.setdefault("Content-Type", "application/json")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["", response.body.decode("utf-8")]
    return lines


def render(answers: list[InnerResponse | list[InnerResponse]]) -> tuple[bytes, str]:
    """The multipart/mixed body of a 202 `$batch` answer and its content type."""
    outer = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for answer in answers:
        lines.append(f"--{outer}")
        if isinstance(answer, list):
            inner = f"changeset_{uuid.uuid4()}"
            parts: list[str] = []
            for response in answer:
                parts += [f"--{inner}", "Content-Type: application/http", "Content-Transfer-Encoding: binary"]
                if response.content_id:
                    parts.append(f"Content-ID: {response.content_id}")
                parts += ["", *_http(response)]
            parts.append(f"--{inner}--")
            text = "\r\n".join(parts)
            lines += [
                f"Content-Type: multipart/mixed; boundary={inner}",
                f"Content-Length: {len(text.encode())}",
                "",
                text,
                "",
            ]
        else:
            lines += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", ""]
            lines += _http(answer)
    lines.append(f"--{outer}--")
    return "\r\n".join(lines).encode(), f"multipart/mixed; boundary={outer}"

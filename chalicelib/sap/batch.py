"""OData V2 `$batch` bodies: one changeset per record, and per-part outcomes of the answer.

A changeset is atomic in SAP: if one operation fails, none of it is applied, and SAP
answers that changeset with one error response instead of one response per operation.
So a changeset is our unit of "accepted": every operation answered 2xx inside a
multipart changeset response. One changeset per record keeps a bad record from
rolling back the others in the same request.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib.sap.exceptions import SapProtocolError

CRLF = "\r\n"


@dataclass(frozen=True)
class Operation:
    method: str  # PUT, POST, PATCH, MERGE; GET alone in a "changeset" is a retrieve part
    path: str  # relative to the service root, e.g. "Interactions"
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Changeset:
    ref: str  # the caller's reference (a record id); never sent
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class PartResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class ChangesetResult:
    ref: str
    responses: tuple[PartResponse, ...]
    operation_count: int

    @property
    def accepted(self) -> bool:
        """SAP applied every operation: one 2xx response per operation."""
        return len(self.responses) == self.operation_count and all(200 <= r.status < 300 for r in self.responses)

    @property
    def error(self) -> PartResponse | None:
        """The response that explains a failed changeset (None when accepted)."""
        if self.accepted:
            return None
        failed = [r for r in self.responses if not 200 <= r.status < 300]
        return failed[0] if failed else PartResponse(502, {}, b"changeset answered incompletely")


@dataclass
class BatchRequest:
    body: bytes
    content_type: str
    changesets: list[Changeset] = field(default_factory=list)


def is_retrieval(changeset: Changeset) -> bool:
    """A single GET: OData V2 allows no GET inside a changeset, so it is sent as a retrieve part."""
    return len(changeset.operations) == 1 and changeset.operations[0].method == "GET"


def build(changesets: list[Changeset], boundary: str | None = None) -> BatchRequest:
    """The multipart/mixed body of a `$batch` with one changeset per entry (a lone GET: a retrieve part)."""
    batch_boundary = boundary or f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    for changeset in changesets:
        if is_retrieval(changeset):
            lines += [
                f"--{batch_boundary}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                f"GET {changeset.operations[0].path} HTTP/1.1",
                "Accept: application/json",
                "",
                "",
            ]
            continue
        changeset_boundary = f"changeset_{uuid.uuid4().hex}"
        lines += [f"--{batch_boundary}", f"Content-Type: multipart/mixed; boundary={changeset_boundary}", ""]
        for number, operation in enumerate(changeset.operations, start=1):
            payload = "" if operation.body is None else json.dumps(operation.body, separators=(",", ":"))
            lines += [
                f"--{changeset_boundary}",
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                f"Content-ID: {number}",
                "",
                f"{operation.method} {operation.path} HTTP/1.1",
                "Content-Type: application/json",
                "Accept: application/json",
                f"Content-Length: {len(payload.encode())}",
                "",
                payload,
            ]
        lines += [f"--{changeset_boundary}--", ""]
    lines += [f"--{batch_boundary}--", ""]
    return BatchRequest(
        body=CRLF.join(lines).encode(),
        content_type=f"multipart/mixed; boundary={batch_boundary}",
        changesets=list(changesets),
    )


def boundary_of(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not match:
        raise SapProtocolError(f"multipart content type without boundary: {content_type!r}")
    return match.group(1).strip()


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between `--boundary` delimiters (RFC 2046), CRLF or LF line ends.

    A delimiter counts at the start of the body or of a line only. Plain byte splitting:
    every changeset answer has a boundary of its own, and a regular expression per
    boundary would be compiled anew for each."""
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    segments = [pieces[0]]
    for piece in pieces[1:]:
        before = segments[-1]
        if before.endswith(b"\n") or (len(segments) == 1 and not before):
            segments[-1] = before.removesuffix(b"\n").removesuffix(b"\r")
            segments.append(piece)
        else:  # the boundary's text inside a part, not a delimiter
            segments[-1] = before + delimiter + piece
    parts: list[bytes] = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            return parts
        parts.append(segment.partition(b"\n")[2])
    raise SapProtocolError("multipart body without closing delimiter")


def split_headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """Header lines up to the first empty line, and what follows."""
    headers: dict[str, str] = {}
    rest = block
    while True:
        line, newline, rest = rest.partition(b"\n")
        line = line.rstrip(b"\r")
        if not line:
            return headers, rest if newline else b""
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


def parse_http_response(message: bytes) -> PartResponse:
    status_line, _, rest = message.partition(b"\n")
    match = re.match(rb"HTTP/\d\.\d\s+(\d{3})", status_line.strip())
    if not match:
        raise SapProtocolError(f"not an HTTP response line: {status_line[:60]!r}")
    headers, body = split_headers(rest)
    return PartResponse(int(match.group(1)), headers, body.rstrip(b"\r\n"))


def parse(body: bytes, content_type: str, changesets: list[Changeset]) -> list[ChangesetResult]:
    """Per-changeset outcomes of a 202 `$batch` answer, in request order."""
    parts = split_multipart(body, boundary_of(content_type))
    if len(parts) != len(changesets):
        raise SapProtocolError(f"$batch answered {len(parts)} parts for {len(changesets)} changesets")
    results = []
    for part, changeset in zip(parts, changesets):
        headers, payload = split_headers(part)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/mixed"):
            responses = []
            for inner in split_multipart(payload, boundary_of(part_type)):
                _, message = split_headers(inner)
                responses.append(parse_http_response(message))
        else:
            # one response for the whole changeset: SAP rolled it back
            responses = [parse_http_response(payload)]
        results.append(ChangesetResult(changeset.ref, tuple(responses), len(changeset.operations)))
    return results


def error_message(response: PartResponse) -> tuple[str, str]:
    """(code, message) from SAP's OData error JSON, or the status when there is none."""
    try:
        error = (response.json() or {})["error"]
        return str(error.get("code", response.status)), str(error["message"]["value"])
    except (ValueError, KeyError, TypeError):
        return str(response.status), response.body[:200].decode("utf-8", "replace") or f"HTTP {response.status}"

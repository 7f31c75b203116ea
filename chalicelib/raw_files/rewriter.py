"""Raw files rewritten record by record, every untouched byte kept (erasure, anonymization).

The records are the reader's: `visit_records` runs the same splitter as ingest and gives
each record with its position and byte span. A `RecordTransform` decides per record:
`KEEP` it (its bytes stay), `DROP` it, or return a replacement dict, written in the
record's own format (a JSON line with its line end, a CSV row in the file's delimiter and
encoding, a page item, or the whole document). Everything that is not a record — a header,
blank or bad lines, other members of a page — stays byte for byte; gzip is re-compressed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.raw_files.formats import FileFormat
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblemCode, ReadLimits
from chalicelib.raw_files.splitter import Facts, Piece, split


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


KEEP = _Marker("KEEP")
DROP = _Marker("DROP")
RecordTransform = Callable[[dict[str, Any]], Any]  # -> KEEP | DROP | dict

# problems that are about the file, not about a record or line left in it
_FILE_LEVEL = {FileProblemCode.BOM, FileProblemCode.EMPTY_FILE}


class CannotRewrite(ValueError):
    """A record would change, but the file cannot be written back whole (a broken gzip)."""


@dataclass(frozen=True)
class VisitedRecord:
    position: int
    span: tuple[int, int]  # bytes [start, end) of the gunzipped body
    data: dict[str, Any]


@dataclass
class RecordRewrite:
    content: bytes
    records: int = 0  # records seen (data rows; a CSV header is not a record)
    dropped: int = 0
    replaced: int = 0
    unparsed: int = 0  # lines or items the reader skipped as problems (kept verbatim)

    @property
    def changed(self) -> bool:
        return bool(self.dropped or self.replaced)


@dataclass
class _Plan:
    facts: Facts = field(default_factory=Facts)
    edits: list[tuple[int, int, bytes]] = field(default_factory=list)  # [start, end) -> bytes
    arrays: dict[int, list[tuple[tuple[int, int], bytes | None]]] = field(default_factory=dict)


def visit_records(
    content: bytes, key: str, fmt: FileFormat, limits: ReadLimits = DEFAULT_LIMITS
) -> Iterator[VisitedRecord]:
    """The records a rewrite visits, in order: exactly the reader's, with their byte spans."""
    for piece in split(io.BytesIO(content), key, fmt, limits, Facts()):
        if piece.data is not None and piece.span is not None:
            yield VisitedRecord(piece.position or 0, piece.span, piece.data)


def rewrite_records(
    content: bytes, key: str, fmt: FileFormat, transform: RecordTransform, limits: ReadLimits = DEFAULT_LIMITS
) -> RecordRewrite:
    """Apply `transform` to every record; untouched records keep their exact bytes."""
    result = RecordRewrite(content)
    plan = _Plan()
    for piece in split(io.BytesIO(content), key, fmt, limits, plan.facts):
        if piece.data is None:
            if piece.problem is not None and piece.problem.code not in _FILE_LEVEL:
                result.unparsed += 1
            if piece.array is not None and piece.span is not None:
                plan.arrays.setdefault(piece.array, []).append((piece.span, None))
            continue
        result.records += 1
        outcome = transform(piece.data)
        if outcome is KEEP:
            new: bytes | None = None
        elif outcome is DROP:
            result.dropped += 1
            new = b""
        else:
            result.replaced += 1
            new = _serialized(outcome, piece, plan.facts)
        _plan(plan, piece, new)
    if not result.changed:
        return result  # nothing to write: the very same bytes
    if plan.facts.unreadable_gzip:
        raise CannotRewrite("a record would change in a .gz object whose gzip stream is broken")
    compressed = key.lower().endswith(".gz")
    body = gzip.decompress(content) if compressed else content
    new_body = _apply(body, plan)
    result.content = gzip.compress(new_body, mtime=0) if compressed else new_body
    return result


def count_records(
    content: bytes, key: str, fmt: FileFormat, predicate: Callable[[dict[str, Any]], bool]
) -> tuple[int, int]:
    """(records, records matching `predicate`) of a raw file: the check after a rewrite."""
    records = matching = 0
    for record in visit_records(content, key, fmt):
        records += 1
        matching += bool(predicate(record.data))
    return records, matching


def rewrite_mismatch(
    before: RecordRewrite, new_content: bytes, key: str, fmt: FileFormat, predicate: Callable[[dict[str, Any]], bool]
) -> str | None:
    """Why the rewritten content does not check out, or None: it must hold the records
    before less the dropped ones, none of them matching `predicate`."""
    records, matching = count_records(new_content, key, fmt, predicate)
    if records != before.records - before.dropped:
        return f"expected {before.records - before.dropped} records after the rewrite, found {records}"
    if matching:
        return f"{matching} record(s) still match after the rewrite"
    return None


def _serialized(record: dict[str, Any], piece: Piece, facts: Facts) -> bytes:
    if facts.layout == "delimited":
        buffer = io.StringIO()
        # written with both line-end characters as its terminator, so that a value holding
        # either is quoted; then ended as the record's line was
        csv.writer(buffer, delimiter=facts.delimiter, lineterminator="\r\n").writerow(
            ["" if record.get(name) is None else str(record.get(name)) for name in facts.header]
        )
        return (buffer.getvalue().removesuffix("\r\n") + piece.ending).encode(facts.encoding)
    if facts.layout == "lines":
        return _json(record) + piece.ending.encode("utf-8")
    if piece.array is not None:
        return _json(record)
    return _json(record, indent=2) + b"\n"


def _json(record: dict[str, Any], indent: int | None = None) -> bytes:
    """The record as UTF-8 JSON; a lone surrogate (JSON's `\\ud800`, which UTF-8 cannot hold)
    stays the escape it was written as."""
    try:
        return json.dumps(record, ensure_ascii=False, indent=indent).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True, indent=indent).encode("utf-8")


def _plan(plan: _Plan, piece: Piece, new: bytes | None) -> None:
    assert piece.span is not None  # every record has its place
    if piece.array is not None:
        plan.arrays.setdefault(piece.array, []).append((piece.span, new))
    elif new is not None:
        start, end = piece.span
        if plan.facts.layout == "document":  # the document's one record: the rest of the file with it
            end = -1
        plan.edits.append((start, end, new))


def _apply(body: bytes, plan: _Plan) -> bytes:
    edits = list(plan.edits)
    for items in plan.arrays.values():
        edit = _array_edit(body, items)
        if edit is not None:
            edits.append(edit)
    out: list[bytes] = []
    at = 0
    for start, end, new in sorted(edits):
        end = len(body) if end < 0 else end
        out.append(body[at:start])
        out.append(new)
        at = end
    out.append(body[at:])
    return b"".join(out)


def _array_edit(body: bytes, items: list[tuple[tuple[int, int], bytes | None]]) -> tuple[int, int, bytes] | None:
    """The items of one array, from the first's start to the last's end, rewritten: each kept
    item is followed by the separator that followed it (the last kept by none)."""
    if all(new is None for _, new in items):
        return None
    kept = [
        (number, body[span[0] : span[1]] if new is None else new)
        for number, (span, new) in enumerate(items)
        if new != b""
    ]
    pieces: list[bytes] = []
    for index, (number, text) in enumerate(kept):
        pieces.append(text)
        if index < len(kept) - 1:
            pieces.append(body[items[number][0][1] : items[number + 1][0][0]])
    return items[0][0][0], items[-1][0][1], b"".join(pieces)

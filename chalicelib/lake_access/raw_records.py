"""Raw platform files record by record, rewritten so every untouched byte stays as it was.

Formats: JSON Lines, a JSON page (an array of records, at the top or under a key such
as `attendees`), CSV/TSV (any delimiter, quoted fields across lines, header kept), each
optionally gzip-compressed. A `RecordTransform` decides per record: `KEEP` it (its bytes
are copied verbatim), `DROP` it, or return a replacement dict (re-serialized in the
record's own format, with its own line ending). Text is decoded with `surrogateescape`,
so any byte sequence, valid UTF-8 or not, round-trips exactly.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.lake_access.exceptions import RewriteVerificationFailed, UnsupportedObjectFormat
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.sources import connector_for


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


KEEP = _Marker("KEEP")
DROP = _Marker("DROP")
RecordTransform = Callable[[dict[str, Any]], Any]  # -> KEEP | DROP | dict

_BOM = "\ufeff"
_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class RawFormat:
    kind: Literal["jsonl", "json", "csv"]
    delimiter: str = ","
    # json: the keys leading to the records array; () = the top level; None = find it
    records_path: tuple[str, ...] | None = None
    gzip: bool = False
    # json of a known source: its connector's page keys. A top-level object holding none
    # of them is one record (a webhook payload), as the connector reads it at ingest.
    page_keys: tuple[str, ...] | None = None


@dataclass
class RecordRewrite:
    content: bytes
    records: int = 0  # records seen (data rows; a CSV header is not a record)
    dropped: int = 0
    replaced: int = 0
    unparsed: int = 0  # lines that are not a record (kept verbatim, reported)

    @property
    def changed(self) -> bool:
        return bool(self.dropped or self.replaced)


def format_for_key(key: str, content: bytes = b"") -> RawFormat:
    """The format a raw key's extension (and, for delimiters, its header) says."""
    name = key.rsplit("/", 1)[-1].lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
        content = _gunzip(content) if content else content
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if extension in ("jsonl", "ndjson"):
        return RawFormat("jsonl", gzip=compressed)
    if extension == "json":
        return RawFormat("json", gzip=compressed, page_keys=_page_keys(key))
    if extension in ("csv", "tsv", "tab", "txt"):
        default = "," if extension == "csv" else "\t"
        return RawFormat("csv", delimiter=_sniff_delimiter(content, default), gzip=compressed)
    raise UnsupportedObjectFormat(f"no record format for extension {extension!r} ({key})")


def _page_keys(key: str) -> tuple[str, ...] | None:
    """The page keys of the connector named by a raw key (`incoming/{source}/...`), if any."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "incoming":
        return None
    try:
        file_format = connector_for(parts[1]).file_format
    except UnknownSource:
        return None
    return file_format.page_keys if file_format.kind == "json" else None


def _sniff_delimiter(content: bytes, default: str) -> str:
    header = content.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts.get(default, 0) else default


def _gunzip(content: bytes) -> bytes:
    try:
        return gzip.decompress(content)
    except (OSError, EOFError) as error:
        raise UnsupportedObjectFormat("a .gz object that is not gzip") from error


def rewrite_records(content: bytes, raw_format: RawFormat, transform: RecordTransform) -> RecordRewrite:
    """Apply `transform` to every record; untouched records keep their exact bytes."""
    body = _gunzip(content) if raw_format.gzip else content
    text = body.decode("utf-8", "surrogateescape")
    bom = _BOM if text.startswith(_BOM) else ""
    text = text[len(bom):]
    if raw_format.kind == "jsonl":
        result, new_text = _rewrite_json_lines(text, transform)
    elif raw_format.kind == "json":
        if _looks_like_json_lines(text):
            result, new_text = _rewrite_json_lines(text, transform)
        else:
            result, new_text = _rewrite_json_page(text, raw_format.records_path, transform, raw_format.page_keys)
    else:
        result, new_text = _rewrite_delimited(text, raw_format.delimiter, transform)
    if not result.changed:
        result.content = content  # nothing to write: the very same bytes
        return result
    new_body = (bom + new_text).encode("utf-8", "surrogateescape")
    result.content = gzip.compress(new_body, mtime=0) if raw_format.gzip else new_body
    return result


def count_records(content: bytes, raw_format: RawFormat, predicate: Callable[[dict[str, Any]], bool]) -> tuple[int, int]:
    """(records, records matching `predicate`) of a raw file: the check after a rewrite."""
    matching = 0

    def check(record: dict[str, Any]) -> Any:
        nonlocal matching
        matching += bool(predicate(record))
        return KEEP

    return rewrite_records(content, raw_format, check).records, matching


def verify_rewrite(before: RecordRewrite, new_content: bytes, raw_format: RawFormat,
                   predicate: Callable[[dict[str, Any]], bool], where: str) -> None:
    """The rewritten content must hold records − dropped records, none matching `predicate`."""
    records, matching = count_records(new_content, raw_format, predicate)
    if records != before.records - before.dropped:
        raise RewriteVerificationFailed(
            f"{where}: expected {before.records - before.dropped} records after the rewrite, found {records}")
    if matching:
        raise RewriteVerificationFailed(f"{where}: {matching} record(s) still match after the rewrite")


# -- JSON Lines -------------------------------------------------------------------------

def _lines(text: str) -> Iterator[str]:
    """Physical lines split on \\n only (JSON strings may hold U+2028 and friends)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _line_ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""


def _looks_like_json_lines(text: str) -> bool:
    try:
        json.loads(text)
        return False
    except ValueError:
        pass
    lines = [line for line in _lines(text) if line.strip()]
    try:
        return len(lines) > 1 and all(isinstance(json.loads(line), dict) for line in lines[:2])
    except ValueError:
        return False


def _rewrite_json_lines(text: str, transform: RecordTransform) -> tuple[RecordRewrite, str]:
    result = RecordRewrite(b"")
    out: list[str] = []
    for line in _lines(text):
        stripped = line.strip()
        if not stripped:
            out.append(line)
            continue
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            result.unparsed += 1
            out.append(line)
            continue
        result.records += 1
        outcome = transform(record)
        if outcome is KEEP:
            out.append(line)
        elif outcome is DROP:
            result.dropped += 1
        else:
            result.replaced += 1
            out.append(json.dumps(outcome, ensure_ascii=False) + _line_ending(line))
    return result, "".join(out)


# -- a JSON page ------------------------------------------------------------------------

def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _expect(text: str, index: int, char: str) -> None:
    if index >= len(text) or text[index] != char:
        raise UnsupportedObjectFormat(f"malformed JSON page: expected {char!r} at offset {index}")


def _find_array(text: str, index: int, path: tuple[str, ...]) -> int:
    """The offset of the `[` that opens the records array at `path`."""
    index = _skip_whitespace(text, index)
    if not path:
        _expect(text, index, "[")
        return index
    _expect(text, index, "{")
    index += 1
    while True:
        index = _skip_whitespace(text, index)
        if index < len(text) and text[index] == "}":
            raise UnsupportedObjectFormat("the JSON page has no records array where expected")
        key, index = _DECODER.raw_decode(text, index)
        index = _skip_whitespace(text, index)
        _expect(text, index, ":")
        index = _skip_whitespace(text, index + 1)
        if key == path[0]:
            return _find_array(text, index, path[1:])
        _, index = _DECODER.raw_decode(text, index)
        index = _skip_whitespace(text, index)
        if index < len(text) and text[index] == ",":
            index += 1


def _array_elements(text: str, open_index: int) -> tuple[list[tuple[int, int, Any]], int]:
    """[(start, end, value)] of the array's elements, and the offset of its `]`."""
    elements: list[tuple[int, int, Any]] = []
    index = _skip_whitespace(text, open_index + 1)
    if index < len(text) and text[index] == "]":
        return elements, index
    while True:
        value, end = _DECODER.raw_decode(text, index)
        elements.append((index, end, value))
        index = _skip_whitespace(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip_whitespace(text, index + 1)
            continue
        _expect(text, index, "]")
        return elements, index


def records_path_of(document: Any) -> tuple[str, ...]:
    """Where a JSON page keeps its records: the one list of objects within three levels."""
    if isinstance(document, list):
        return ()
    candidates: list[tuple[str, ...]] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict) or len(path) >= 3:
            return
        for key, value in node.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                candidates.append((*path, key))
            else:
                visit(value, (*path, key))

    visit(document, ())
    if len(candidates) != 1:
        raise UnsupportedObjectFormat(
            f"cannot tell which array holds the records ({len(candidates)} candidates); name it")
    return candidates[0]


def _rewrite_single_record(text: str, transform: RecordTransform) -> tuple[RecordRewrite, str]:
    """A document that is one record: kept as it is, emptied (dropped) or replaced."""
    result = RecordRewrite(b"")
    if not text.strip():
        return result, text  # a record dropped before: nothing left
    try:
        record = json.loads(text)
    except ValueError as error:
        raise UnsupportedObjectFormat(f"malformed JSON record at offset {getattr(error, 'pos', '?')}") from error
    result.records = 1
    outcome = transform(record)
    if outcome is KEEP:
        return result, text
    if outcome is DROP:
        result.dropped = 1
        return result, ""
    result.replaced = 1
    return result, json.dumps(outcome, ensure_ascii=False, indent=2) + "\n"


def _page_path(text: str, page_keys: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where a known source's JSON keeps its records; None when the document is one record."""
    if not text.strip():
        return None
    document = json.loads(text)
    if isinstance(document, list):
        return ()
    for key in page_keys:
        if isinstance(document, dict) and isinstance(document.get(key), list):
            return (key,)
    return None


def _rewrite_json_page(text: str, records_path: tuple[str, ...] | None, transform: RecordTransform,
                       page_keys: tuple[str, ...] | None = None) -> tuple[RecordRewrite, str]:
    try:
        if records_path is None and page_keys is not None:
            records_path = _page_path(text, page_keys)
            if records_path is None:
                return _rewrite_single_record(text, transform)
        if records_path is None:
            records_path = records_path_of(json.loads(text))
        open_index = _find_array(text, 0, records_path)
        elements, close_index = _array_elements(text, open_index)
    except ValueError as error:  # json.JSONDecodeError; its message holds no content
        raise UnsupportedObjectFormat(f"malformed JSON page at offset {getattr(error, 'pos', '?')}") from error
    result = RecordRewrite(b"")
    kept: list[tuple[int, str]] = []  # (original position, text)
    for position, (start, end, value) in enumerate(elements):
        if not isinstance(value, dict):
            result.unparsed += 1
            kept.append((position, text[start:end]))
            continue
        result.records += 1
        outcome = transform(value)
        if outcome is KEEP:
            kept.append((position, text[start:end]))
        elif outcome is DROP:
            result.dropped += 1
        else:
            result.replaced += 1
            kept.append((position, json.dumps(outcome, ensure_ascii=False)))
    if not result.changed:
        return result, text
    if not kept:
        return result, text[:open_index + 1] + text[close_index:]
    # each kept element is followed by the separator that followed it in the original;
    # the last one by what came after the original last element
    leading = text[open_index + 1:elements[0][0]]
    trailing = text[elements[-1][1]:close_index]
    pieces = [leading]
    for number, (position, element_text) in enumerate(kept):
        pieces.append(element_text)
        if number < len(kept) - 1:
            pieces.append(text[elements[position][1]:elements[position + 1][0]]
                          if position < len(elements) - 1 else ", ")
        else:
            pieces.append(trailing)
    return result, text[:open_index + 1] + "".join(pieces) + text[close_index:]


# -- CSV / TSV --------------------------------------------------------------------------

class _LineTap:
    """Feeds csv.reader physical lines and remembers which ones made the current row."""

    def __init__(self, text: str) -> None:
        self._lines = _lines(text)
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def row_text(self) -> str:
        taken, self.taken = "".join(self.taken), []
        return taken


def _rewrite_delimited(text: str, delimiter: str, transform: RecordTransform) -> tuple[RecordRewrite, str]:
    result = RecordRewrite(b"")
    tap = _LineTap(text)
    reader = csv.reader(tap, delimiter=delimiter, strict=False)
    out: list[str] = []
    header: list[str] | None = None
    try:
        for row in reader:
            row_text = tap.row_text()
            if header is None:
                header = row
                out.append(row_text)
                continue
            if not row or not any(cell.strip() for cell in row):
                out.append(row_text)
                continue
            result.records += 1
            outcome = transform(dict(zip(header, row)))
            if outcome is KEEP:
                out.append(row_text)
            elif outcome is DROP:
                result.dropped += 1
            else:
                result.replaced += 1
                buffer = io.StringIO()
                csv.writer(buffer, delimiter=delimiter, lineterminator=_line_ending(row_text)).writerow(
                    [_cell(outcome.get(name)) for name in header])
                out.append(buffer.getvalue())
    except csv.Error as error:
        raise UnsupportedObjectFormat(f"malformed delimited file near line {reader.line_num}") from error
    out.append(tap.row_text())  # anything the reader took without making a row of it
    return result, "".join(out)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)

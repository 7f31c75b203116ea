"""Reading a raw platform file record by record, streaming, in constant memory.

`read_file` yields a `RawRecord` per record and a `FileProblem` per file-level problem,
and carries on past a bad line wherever the format allows it:

* JSON Lines: line by line; a bad line (not UTF-8, invalid JSON, too large, too deep, not
  an object) is reported and skipped. A last line cut off mid-record is `truncated_json`.
* Delimited text (CSV/TSV): the header names the fields; rows with another column count
  are reported and skipped. UTF-8, or UTF-16 when the file starts with its BOM (the
  Facebook download). A UTF-8 BOM is reported (`bom`) and stripped.
* JSON documents (a page such as `{"attendees": [...]}` or `{"data": [...]}`, an array,
  or one object): parsed incrementally with ijson's event stream; each record is built on
  its own and dropped once yielded, so memory is bounded by `ReadLimits.max_record_bytes`
  (plus parser buffers), whatever the file size. JSON has no resynchronization point, so a
  syntax error or truncation ends the file: the records before it stand, and the problem
  is reported. A document up to `ReadLimits.whole_document_bytes` (a webhook, an API page)
  is parsed whole by `whole_document` instead, about twice as fast, with the same outcome
  (differential-tested): its first reads are made exactly as ijson would make them and kept,
  so whenever the whole-document parse declines, ijson replays them and reads on.

Memory: every unit held at once is bounded — one line (`max_record_bytes`), one record,
one read block. Nothing calls `.read()` without a size. Keys ending in `.gz` are gunzipped
on the fly. Positions: the line number where the record starts for line formats (header
is line 1), the 1-based record ordinal for JSON documents.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

from chalicelib.normalize import whole_document
from chalicelib.normalize.codes import FileProblemCode
from chalicelib.normalize.connectors.base import Connector, FileFormat
from chalicelib.normalize.sources import connector_for

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SNIFFED_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class ReadLimits:
    max_record_bytes: int = 64 * 1024  # one record (a JSON line, a CSV row, a page item)
    max_depth: int = 32  # nesting of objects/arrays inside one record
    block_bytes: int = 64 * 1024  # read size from the underlying stream
    whole_document_bytes: int = 256 * 1024  # a JSON document up to this size is parsed whole


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True)
class RawRecord:
    position: int
    source_record_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class FileProblem:
    code: str
    message: str
    position: int | None = None


class _NotUtf8(Exception):
    pass


class _CountingRaw(io.RawIOBase):
    """A raw stream over any object with `read(n)`, counting bytes, optionally checking UTF-8."""

    def __init__(self, source: Any, check_utf8: bool = False) -> None:
        self._source = source
        self.bytes_read = 0
        self.at_eof = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict") if check_utf8 else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._source.read(len(buffer))
        if not chunk:
            self.at_eof = True
            if self._decoder is not None:
                try:
                    self._decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise _NotUtf8() from None
            return 0
        if self._decoder is not None:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                raise _NotUtf8() from None
        count = len(chunk)
        buffer[:count] = chunk
        self.bytes_read += count
        return count


@dataclass
class _Outcome:
    records: int = 0
    problems: int = 0
    header_only: bool = False


def read_file(source: str, stream: BinaryIO, key: str,
              limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[RawRecord | FileProblem]:
    """Records and file problems of one raw object. Raises `UnknownSource` only."""
    connector = connector_for(source)
    fmt = connector.file_format
    name = key.rsplit("/", 1)[-1].lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if extension not in fmt.extensions:
        yield FileProblem(FileProblemCode.UNSUPPORTED_FORMAT,
                          f"source {source} reads {', '.join(fmt.extensions)} files, not {extension or 'no extension'}")
        return
    body: Any = gzip.GzipFile(fileobj=stream, mode="rb") if compressed else stream
    raw = _CountingRaw(body, check_utf8=fmt.kind == "json")
    buffered = io.BufferedReader(raw, buffer_size=limits.block_bytes)
    outcome = _Outcome()
    parse = {"jsonl": _json_lines, "json": _json_document, "delimited": _delimited}[fmt.kind]
    try:
        for item in parse(buffered, connector, fmt, limits, outcome):
            if isinstance(item, RawRecord):
                outcome.records += 1
            else:
                outcome.problems += 1
            yield item
    except _NotUtf8:
        yield FileProblem(FileProblemCode.NOT_UTF8, "the file is not valid UTF-8; reading stopped there")
        return
    except gzip.BadGzipFile:
        yield FileProblem(FileProblemCode.NOT_GZIP, "the key ends in .gz but the content is not gzip")
        return
    except (EOFError, zlib.error):
        yield FileProblem(FileProblemCode.TRUNCATED_FILE, "the gzip stream ends early; records before the cut are kept")
        return
    if outcome.records == 0 and outcome.problems == 0:
        if outcome.header_only:
            yield FileProblem(FileProblemCode.EMPTY_FILE, "the file has a header but no records")
        elif raw.bytes_read == 0:
            yield FileProblem(FileProblemCode.EMPTY_FILE, "the file is empty")
        else:
            yield FileProblem(FileProblemCode.EMPTY_FILE, "the file holds no records")


def _record(connector: Connector, position: int, data: dict[str, Any]) -> RawRecord:
    try:
        record_id = connector.record_id(data)
    except Exception:  # noqa: BLE001 - an odd record shape must not stop the file
        record_id = None
    return RawRecord(position=position, source_record_id=record_id, data=data)


def _skip_bom(buffered: io.BufferedReader) -> bool:
    if buffered.peek(3)[:3] == _UTF8_BOM:
        buffered.read(3)
        return True
    return False


def _bom_problem() -> FileProblem:
    return FileProblem(FileProblemCode.BOM, "the file starts with a UTF-8 byte order mark; it was ignored", 1)


def _read_line(buffered: io.BufferedReader, limit: int) -> tuple[bytes, bool]:
    """One line up to `limit` bytes; (line, oversize). An oversize line is consumed to its end."""
    line = buffered.readline(limit + 1)
    if len(line) <= limit or (len(line) == limit + 1 and line.endswith(b"\n")):
        return line, False
    while not line.endswith(b"\n"):
        line = buffered.readline(limit + 1)
        if not line:
            break
    return b"", True


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping once past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


# -- JSON Lines ------------------------------------------------------------------------

def _json_lines(buffered: io.BufferedReader, connector: Connector, fmt: FileFormat,
                limits: ReadLimits, outcome: _Outcome) -> Iterator[RawRecord | FileProblem]:
    if _skip_bom(buffered):
        yield _bom_problem()
    line_no = 0
    while True:
        line, oversize = _read_line(buffered, limits.max_record_bytes)
        line_no += 1
        if oversize:
            yield FileProblem(FileProblemCode.RECORD_TOO_LARGE,
                              f"line is over {limits.max_record_bytes} bytes; skipped", line_no)
            continue
        if not line:
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield FileProblem(FileProblemCode.NOT_UTF8, "line is not valid UTF-8; skipped", line_no)
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            yield FileProblem(FileProblemCode.NESTING_TOO_DEEP,
                              f"line nests deeper than {limits.max_depth} levels; skipped", line_no)
            continue
        except ValueError:
            if not line.endswith(b"\n") and buffered.peek(1) == b"":
                yield FileProblem(FileProblemCode.TRUNCATED_JSON, "the last line ends mid-record", line_no)
            else:
                yield FileProblem(FileProblemCode.INVALID_JSON, "line is not valid JSON; skipped", line_no)
            continue
        # a line with fewer brackets than the limit cannot nest deeper: skip the walk
        shallow = line.count(b"{") + line.count(b"[") <= limits.max_depth
        if not shallow and _depth(value, limits.max_depth) > limits.max_depth:
            yield FileProblem(FileProblemCode.NESTING_TOO_DEEP,
                              f"line nests deeper than {limits.max_depth} levels; skipped", line_no)
            continue
        if not isinstance(value, dict):
            yield FileProblem(FileProblemCode.NOT_AN_OBJECT, "line is JSON but not an object; skipped", line_no)
            continue
        yield _record(connector, line_no, value)


# -- delimited text --------------------------------------------------------------------

@dataclass
class _LineState:
    line_no: int = 0
    row_start: int | None = None
    problems: list[FileProblem] = field(default_factory=list)


def _text_lines(buffered: io.BufferedReader, limits: ReadLimits, state: _LineState) -> Iterator[str]:
    """Decoded lines (with their line ends). Bad lines become problems in `state`."""
    if buffered.peek(2)[:2] in _UTF16_BOMS:
        state.problems.append(FileProblem(FileProblemCode.BOM, "the file is UTF-16 (byte order mark); read as UTF-16", 1))
        reader = io.TextIOWrapper(buffered, encoding="utf-16", errors="strict", newline="")
        while True:
            try:
                line = reader.readline(limits.max_record_bytes + 1)
            except UnicodeDecodeError:
                state.problems.append(FileProblem(FileProblemCode.NOT_UTF8,
                                                  "the UTF-16 text is broken; reading stopped there", state.line_no + 1))
                return
            if not line:
                return
            state.line_no += 1
            if len(line) > limits.max_record_bytes:
                state.problems.append(FileProblem(FileProblemCode.RECORD_TOO_LARGE,
                                                  f"line is over {limits.max_record_bytes} characters; reading stopped there",
                                                  state.line_no))
                return
            if state.row_start is None:
                state.row_start = state.line_no
            yield line
    if _skip_bom(buffered):
        state.problems.append(_bom_problem())
    while True:
        raw, oversize = _read_line(buffered, limits.max_record_bytes)
        state.line_no += 1
        if oversize:
            state.problems.append(FileProblem(FileProblemCode.RECORD_TOO_LARGE,
                                              f"line is over {limits.max_record_bytes} bytes; skipped", state.line_no))
            continue
        if not raw:
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            state.problems.append(FileProblem(FileProblemCode.NOT_UTF8, "line is not valid UTF-8; skipped", state.line_no))
            continue
        if state.row_start is None:
            state.row_start = state.line_no
        yield line


def _sniff(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in _SNIFFED_DELIMITERS}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _delimited(buffered: io.BufferedReader, connector: Connector, fmt: FileFormat,
               limits: ReadLimits, outcome: _Outcome) -> Iterator[RawRecord | FileProblem]:
    state = _LineState()
    lines = _text_lines(buffered, limits, state)

    def drain() -> Iterator[FileProblem]:
        while state.problems:
            yield state.problems.pop(0)

    header_line = None
    for candidate in lines:
        if candidate.strip():
            header_line = candidate
            break
        state.row_start = None
    yield from drain()
    if header_line is None:
        return
    delimiter = fmt.delimiter or _sniff(header_line)
    rows = csv.reader(_chain_first(header_line, lines), delimiter=delimiter)
    try:
        header = [column.strip() for column in next(rows)]
    except (csv.Error, StopIteration):
        yield FileProblem(FileProblemCode.MISSING_HEADER, "the header line cannot be read", 1)
        return
    if len(set(header)) != len(header) or not all(header):
        yield FileProblem(FileProblemCode.MISSING_HEADER, "the header has empty or repeated column names", 1)
        return
    outcome.header_only = True
    state.row_start = None
    while True:
        try:
            row = next(rows)
        except StopIteration:
            yield from drain()
            return
        except csv.Error:
            start, state.row_start = state.row_start, None
            yield from drain()
            yield FileProblem(FileProblemCode.MALFORMED_CSV, "row cannot be parsed as CSV; skipped", start)
            continue
        start, state.row_start = state.row_start, None
        yield from drain()
        if not any(map(str.strip, row)):  # no row, or only blank values
            continue
        if len(row) != len(header):
            yield FileProblem(FileProblemCode.WRONG_COLUMN_COUNT,
                              f"row has {len(row)} columns, the header {len(header)}; skipped", start)
            continue
        if sum(map(len, row)) > limits.max_record_bytes:
            yield FileProblem(FileProblemCode.RECORD_TOO_LARGE,
                              f"row is over {limits.max_record_bytes} characters; skipped", start)
            continue
        yield _record(connector, start or 0, dict(zip(header, row)))


def _chain_first(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


# -- JSON documents --------------------------------------------------------------------

_STARTS = ("start_map", "start_array")
_ENDS = ("end_map", "end_array")


class _ValueProblem(Exception):
    def __init__(self, code: FileProblemCode) -> None:
        self.code = code


def _scalar_size(value: Any) -> int:
    return len(value) + 2 if isinstance(value, str) else 8


def _take_value(event: str, value: Any, events: Iterator[tuple[str, Any]], limits: ReadLimits,
                budget: int, depth: int = 0) -> tuple[Any, int, FileProblemCode | None]:
    """Build the JSON value that starts with (event, value). Returns (value, size, problem);
    on a problem the rest of the value is consumed and the value is None.

    This loop runs once per JSON token of every JSON document read, so it keeps the
    container being filled, its key and its kind in locals (the parents' on a stack)."""
    if event not in _STARTS:
        size = _scalar_size(value)
        return (None, size, FileProblemCode.RECORD_TOO_LARGE) if size > budget else (value, size, None)
    root: Any = {} if event == "start_map" else []
    container: Any = root
    key: str | None = None
    in_map = event == "start_map"
    parents: list[tuple[Any, str | None, bool]] = []
    max_level = limits.max_depth - depth
    level = 1
    size = 2
    problem: FileProblemCode | None = FileProblemCode.NESTING_TOO_DEEP if level > max_level else None
    for event, value in events:
        if problem is not None:
            if event in _STARTS:
                level += 1
            elif event in _ENDS:
                level -= 1
                if level == 0:
                    return None, size, problem
            continue
        if event == "map_key":
            key = value
            size += len(value) + 3
        elif event == "start_map" or event == "start_array":
            child: Any = {} if event == "start_map" else []
            if in_map:
                container[key] = child
            else:
                container.append(child)
            parents.append((container, key, in_map))
            container, key, in_map = child, None, event == "start_map"
            level += 1
            size += 2
            if level > max_level:
                problem = FileProblemCode.NESTING_TOO_DEEP
        elif event == "end_map" or event == "end_array":
            level -= 1
            if level == 0:
                return root, size, None
            container, key, in_map = parents.pop()
        else:
            if in_map:
                container[key] = value
            else:
                container.append(value)
            size += len(value) + 2 if isinstance(value, str) else 8
        if problem is None and size > budget:
            problem = FileProblemCode.RECORD_TOO_LARGE
    raise _Truncated()


class _Truncated(Exception):
    pass


def _value_problem(code: FileProblemCode, limits: ReadLimits, position: int) -> FileProblem:
    if code == FileProblemCode.NESTING_TOO_DEEP:
        return FileProblem(code, f"record nests deeper than {limits.max_depth} levels; skipped", position)
    return FileProblem(code, f"record is over {limits.max_record_bytes} bytes; skipped", position)


def _array_records(events: Iterator[tuple[str, Any]], connector: Connector, limits: ReadLimits,
                   position: int) -> Iterator[RawRecord | FileProblem | int]:
    """Records of the array whose start_array was just read. Yields the last position at the end."""
    for event, value in events:
        if event == "end_array":
            yield position
            return
        position += 1
        item, _, problem = _take_value(event, value, events, limits, limits.max_record_bytes, depth=0)
        if problem is not None:
            yield _value_problem(problem, limits, position)
        elif not isinstance(item, dict):
            yield FileProblem(FileProblemCode.NOT_AN_OBJECT, "array item is not an object; skipped", position)
        else:
            yield _record(connector, position, item)
    raise _Truncated()


_IJSON_READ_BYTES = 64 * 1024  # ijson's reads (`buf_size`); the prefetch makes the same ones


class _Prefetch:
    """The first reads of a JSON document, made exactly as ijson makes them (`readinto` of
    `_IJSON_READ_BYTES`) until the document ends or passes `limit` bytes, then replayed to
    ijson read for read, an error included, before reading on from the stream."""

    def __init__(self, buffered: io.BufferedReader, limit: int) -> None:
        self._buffered = buffered
        self._chunks: list[bytes] = []
        self._next = 0
        self._error: BaseException | None = None
        self._at_end = False
        total = 0
        buffer = bytearray(_IJSON_READ_BYTES)
        while total <= limit:
            try:
                count = buffered.readinto(buffer)
            except Exception as exc:  # noqa: BLE001 - replayed to ijson where it happened
                self._error = exc
                return
            if not count:
                self._at_end = True
                return
            self._chunks.append(bytes(buffer[:count]))
            total += count

    @property
    def whole(self) -> bytes | None:
        """The whole document when it ended within the limit without a read error."""
        return b"".join(self._chunks) if self._at_end else None

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        raise io.UnsupportedOperation("read with a size other than 0")  # ijson uses readinto

    def readinto(self, buffer: Any) -> int:
        if self._next < len(self._chunks):
            chunk = self._chunks[self._next]
            self._chunks[self._next] = b""  # memory: each read is handed over once
            self._next += 1
            buffer[:len(chunk)] = chunk
            return len(chunk)
        if self._error is not None:
            raise self._error
        if self._at_end:
            return 0
        return self._buffered.readinto(buffer)


def _json_document(buffered: io.BufferedReader, connector: Connector, fmt: FileFormat,
                   limits: ReadLimits, outcome: _Outcome) -> Iterator[RawRecord | FileProblem]:
    if _skip_bom(buffered):
        yield _bom_problem()
    if buffered.peek(1) == b"":
        return
    prefetch = _Prefetch(buffered, limits.whole_document_bytes)
    data = prefetch.whole
    if data is not None:
        parsed = _whole_document_items(data, connector, fmt, limits)
        if parsed is not None:
            yield from parsed
            return
    events = iter(ijson.basic_parse(prefetch, buf_size=_IJSON_READ_BYTES, use_float=True))
    yield from _streamed_document(events, connector, fmt, limits)


def _whole_document_items(data: bytes, connector: Connector, fmt: FileFormat,
                          limits: ReadLimits) -> list[RawRecord | FileProblem] | None:
    """What streaming the (whole, valid UTF-8) document yields, or None to stream it after all."""
    text = data.decode("utf-8")  # checked by `_CountingRaw` as it was read
    document = whole_document.parse(text, fmt.page_keys)
    if document is None:
        return None
    out: list[RawRecord | FileProblem] = []
    if document.kind == "scalar":
        out.append(FileProblem(FileProblemCode.NOT_AN_OBJECT, "the document is a single JSON scalar, not records", 1))
        return out
    if document.kind == "array":
        return _whole_items(text, document.items, connector, limits, 0, out)
    if document.kind == "single":
        return _whole_single(text, document, connector, limits, out)
    pages = [member.items for member in document.members if member.items is not None]
    if pages:
        position = 0
        for items in pages:
            if _whole_items(text, items, connector, limits, position, out) is None:
                return None
            position += len(items)
        return out
    return _whole_single(text, document, connector, limits, out)


def _whole_single(text: str, document: whole_document.Document, connector: Connector, limits: ReadLimits,
                  out: list[RawRecord | FileProblem]) -> list[RawRecord | FileProblem] | None:
    """`_top_level_object` without a page: one record. Its measure never exceeds the text's bound."""
    if len(text) * 8 > limits.max_record_bytes and _size_bound(text, 0, len(text)) > limits.max_record_bytes:
        return None
    shallow = text.count("{") + text.count("[") <= limits.max_depth
    if document.single is not None:
        if not shallow:
            return None  # a deep value under a repeated key would not be seen
        out.append(_record(connector, 1, document.single))
        return out
    single: dict[str, Any] = {}
    for member in document.members:
        value = member.value
        if not shallow and isinstance(value, (dict, list)) \
                and _depth(value, limits.max_depth - 1) > limits.max_depth - 1:
            out.append(_value_problem(FileProblemCode.NESTING_TOO_DEEP, limits, 1))
            return out
        single[member.key] = value
    out.append(_record(connector, 1, single))
    return out


def _size_bound(text: str, start: int, end: int) -> int:
    """At least `_take_value`'s measure of the container spanning text[start:end]. A string
    or key counts at most its span there (plus the key's `:`), brackets count as they stand,
    and a number, `true`, `false` or `null` counts 8, at most 7 more than its span; each of
    those follows a `:`, `,` or `[` inside the container."""
    follows = text.count(":", start, end) + text.count(",", start, end) + text.count("[", start, end)
    return end - start + 7 * follows


def _whole_items(text: str, items: list[whole_document.Item], connector: Connector, limits: ReadLimits,
                 position: int, out: list[RawRecord | FileProblem]) -> list[RawRecord | FileProblem] | None:
    """`_array_records` over parsed items; None when an item's size needs the exact measure."""
    max_bytes = limits.max_record_bytes
    max_depth = limits.max_depth
    for item, start, end in items:
        position += 1
        if isinstance(item, (dict, list)):
            if (end - start) * 8 > max_bytes and _size_bound(text, start, end) > max_bytes:
                return None
            if text.count("{", start, end) + text.count("[", start, end) > max_depth \
                    and _depth(item, max_depth) > max_depth:
                out.append(_value_problem(FileProblemCode.NESTING_TOO_DEEP, limits, position))
                continue
        elif _scalar_size(item) > max_bytes:
            out.append(_value_problem(FileProblemCode.RECORD_TOO_LARGE, limits, position))
            continue
        if not isinstance(item, dict):
            out.append(FileProblem(FileProblemCode.NOT_AN_OBJECT, "array item is not an object; skipped", position))
        else:
            out.append(_record(connector, position, item))
    return out


def _streamed_document(events: Iterator[tuple[str, Any]], connector: Connector, fmt: FileFormat,
                       limits: ReadLimits) -> Iterator[RawRecord | FileProblem]:
    position = 0
    try:
        first = next(events, None)
        if first is None:
            return
        event, value = first
        if event == "start_array":
            for item in _array_records(events, connector, limits, position):
                if isinstance(item, int):
                    position = item
                else:
                    yield item
        elif event == "start_map":
            yield from _top_level_object(events, connector, fmt, limits)
        else:
            yield FileProblem(FileProblemCode.NOT_AN_OBJECT, "the document is a single JSON scalar, not records", 1)
        for _ in events:  # ijson reports trailing garbage only when read on
            pass
    except _Truncated:
        yield FileProblem(FileProblemCode.TRUNCATED_JSON, "the JSON document ends early; records before the cut are kept")
    except ijson.common.IncompleteJSONError as exc:
        if _is_premature_end(exc):
            yield FileProblem(FileProblemCode.TRUNCATED_JSON,
                              "the JSON document ends early; records before the cut are kept")
        else:
            yield FileProblem(FileProblemCode.INVALID_JSON,
                              "the JSON document has a syntax error; records before it are kept")
    except ijson.common.JSONError:
        yield FileProblem(FileProblemCode.INVALID_JSON, "the JSON document has a syntax error; records before it are kept")


def _is_premature_end(exc: Exception) -> bool:
    # the parser's message quotes the document (personal data): only its kind is looked at
    return "premature eof" in str(exc).lower()


def _top_level_object(events: Iterator[tuple[str, Any]], connector: Connector, fmt: FileFormat,
                      limits: ReadLimits) -> Iterator[RawRecord | FileProblem]:
    """A page (records under one of `fmt.page_keys`) or, without such a key, one record."""
    single: dict[str, Any] = {}
    single_size = 2
    single_problem: FileProblemCode | None = None
    paged = False
    position = 0
    for event, value in events:
        if event == "end_map":
            break
        key = value  # map_key
        event, value = next(events, (None, None))
        if event is None:
            raise _Truncated()
        if key in fmt.page_keys and event == "start_array":
            paged = True
            for item in _array_records(events, connector, limits, position):
                if isinstance(item, int):
                    position = item
                else:
                    yield item
            continue
        budget = max(limits.max_record_bytes - single_size, 0)
        item, size, problem = _take_value(event, value, events, limits, budget, depth=1)
        single_size += size + len(key) + 3
        if single_problem is None and problem is not None:
            single_problem = problem
        if single_problem is None:
            single[key] = item
        else:
            single.clear()  # keep memory bounded once the record is known to be rejected
    else:
        raise _Truncated()
    if paged:
        return
    if single_problem is not None:
        yield _value_problem(single_problem, limits, 1)
    else:
        yield _record(connector, 1, single)

"""The one record splitter of raw files: where each record starts and ends, and what it holds.

`split` reads a raw file as a stream, in bounded reads and constant memory, and yields a
`Piece` per record and per problem, each record with its position (the line where it
starts for line formats, header = line 1; the 1-based ordinal for JSON documents) and its
byte span in the (gunzipped) body. The reader turns pieces into records; the rewriter
rewrites the spans. Both see one splitting, so erasure rewrites exactly what ingest read.

* JSON Lines: line by line (split on `\\n` only); a bad line is a problem and skipped.
* Delimited text: the header names the fields; rows with another column count are
  problems. UTF-8, or UTF-16 when the file starts with its BOM.
* JSON documents (a page under one of the format's page keys, an array, or one object):
  scanned for the bounds of each record (and of a page's other members), each then parsed
  on its own by the standard library, strictly (`NaN` is no JSON); JSON has no
  resynchronization point, so a syntax error or truncation ends the file. A `.json` file
  whose first line is a whole object, no page, with more after it, is JSON Lines.

A UTF-8 BOM is reported and skipped. Every unit held at once is bounded: one line or one
record (`max_record_bytes`) and one read block.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

from chalicelib.raw_files.formats import UTF8_BOM, UTF16_BOMS, FileFormat, holds_json_lines, key_layout, sniff_delimiter
from chalicelib.raw_files.records import FileProblem, FileProblemCode, ReadLimits

Layout = Literal["lines", "delimited", "document"]


@dataclass(frozen=True)
class Piece:
    """A record (`data`) or a problem, with where it lies in the body when it has a place."""

    position: int | None
    data: dict[str, Any] | None = None
    problem: FileProblem | None = None
    span: tuple[int, int] | None = None  # bytes [start, end) of the gunzipped body
    ending: str = ""  # line formats: the line end of the record's last line
    array: int | None = None  # JSON documents: which array the item is in; None: the document's one record


@dataclass
class Facts:
    """What splitting found out about the file, filled in as it goes."""

    layout: Layout = "lines"
    encoding: str = "utf-8"
    delimiter: str = ","
    header: list[str] = field(default_factory=list)
    unreadable_gzip: bool = False


class _NotUtf8(Exception):
    pass


class _CountingRaw(io.RawIOBase):
    """A raw stream over any object with `read(n)`, counting bytes, optionally checking UTF-8."""

    def __init__(self, source: Any, check_utf8: bool = False) -> None:
        self._source = source
        self.bytes_read = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict") if check_utf8 else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._source.read(len(buffer))
        if self._decoder is not None:
            try:
                self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                raise _NotUtf8() from None
        count = len(chunk)
        buffer[:count] = chunk
        self.bytes_read += count
        return count


class _Replay(io.RawIOBase):
    """The bytes already read from a stream, then the rest of the stream."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@dataclass
class _Count:
    records: int = 0
    problems: int = 0
    header_only: bool = False


def split(stream: BinaryIO, key: str, fmt: FileFormat, limits: ReadLimits, facts: Facts) -> Iterator[Piece]:
    """The pieces of one raw object, as its key and its source's format say to read it."""
    layout = key_layout(key)
    if layout.extension not in fmt.extensions:
        yield _problem(
            FileProblemCode.UNSUPPORTED_FORMAT,
            f"the source reads {', '.join(fmt.extensions)} files, not {layout.extension or 'no extension'}",
        )
        return
    body: Any = gzip.GzipFile(fileobj=stream, mode="rb") if layout.compressed else stream
    raw = _CountingRaw(body, check_utf8=fmt.kind == "json")
    buffered: io.BufferedReader[Any] = io.BufferedReader(raw, buffer_size=limits.block_bytes)
    count = _Count()
    try:
        kind = fmt.kind
        if kind == "json":
            head = buffered.read(limits.max_record_bytes + 1)  # holds a first line that could be a record
            buffered = io.BufferedReader(_Replay(head, buffered), buffer_size=limits.block_bytes)
            if holds_json_lines(head, fmt.page_keys):
                kind = "jsonl"
        if kind == "jsonl":
            facts.layout = "lines"
            pieces = _json_lines(buffered, limits)
        elif kind == "json":
            facts.layout = "document"
            pieces = _json_document(buffered, fmt, limits)
        else:
            facts.layout = "delimited"
            pieces = _delimited(buffered, fmt, limits, facts, count)
        for piece in pieces:
            if piece.data is not None:
                count.records += 1
            else:
                count.problems += 1
            yield piece
    except _NotUtf8:
        yield _problem(FileProblemCode.NOT_UTF8, "the file is not valid UTF-8; reading stopped there")
        return
    except gzip.BadGzipFile:
        facts.unreadable_gzip = True
        yield _problem(FileProblemCode.NOT_GZIP, "the key ends in .gz but the content is not gzip")
        return
    except (EOFError, zlib.error):
        facts.unreadable_gzip = True
        yield _problem(FileProblemCode.TRUNCATED_FILE, "the gzip stream ends early; records before the cut are kept")
        return
    if count.records == 0 and count.problems == 0:
        if count.header_only:
            yield _problem(FileProblemCode.EMPTY_FILE, "the file has a header but no records")
        elif raw.bytes_read == 0:
            yield _problem(FileProblemCode.EMPTY_FILE, "the file is empty")
        else:
            yield _problem(FileProblemCode.EMPTY_FILE, "the file holds no records")


def _problem(
    code: FileProblemCode,
    message: str,
    position: int | None = None,
    span: tuple[int, int] | None = None,
    array: int | None = None,
) -> Piece:
    return Piece(position, problem=FileProblem(code, message, position), span=span, array=array)


def _bom_problem() -> Piece:
    return _problem(FileProblemCode.BOM, "the file starts with a UTF-8 byte order mark; it was ignored", 1)


def _line_ending(line: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if line.endswith(ending):
            return ending
    return ""


# -- lines ------------------------------------------------------------------------------


@dataclass
class _Line:
    number: int
    start: int
    end: int
    text: str | None  # None: not valid in the encoding, or over the limit
    problem: Piece | None = None


def _byte_lines(buffered: io.BufferedReader, limits: ReadLimits) -> Iterator[_Line]:
    """Physical lines split on `\\n`, decoded as UTF-8, with their byte spans. A UTF-8 BOM
    is reported and skipped; a line over the limit is consumed to its end and reported."""
    offset = 0
    if buffered.peek(3)[:3] == UTF8_BOM:
        buffered.read(3)
        offset = 3
        yield _Line(1, 0, 0, None, _bom_problem())
    number = 0
    limit = limits.max_record_bytes
    while True:
        line = buffered.readline(limit + 1)
        number += 1
        start = offset
        if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\n")):
            size = len(line)
            while not line.endswith(b"\n"):
                line = buffered.readline(limit + 1)
                if not line:
                    break
                size += len(line)
            offset += size
            yield _Line(
                number,
                start,
                offset,
                None,
                _problem(
                    FileProblemCode.RECORD_TOO_LARGE, f"line is over {limit} bytes; skipped", number, (start, offset)
                ),
            )
            continue
        if not line:
            return
        offset += len(line)
        try:
            yield _Line(number, start, offset, line.decode("utf-8"))
        except UnicodeDecodeError:
            yield _Line(
                number,
                start,
                offset,
                None,
                _problem(FileProblemCode.NOT_UTF8, "line is not valid UTF-8; skipped", number, (start, offset)),
            )


def _utf16_lines(buffered: io.BufferedReader, encoding: str, limits: ReadLimits) -> Iterator[_Line]:
    """Lines of a UTF-16 file (after its BOM), with their byte spans; a broken or overlong
    line ends the file."""
    buffered.read(2)
    yield _Line(1, 0, 0, None, _problem(FileProblemCode.BOM, "the file is UTF-16 (byte order mark); read as UTF-16", 1))
    reader = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
    offset, number = 2, 0
    while True:
        try:
            line = reader.readline(limits.max_record_bytes + 1)
        except UnicodeDecodeError:
            yield _Line(
                number + 1,
                offset,
                offset,
                None,
                _problem(FileProblemCode.NOT_UTF8, "the UTF-16 text is broken; reading stopped there", number + 1),
            )
            return
        if not line:
            return
        number += 1
        if len(line) > limits.max_record_bytes:
            yield _Line(
                number,
                offset,
                offset,
                None,
                _problem(
                    FileProblemCode.RECORD_TOO_LARGE,
                    f"line is over {limits.max_record_bytes} characters; reading stopped there",
                    number,
                ),
            )
            return
        start, offset = offset, offset + len(line.encode(encoding))
        yield _Line(number, start, offset, line)


def _json_lines(buffered: io.BufferedReader, limits: ReadLimits) -> Iterator[Piece]:
    for line in _byte_lines(buffered, limits):
        if line.text is None:
            if line.problem is not None:
                yield line.problem
            continue
        text = line.text
        if not text.strip():
            continue
        span = (line.start, line.end)
        try:
            value = _loads(text)
            too_deep = text.count("{") + text.count("[") > limits.max_depth and (
                _depth(value, limits.max_depth) > limits.max_depth
            )
        except RecursionError:
            too_deep = True
        except ValueError:
            if not text.endswith("\n") and buffered.peek(1) == b"":
                yield _problem(FileProblemCode.TRUNCATED_JSON, "the last line ends mid-record", line.number, span)
            else:
                yield _problem(FileProblemCode.INVALID_JSON, "line is not valid JSON; skipped", line.number, span)
            continue
        if too_deep:
            yield _problem(
                FileProblemCode.NESTING_TOO_DEEP,
                f"line nests deeper than {limits.max_depth} levels; skipped",
                line.number,
                span,
            )
            continue
        if not isinstance(value, dict):
            yield _problem(FileProblemCode.NOT_AN_OBJECT, "line is JSON but not an object; skipped", line.number, span)
            continue
        yield Piece(line.number, data=value, span=span, ending=_line_ending(text))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _loads(text: str) -> Any:
    """Strict JSON: `NaN` and `Infinity` are not JSON."""
    return _DECODER.decode(text)


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


# -- delimited text ---------------------------------------------------------------------


class _SkippedMidRow(Exception):
    """A bad line (over the limit, not UTF-8) came while a row was half read: the row is
    skipped too, or its data would lack bytes its span holds (and a rewrite of that span
    would then write something else than what was read)."""


class _RowLines:
    """Feeds csv.reader decoded lines; keeps the problems of bad lines and the span and
    first line of the row being read."""

    def __init__(self, lines: Iterator[_Line]) -> None:
        self._lines = lines
        self.problems: list[Piece] = []
        self.row_start: int | None = None
        self.row_line: int | None = None
        self.row_end = 0
        self.last_text = ""

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        while True:
            line = next(self._lines)
            if line.text is None:
                if line.problem is not None:
                    self.problems.append(line.problem)
                if self.row_start is not None:
                    raise _SkippedMidRow()
                continue
            if self.row_start is None:
                self.row_start, self.row_line = line.start, line.number
            self.row_end, self.last_text = line.end, line.text
            return line.text

    def take_row(self) -> tuple[int, tuple[int, int], str]:
        """(first line number, byte span, line end) of the row just read; starts the next."""
        row = (self.row_line or 0, (self.row_start or 0, self.row_end), _line_ending(self.last_text))
        self.row_start = self.row_line = None
        return row

    def drain(self) -> Iterator[Piece]:
        while self.problems:
            yield self.problems.pop(0)


def _delimited(
    buffered: io.BufferedReader, fmt: FileFormat, limits: ReadLimits, facts: Facts, count: _Count
) -> Iterator[Piece]:
    encoding = UTF16_BOMS.get(buffered.peek(2)[:2])
    if encoding is not None:
        facts.encoding = encoding
        feed = _RowLines(_utf16_lines(buffered, encoding, limits))
    else:
        feed = _RowLines(_byte_lines(buffered, limits))
    header_line = None
    for candidate in feed:
        if candidate.strip():
            header_line = candidate
            break
        feed.take_row()
    yield from feed.drain()
    if header_line is None:
        return
    facts.delimiter = fmt.delimiter or sniff_delimiter(header_line)
    rows = csv.reader(_chain(header_line, feed), delimiter=facts.delimiter)
    try:
        header = [column.strip() for column in next(rows)]
    except (csv.Error, StopIteration, _SkippedMidRow):
        yield _problem(FileProblemCode.MISSING_HEADER, "the header line cannot be read", 1)
        return
    if len(set(header)) != len(header) or not all(header):
        yield _problem(FileProblemCode.MISSING_HEADER, "the header has empty or repeated column names", 1)
        return
    facts.header = header
    count.header_only = True
    feed.take_row()
    while True:
        try:
            row = next(rows)
        except StopIteration:
            yield from feed.drain()
            return
        except csv.Error:
            line, span, _ = feed.take_row()
            yield from feed.drain()
            yield _problem(FileProblemCode.MALFORMED_CSV, "row cannot be parsed as CSV; skipped", line, span)
            continue
        except _SkippedMidRow:
            line, span, _ = feed.take_row()
            problems = list(feed.drain())
            yield _problem(FileProblemCode.MALFORMED_CSV, "row runs into a line that was skipped; skipped", line, span)
            yield from problems
            rows = csv.reader(feed, delimiter=facts.delimiter)  # the half-read row's quote is dropped with it
            continue
        line, span, ending = feed.take_row()
        yield from feed.drain()
        if not any(map(str.strip, row)):  # no row, or only blank values
            continue
        if len(row) != len(header):
            yield _problem(
                FileProblemCode.WRONG_COLUMN_COUNT,
                f"row has {len(row)} columns, the header {len(header)}; skipped",
                line,
                span,
            )
            continue
        if sum(map(len, row)) > limits.max_record_bytes:
            yield _problem(
                FileProblemCode.RECORD_TOO_LARGE,
                f"row is over {limits.max_record_bytes} characters; skipped",
                line,
                span,
            )
            continue
        yield Piece(line, data=dict(zip(header, row)), span=span, ending=ending)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


# -- JSON documents ---------------------------------------------------------------------


class _Truncated(Exception):
    pass


class _Syntax(Exception):
    pass


# past everything but brackets, whole strings included, to the next bracket or to the quote
# of a string that goes on past the window (group 1); no group 1 at the end of the window
_STRUCTURE = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*+(.)?', re.DOTALL)
_STRING_STOP = re.compile(rb'["\\]')
_SCALAR_END = re.compile(rb'[ \t\n\r,\]}\[{":]')
_WHITESPACE = b" \t\n\r"
_CLOSING = {ord("]"): ord("["), ord("}"): ord("{")}


@dataclass
class _Capture:
    start: int  # index in the window's buffer
    limit: int
    over: bool = False


_MAX_KEY_BYTES = 1024  # a longer top-level key is read past, as no page key


class _Window:
    """A window over a binary stream with absolute offsets. It holds the bytes of the values
    being captured (a record, a member, a key), each only up to its limit, and one block."""

    def __init__(self, stream: io.BufferedReader, block: int) -> None:
        self._stream = stream
        self._block = block
        self.buf = b""
        self.base = 0  # offset in the body of buf[0]
        self.pos = 0  # index in buf of the next byte
        self._captures: list[_Capture] = []

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self) -> bool:
        chunk = self._stream.read(self._block)
        if not chunk:
            return False
        keep = self.pos
        for capture in self._captures:
            if not capture.over and self.pos - capture.start > capture.limit:
                capture.over = True
            if not capture.over:
                keep = min(keep, capture.start)
        self.buf = self.buf[keep:] + chunk
        self.base += keep
        self.pos -= keep
        for capture in self._captures:
            capture.start -= keep
        return True

    def capture(self, limit: int) -> _Capture:
        capture = _Capture(self.pos, limit)
        self._captures.append(capture)
        return capture

    def captured(self, capture: _Capture) -> bytes | None:
        """The bytes since `capture` began, or None when they went over its limit."""
        self.release(capture)
        if capture.over or self.pos - capture.start > capture.limit:
            return None
        return self.buf[capture.start : self.pos]

    def release(self, capture: _Capture) -> None:
        if capture in self._captures:
            self._captures.remove(capture)

    def read_key(self) -> str | None:
        """The object key at the window (at its opening quote); None for an overlong key."""
        capture = self.capture(_MAX_KEY_BYTES)
        self.pos += 1
        self.skip_string()
        text = self.captured(capture)
        if text is None:
            return None
        key = _loads(text.decode("utf-8"))
        return key if isinstance(key, str) else None

    def peek(self) -> int | None:
        """The next byte other than whitespace (the window at it), or None at the end."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self.fill():
                return None

    def expect_more(self) -> int:
        byte = self.peek()
        if byte is None:
            raise _Truncated()
        return byte

    def skip_string(self) -> None:
        """From just after an opening quote to just after its closing quote."""
        while True:
            found = _STRING_STOP.search(self.buf, self.pos)
            if found is None:
                self.pos = len(self.buf)
                if not self.fill():
                    raise _Truncated()
                continue
            self.pos = found.end()
            if self.buf[found.start()] == ord('"'):
                return
            while self.pos >= len(self.buf):  # the escaped character is in the next block
                if not self.fill():
                    raise _Truncated()
            self.pos += 1

    def skip_value(self) -> int:
        """Past the value at the window (its first byte is not whitespace); returns its
        nesting depth (0 for a scalar)."""
        first = self.buf[self.pos]
        if first == ord('"'):
            self.pos += 1
            self.skip_string()
            return 0
        if first not in (ord("["), ord("{")):
            if _SCALAR_END.match(self.buf, self.pos):
                raise _Syntax()  # no value where one must be
            while True:
                found = _SCALAR_END.search(self.buf, self.pos)
                if found is not None:
                    self.pos = found.start()
                    return 0
                self.pos = len(self.buf)
                if not self.fill():
                    return 0
        stack = bytearray()
        deepest = 0
        while True:
            found = _STRUCTURE.match(self.buf, self.pos)
            if found is None or found.group(1) is None:
                self.pos = len(self.buf)
                if not self.fill():
                    raise _Truncated()
                continue
            byte = self.buf[found.start(1)]
            self.pos = found.end()
            if byte == ord('"'):  # the string goes on past the window
                self.skip_string()
            elif byte in (ord("["), ord("{")):
                stack.append(byte)
                deepest = max(deepest, len(stack))
            else:
                if not stack or stack.pop() != _CLOSING[byte]:
                    raise _Syntax()
                if not stack:
                    return deepest


def _json_document(buffered: io.BufferedReader, fmt: FileFormat, limits: ReadLimits) -> Iterator[Piece]:
    window = _Window(buffered, limits.block_bytes)
    if buffered.peek(3)[:3] == UTF8_BOM:
        buffered.read(3)
        window.base = 3
        yield _bom_problem()
    try:
        first = window.peek()
        if first is None:
            return
        if first == ord("["):
            window.pos += 1
            yield from _array_items(window, limits, 0, 0)
        elif first == ord("{"):
            yield from _top_level_object(window, fmt, limits)
        else:
            start = window.offset
            window.skip_value()
            yield _problem(
                FileProblemCode.NOT_AN_OBJECT,
                "the document is a single JSON scalar, not records",
                1,
                (start, window.offset),
            )
        if window.peek() is not None:
            raise _Syntax()
    except _Truncated:
        yield _problem(FileProblemCode.TRUNCATED_JSON, "the JSON document ends early; records before the cut are kept")
    except (_Syntax, ValueError):
        yield _problem(FileProblemCode.INVALID_JSON, "the JSON document has a syntax error; records before it are kept")


def _array_items(window: _Window, limits: ReadLimits, array: int, position: int) -> Iterator[Piece]:
    """The items of the array whose `[` was just passed; the window ends after its `]`."""
    if window.expect_more() == ord("]"):
        window.pos += 1
        return
    while True:
        position += 1
        start = window.offset
        capture = window.capture(limits.max_record_bytes)
        depth = window.skip_value()
        text = window.captured(capture)
        span = (start, window.offset)
        if text is None:
            yield _problem(
                FileProblemCode.RECORD_TOO_LARGE,
                f"record is over {limits.max_record_bytes} bytes; skipped",
                position,
                span,
                array,
            )
        elif depth > limits.max_depth:
            yield _problem(
                FileProblemCode.NESTING_TOO_DEEP,
                f"record nests deeper than {limits.max_depth} levels; skipped",
                position,
                span,
                array,
            )
        else:
            value = _loads(text.decode("utf-8"))
            if isinstance(value, dict):
                yield Piece(position, data=value, span=span, array=array)
            else:
                yield _problem(
                    FileProblemCode.NOT_AN_OBJECT, "array item is not an object; skipped", position, span, array
                )
        separator = window.expect_more()
        window.pos += 1
        if separator == ord("]"):
            return
        if separator != ord(",") or window.expect_more() == ord("]"):
            raise _Syntax()


def _top_level_object(window: _Window, fmt: FileFormat, limits: ReadLimits) -> Iterator[Piece]:
    """A page (records under one of `fmt.page_keys`) or, without such a key, one record."""
    start = window.offset
    whole = window.capture(limits.max_record_bytes)
    window.pos += 1
    arrays = 0
    position = 0
    deepest = 0
    if window.expect_more() != ord("}"):
        while True:
            if window.expect_more() != ord('"'):
                raise _Syntax()
            key = window.read_key()
            if window.expect_more() != ord(":"):
                raise _Syntax()
            window.pos += 1
            if window.expect_more() == ord("[") and key in fmt.page_keys:
                window.release(whole)  # a page: the document is not one record
                window.pos += 1
                for piece in _array_items(window, limits, arrays, position):
                    position = piece.position or position
                    yield piece
                arrays += 1
            else:
                member = window.capture(limits.max_record_bytes)
                deepest = max(deepest, window.skip_value())
                value = window.captured(member)
                if value is not None:
                    _loads(value.decode("utf-8"))  # a member of a page is JSON too
            separator = window.expect_more()
            window.pos += 1
            if separator == ord("}"):
                break
            if separator != ord(","):
                raise _Syntax()
    else:
        window.pos += 1
    text = window.captured(whole)
    if arrays:
        return
    span = (start, window.offset)
    if text is None:
        yield _problem(
            FileProblemCode.RECORD_TOO_LARGE, f"record is over {limits.max_record_bytes} bytes; skipped", 1, span
        )
    elif deepest + 1 > limits.max_depth:
        yield _problem(
            FileProblemCode.NESTING_TOO_DEEP, f"record nests deeper than {limits.max_depth} levels; skipped", 1, span
        )
    else:
        yield Piece(1, data=_loads(text.decode("utf-8")), span=span)

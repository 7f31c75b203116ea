"""Ingest and erasure read a raw file alike: the records (and their positions) a rewrite
visits are exactly the records ingest's reader yields, and a rewrite changes those records
and nothing else.

Each side resolves the format as it does in production: ingest by the source's connector
(`connector_for(source).file_format`), erasure and anonymization by the object's key
(`raw_format_for`). Checked on every sample file and on generated files of every format:
JSON Lines, JSON pages under each connector's page key, arrays, single objects, JSON Lines
in a `.json` file, CSV with `,` and `;`, TSV, UTF-8 and UTF-16 with BOM, gzip of each,
quoted fields with line ends and delimiters, CRLF, blank and bad lines, truncation, inserted
bytes, and small read blocks and limits.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.lake_access.rewrite_object import raw_format_for
from chalicelib.normalize.mappings import mapped_connector, parse_mapping
from chalicelib.normalize.sources import connector_for, use_declared_sources
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem, RawRecord, ReadLimits
from chalicelib.raw_files.rewriter import DROP, KEEP, CannotRewrite, rewrite_records, visit_records

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
SAMPLE_FILES = sorted(path for path in SAMPLES.glob("*/*") if path.is_file() and path.name != "mapping.json")


@pytest.fixture(autouse=True)
def declared_sample_sources() -> Iterator[None]:
    """The sample sources declared as mappings (`samples/*/mapping.json`), as the config table would hold them."""
    declared = {
        mapping.source: mapped_connector(mapping)
        for mapping in (
            parse_mapping(json.loads(path.read_text(encoding="utf-8"))) for path in SAMPLES.glob("*/mapping.json")
        )
    }
    use_declared_sources(lambda source, version: declared.get(source))
    yield
    use_declared_sources(None)


@dataclass(frozen=True)
class RawFile:
    source: str
    name: str  # file name with its extensions
    content: bytes
    encoding: str = "utf-8"  # of the body, for reading a record's span back
    clean: list[dict[str, Any]] | None = None  # the records, when the file is generated without faults

    @property
    def key(self) -> str:
        return f"incoming/{self.source}/2026/11/28/{self.name}"

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.content) if self.name.endswith(".gz") else self.content


def ingest_reads(raw: RawFile, limits: ReadLimits) -> list[RawRecord | FileProblem]:
    connector = connector_for(raw.source)
    return list(read_file(io.BytesIO(raw.content), raw.key, connector.file_format, limits, connector.record_id))


def check_read_alike(raw: RawFile, limits: ReadLimits = DEFAULT_LIMITS, round_trip: bool = True) -> None:
    items = ingest_reads(raw, limits)
    records = [item for item in items if isinstance(item, RawRecord)]
    problems = {item.code for item in items if isinstance(item, FileProblem)}
    erasure_format = raw_format_for(raw.key)
    assert erasure_format == connector_for(raw.source).file_format

    # the records erasure visits are ingest's, at the same positions
    visited = list(visit_records(raw.content, raw.key, erasure_format, limits))
    assert [(v.position, v.data) for v in visited] == [(r.position, r.data) for r in records]
    seen: list[dict[str, Any]] = []
    kept = rewrite_records(raw.content, raw.key, erasure_format, lambda r: seen.append(r) or KEEP, limits)
    assert seen == [r.data for r in records] and kept.records == len(records)
    assert kept.content is raw.content
    if raw.clean is not None:
        assert [r.data for r in records] == raw.clean

    # each record's span holds that record
    body = raw.body if "not_gzip" not in problems and "truncated_file" not in problems else None
    if body is not None:
        for record in visited:
            start, end = record.span
            try:
                text = body[start:end].decode(raw.encoding)
            except UnicodeDecodeError:
                continue  # a quoted field across a line the reader skipped (not UTF-8)
            assert _parse_span(text, erasure_format.kind, record.data) == record.data

    if not round_trip or not records:
        return
    # dropping and replacing records changes those and nothing else, as ingest reads it back
    drop = {n for n in range(len(records)) if n % 3 == 1}
    replace = {n for n in range(len(records)) if n % 3 == 2}
    first_field = next(iter(records[0].data), "x")
    counter = iter(range(len(records)))

    def transform(record: dict[str, Any]) -> Any:
        n = next(counter)
        if n in drop:
            return DROP
        if n in replace:
            return {**record, first_field: f"R{n}"}
        return KEEP

    if body is None:
        with pytest.raises(CannotRewrite):
            rewrite_records(raw.content, raw.key, erasure_format, transform, limits)
        return
    rewritten = rewrite_records(raw.content, raw.key, erasure_format, transform, limits)
    assert (rewritten.records, rewritten.dropped, rewritten.replaced) == (len(records), len(drop), len(replace))
    expected = [
        r.data if n not in replace else {**r.data, first_field: f"R{n}"} for n, r in enumerate(records) if n not in drop
    ]
    if erasure_format.kind == "json" and "not_utf8" in problems:
        return  # where a document's bad bytes stop the reading depends on its read blocks
    again = ingest_reads(RawFile(raw.source, raw.name, rewritten.content), limits)
    assert [r.data for r in again if isinstance(r, RawRecord)] == expected
    assert {p.code for p in again if isinstance(p, FileProblem)} - {"empty_file"} <= problems | {"bom"}


def _parse_span(text: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "delimited":
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter_of(text, data)))
        return dict(zip(data, rows[0]))
    return json.loads(text)


def _delimiter_of(text: str, data: dict[str, Any]) -> str:
    for delimiter in (",", ";", "\t"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        if rows and rows[0] == list(data.values()):
            return delimiter
    return ","


# -- the samples ----------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_is_read_alike_by_ingest_and_erasure(path: Path) -> None:
    raw = RawFile(path.parent.name, "f0000000001" + "".join(path.suffixes), path.read_bytes())
    assert any(isinstance(item, RawRecord) for item in ingest_reads(raw, DEFAULT_LIMITS))
    check_read_alike(raw)
    packed = RawFile(
        raw.source,
        raw.name + ("" if raw.name.endswith(".gz") else ".gz"),
        raw.content if raw.name.endswith(".gz") else gzip.compress(raw.content, mtime=0),
    )
    check_read_alike(packed)


# -- generated files ------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_CELL = st.one_of(
    _TEXT,
    st.sampled_from(
        ['a"b', "x;y", "x,y", "x\ty", "line\nbreak", "crlf\r\nbreak", " ", "", "Müller", "\u2028", '"quoted"']
    ),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_TEXT, c, max_size=3),
    max_leaves=8,
)
_OBJECTS = st.dictionaries(
    st.sampled_from(["id", "email", "name", "profile", "data", "attendees", "x"]), _JSON, max_size=4
)
_BLOCKS = st.sampled_from([DEFAULT_LIMITS.block_bytes, 7, 16, 61, 256])

DELIMITED = {"ticketshop": (";", "csv"), "amazon_orders": ("\t", "txt"), "facebook_leads_csv": (None, "csv")}
PAGED = {"eventbrite": "attendees", "facebook_leads": "data", "google_ads": None}


def _row(cells: list[str], delimiter: str, ending: str) -> str:
    """A CSV row, quoting the cells that need it (any line end, quote or delimiter)."""
    quoted = [
        '"' + cell.replace('"', '""') + '"' if any(c in cell for c in f'\r\n"{delimiter}') else cell for cell in cells
    ]
    return delimiter.join(quoted) + ending


@st.composite
def delimited_files(draw: st.DrawFn) -> RawFile:
    source = draw(st.sampled_from(sorted(DELIMITED)))
    declared, extension = DELIMITED[source]
    delimiter = declared or draw(st.sampled_from([",", ";", "\t"]))
    header = draw(
        st.lists(st.sampled_from(["E-Mail", "Name", "Id", "Note", "Ort"]), min_size=2, max_size=4, unique=True)
    )
    rows = draw(st.lists(st.lists(_CELL, min_size=len(header), max_size=len(header)), max_size=8))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [_row(header, delimiter, ending)]
    faults = False
    for row in rows:
        if draw(st.integers(0, 5)) == 0:
            lines.append(ending)  # a blank line
        if draw(st.integers(0, 7)) == 0:
            lines.append(draw(st.sampled_from(["only-one-cell", delimiter.join(["a"] * (len(header) + 1))])) + ending)
            faults = True
        lines.append(_row(row, delimiter, ending))
    text = "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line end after the last row
    clean = [dict(zip(header, row)) for row in rows if any(cell.strip() for cell in row)]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    content = text.encode(encoding)
    body_encoding = {"utf-16": "utf-16-le" if content[:2] == b"\xff\xfe" else "utf-16-be"}.get(encoding, "utf-8")
    if encoding != "utf-16" and draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(content)))
        at = content.rfind(b"\n", 0, at) + 1
        content = content[:at] + b"bad\xff" + delimiter.encode() + b"\xfe" + ending.encode() + content[at:]
        faults = True
    name = "f." + extension
    if draw(st.booleans()):
        content, name = gzip.compress(content, mtime=0), name + ".gz"
    return RawFile(source, name, content, body_encoding, None if faults else clean)


@st.composite
def json_lines_files(draw: st.DrawFn) -> RawFile:
    records = draw(st.lists(_OBJECTS, max_size=8))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    lines, faults = [], False
    for record in records:
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "  ", "\t"])) + ending)
        if draw(st.integers(0, 7)) == 0:
            lines.append(draw(st.sampled_from(["not json", "[1, 2]", '"text"', '{"a": NaN}', "{"])) + ending)
            faults = True
        lines.append(json.dumps(record, ensure_ascii=draw(st.booleans())) + ending)
    content = "".join(lines).encode()
    if draw(st.booleans()):
        content = content.rstrip(b"\r\n")
    mutation = draw(st.sampled_from(["none", "none", "bom", "bad-byte", "cut"]))
    if mutation == "bom":
        content = b"\xef\xbb\xbf" + content
    elif mutation == "bad-byte" and content:
        at = draw(st.integers(0, len(content)))
        content, faults = content[:at] + b"\xff" + content[at:], True
    elif mutation == "cut" and content:
        content, faults = content[: draw(st.integers(0, len(content)))], True
    name = draw(st.sampled_from(["f.jsonl", "f.ndjson"]))
    if draw(st.booleans()):
        content, name = gzip.compress(content, mtime=0), name + ".gz"
    return RawFile("canonical", name, content, clean=None if faults else records)


@st.composite
def json_documents(draw: st.DrawFn) -> RawFile:
    source = draw(st.sampled_from(sorted(PAGED)))
    page_key = PAGED[source]
    records = draw(st.lists(_OBJECTS, max_size=6))
    indent = draw(st.sampled_from([None, 1, 2]))
    shape = draw(st.sampled_from(["page", "array", "single", "lines"] if page_key else ["array", "single", "lines"]))
    clean: list[dict[str, Any]] | None = records
    if shape == "page":
        items: list[Any] = list(records)
        if draw(st.integers(0, 4)) == 0:
            items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from([1, "x", [], None])))
            clean = None
        document: Any = (
            {"pagination": {"page": 1}, page_key: items}
            if draw(st.booleans())
            else {page_key: items, "pagination": {"page": 1}}
        )
        text = json.dumps(document, indent=indent, ensure_ascii=draw(st.booleans()))
    elif shape == "array":
        text = json.dumps(records, indent=indent)
    elif shape == "single":
        single = {k: v for k, v in (records[0] if records else {"id": "1"}).items() if k != page_key}
        clean = [single]
        text = json.dumps(single, indent=indent)
    else:  # JSON Lines in a .json file (whose first line is no page)
        records = [{k: v for k, v in r.items() if k != page_key} for r in records]
        clean = records if len(records) > 1 else None
        text = "\n".join(json.dumps(r) for r in records) + "\n"
    text = draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", "\n", "\r\n"]))
    content = text.encode()
    mutation = draw(st.sampled_from(["none", "none", "bom", "cut", "byte", "garbage"]))
    if mutation == "bom":
        content = b"\xef\xbb\xbf" + content
    elif mutation == "cut" and content:
        content, clean = content[: draw(st.integers(0, len(content) - 1))], None
    elif mutation == "byte":
        at = draw(st.integers(0, len(content)))
        content = content[:at] + draw(st.sampled_from([b"\xff", b",", b"]", b"}", b'"', b"\\"])) + content[at:]
        clean = None
    elif mutation == "garbage":
        content, clean = content + draw(st.sampled_from([b"x", b" {}", b"[1]", b"\xef\xbb\xbf"])), None
    name = "f.json"
    if draw(st.booleans()):
        content, name = gzip.compress(content, mtime=0), name + ".gz"
    return RawFile(source, name, content, clean=clean)


_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(delimited_files(), _BLOCKS)
def test_generated_delimited_files_are_read_alike(raw: RawFile, block: int) -> None:
    check_read_alike(raw, ReadLimits(block_bytes=block))


@_SETTINGS
@given(json_lines_files(), _BLOCKS)
def test_generated_json_lines_are_read_alike(raw: RawFile, block: int) -> None:
    check_read_alike(raw, ReadLimits(block_bytes=block))


@_SETTINGS
@given(json_documents(), _BLOCKS)
def test_generated_json_documents_are_read_alike(raw: RawFile, block: int) -> None:
    check_read_alike(raw, ReadLimits(block_bytes=block))


@_SETTINGS
@given(
    st.one_of(delimited_files(), json_lines_files(), json_documents()),
    st.builds(ReadLimits, max_record_bytes=st.integers(0, 300), max_depth=st.integers(0, 4), block_bytes=_BLOCKS),
)
def test_records_over_small_limits_are_skipped_alike(raw: RawFile, limits: ReadLimits) -> None:
    check_read_alike(RawFile(raw.source, raw.name, raw.content, raw.encoding), limits, round_trip=False)


# -- odd JSON text: the splitter against the standard library's parser -----------------

_NUMBERS = [
    "0",
    "-0",
    "1.5",
    "1e5",
    "1E+2",
    "2.5e-3",
    "1e309",
    "9223372036854775808",
    "123456789012345678901234",
    "01",
    "1.",
    ".5",
    "-",
    "+1",
    "NaN",
    "Infinity",
    "-Infinity",
]
_STRINGS = [
    '"\\ud800"',
    '"\\ud83d\\ude00"',
    '"a\\u0000b"',
    '"\\/"',
    '"\\\\"',
    '"\\\\\\""',
    '"tab\tin"',
    '"\\x"',
    '"\u2028"',
    '"caf\u00e9"',
    '"[{]}"',
    '"unterminated',
]
_SPACE = st.sampled_from(["", "", " ", "\n", "\t", "\r\n", "\x0b", "\u00a0"])
_KEY = st.sampled_from(["id", "attendees", "data", "a", "x" * 40, "[", "\\u0061ttendees"])


@st.composite
def _odd_container(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    ws = draw(_SPACE)
    if draw(st.booleans()):
        return "[" + ws + ("," + ws).join(draw(st.lists(children, max_size=4))) + ws + "]"
    members = draw(st.lists(st.tuples(_KEY, children), max_size=4))
    return "{" + ws + ",".join(f'"{k}"{ws}:{ws}{v}' for k, v in members) + ws + "}"


_ODD_VALUES = st.recursive(
    st.sampled_from(_NUMBERS + _STRINGS + ["true", "false", "null", "tru"]) | _TEXT.map(json.dumps),
    _odd_container,
    max_leaves=12,
)


@st.composite
def odd_documents(draw: st.DrawFn) -> RawFile:
    source = draw(st.sampled_from(sorted(PAGED)))
    page_key = PAGED[source]
    if page_key and draw(st.booleans()):
        items = draw(st.lists(_ODD_VALUES, max_size=5))
        others = draw(st.lists(st.tuples(_KEY, _ODD_VALUES), max_size=2))
        members = draw(st.permutations([(page_key, "[" + ",".join(items) + "]"), *others]))
        text = "{" + ",".join(f'"{k}":{v}' for k, v in members) + "}"
    else:
        text = draw(_ODD_VALUES)
    return RawFile(source, "f.json", (draw(_SPACE) + text + draw(_SPACE)).encode("utf-8", "surrogatepass"))


def _strict(text: str) -> Any:
    def no_constant(name: str) -> Any:
        raise ValueError(name)

    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise KeyError("repeated key")
        return dict(pairs)

    return json.loads(text, parse_constant=no_constant, object_pairs_hook=no_repeats)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_documents(), _BLOCKS)
# a lone surrogate (valid JSON, not UTF-8) in a record the rewrite replaces
@example(RawFile("eventbrite", "f.json", b'{"attendees":[{"x":"a"},{"x":"b"},{"x":"c","id":"\\ud800"}]}'), 16)
def test_odd_json_documents_read_as_the_standard_parser_reads_them(raw: RawFile, block: int) -> None:
    check_read_alike(raw, ReadLimits(block_bytes=block))
    items = ingest_reads(raw, ReadLimits(block_bytes=block))
    records = [(r.position, r.data) for r in items if isinstance(r, RawRecord)]
    try:
        document = _strict(raw.content.decode("utf-8"))
    except KeyError:  # repeated keys: the parsers may keep either value
        return
    except ValueError:  # not JSON: a problem is reported
        assert any(isinstance(p, FileProblem) for p in items)
        return
    page_key = PAGED[raw.source]
    if isinstance(document, dict) and page_key in document and isinstance(document[page_key], list):
        document = document[page_key]
    if isinstance(document, list):
        expected = [(n, item) for n, item in enumerate(document, 1) if isinstance(item, dict)]
    else:
        expected = [(1, document)] if isinstance(document, dict) else []
    assert records == expected


def test_a_row_that_runs_into_a_skipped_line_is_skipped_with_it() -> None:
    # GIVEN a quoted field over two lines whose second line is over the record limit
    # (found by the property test above)
    content = b'E-Mail;Name;Id;Note\n\n;;;\n;"\n00000";;000000000000\n\n;;";0";\n'
    raw = RawFile("ticketshop", "f.csv", content)
    limits = ReadLimits(max_record_bytes=19, max_depth=0, block_bytes=65536)
    # THEN the half-read row is a file problem, not a record lacking the skipped bytes
    items = ingest_reads(raw, limits)
    assert [item.data for item in items if isinstance(item, RawRecord)] == [
        {"E-Mail": "", "Name": "", "Id": ";0", "Note": ""}
    ]
    assert {item.code for item in items if isinstance(item, FileProblem)} == {"malformed_csv", "record_too_large"}
    check_read_alike(raw, limits)

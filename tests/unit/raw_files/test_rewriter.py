"""Rewriting a raw file record by record: untouched bytes stay, changed records take their
own format, and the check after a rewrite counts what the reader reads."""

from __future__ import annotations

import gzip

import pytest

from chalicelib.raw_files.formats import FileFormat, format_for_extension
from chalicelib.raw_files.rewriter import (
    DROP,
    KEEP,
    CannotRewrite,
    count_records,
    rewrite_mismatch,
    rewrite_records,
    visit_records,
)

JSONL = FileFormat("jsonl", ("jsonl",))
CSV = FileFormat("delimited", ("csv",), delimiter=",")
PAGE = FileFormat("json", ("json",), page_keys=("attendees",))


def test_an_unchanged_file_comes_back_as_the_very_same_bytes() -> None:
    content = b'{"a": 1}\nnot json\n\n{"b": 2}'
    result = rewrite_records(content, "x.jsonl", JSONL, lambda record: KEEP)
    assert result.content is content and (result.records, result.unparsed) == (2, 1)


def test_a_replaced_record_is_written_in_its_own_format() -> None:
    content = b"email,name\nperson0@example.com,Zero\nperson1@example.com,One\n"
    result = rewrite_records(content, "x.csv", CSV, lambda r: {**r, "name": None} if r["name"] == "One" else DROP)
    assert result.content == b"email,name\nperson1@example.com,\n"


def test_a_replaced_json_line_keeps_its_line_end() -> None:
    content = b'{"a": 1}\r\n{"a": 2}\r\n'
    result = rewrite_records(content, "x.jsonl", JSONL, lambda r: {"a": 3} if r["a"] == 1 else KEEP)
    assert result.content == b'{"a": 3}\r\n{"a": 2}\r\n'


def test_a_replaced_utf16_row_is_written_in_utf16() -> None:
    content = "a\tb\r\n1\t2\r\n3\t4\r\n".encode("utf-16")
    tsv = FileFormat("delimited", ("tsv",), delimiter=None)
    result = rewrite_records(content, "x.tsv", tsv, lambda r: {"a": "9", "b": "ü"} if r["a"] == "1" else KEEP)
    assert result.content.decode("utf-16") == "a\tb\r\n9\tü\r\n3\t4\r\n"


def test_page_items_go_with_their_separators_and_the_rest_of_the_page_stays() -> None:
    content = b'{"attendees": [{"id": 1} ,\n {"id": 2}, 7, {"id": 3}], "pagination": {}}'
    result = rewrite_records(content, "x.json", PAGE, lambda r: DROP if r["id"] != 2 else KEEP)
    assert result.content == b'{"attendees": [{"id": 2}, 7], "pagination": {}}'
    assert (result.records, result.dropped, result.unparsed) == (3, 2, 1)


def test_the_records_visited_have_the_readers_positions_and_their_byte_spans() -> None:
    content = b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\n'
    visited = list(visit_records(content, "x.jsonl", JSONL))
    assert [(v.position, v.span, v.data) for v in visited] == [(1, (3, 12), {"a": 1}), (3, (13, 22), {"a": 2})]


def test_gzip_is_recompressed_and_a_broken_gzip_is_not_rewritten() -> None:
    content = gzip.compress(b'{"a": 1}\n{"a": 2}\n')
    result = rewrite_records(content, "x.jsonl.gz", JSONL, lambda r: DROP if r["a"] == 1 else KEEP)
    assert gzip.decompress(result.content) == b'{"a": 2}\n'
    large = gzip.compress(b"".join(b'{"a": %d}\n' % n for n in range(20_000)))
    cut = large[: len(large) // 2]
    assert count_records(cut, "x.jsonl.gz", JSONL, lambda r: True)[0] > 0  # the records before the cut
    assert rewrite_records(cut, "x.jsonl.gz", JSONL, lambda r: KEEP).content is cut
    with pytest.raises(CannotRewrite):
        rewrite_records(cut, "x.jsonl.gz", JSONL, lambda r: DROP)


def test_a_rewrite_is_checked_against_what_the_reader_reads() -> None:
    content = b'{"a": 1}\n{"a": 2}\n'
    dropped = rewrite_records(content, "x.jsonl", JSONL, lambda r: DROP if r["a"] == 1 else KEEP)
    assert rewrite_mismatch(dropped, dropped.content, "x.jsonl", JSONL, lambda r: r["a"] == 1) is None
    assert rewrite_mismatch(dropped, content, "x.jsonl", JSONL, lambda r: r["a"] == 1) is not None
    assert count_records(content, "x.jsonl", JSONL, lambda r: r["a"] == 2) == (2, 1)


def test_a_key_of_no_known_source_is_read_as_its_extension_says() -> None:
    assert format_for_extension("incoming/x/a.ndjson") == JSONL.__class__("jsonl", ("jsonl", "ndjson"))
    assert format_for_extension("incoming/x/a.TSV.gz").kind == "delimited"  # type: ignore[union-attr]
    assert format_for_extension("incoming/x/a.xlsx") is None

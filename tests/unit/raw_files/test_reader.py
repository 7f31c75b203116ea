"""Reading raw files: file-level problems are reported per file, and the valid records kept."""

from __future__ import annotations

import gzip
import io
import json

from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import FileProblem, RawRecord, ReadLimits
from tests.unit.normalize.conftest import run

LEAD = {
    "platform": "p",
    "record_id": "1",
    "contact": {"email": "a@example.com"},
    "interaction": {"type": "registration", "occurred_at": "2026-01-01T00:00:00Z"},
}


def jsonl(*records: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def with_id(n: int) -> dict:
    return {**LEAD, "record_id": str(n)}


def test_an_empty_file_is_reported() -> None:
    assert run("canonical", b"", "x.jsonl").problem_codes == ["empty_file"]
    assert run("eventbrite", b"", "x.json").problem_codes == ["empty_file"]
    assert run("ticketshop", b"", "x.csv").problem_codes == ["empty_file"]


def test_a_csv_with_only_its_header_is_an_empty_file() -> None:
    assert run("ticketshop", b"Ticketnummer;E-Mail\r\n", "x.csv").problem_codes == ["empty_file"]


def test_a_utf8_bom_is_reported_and_the_records_kept() -> None:
    result = run("canonical", b"\xef\xbb\xbf" + jsonl(LEAD), "x.jsonl")
    assert result.problem_codes == ["bom"] and len(result.valid) == 1
    shop = run(
        "ticketshop",
        "\ufeffTicketnummer;Status;E-Mail;Bestelldatum\nT1;bezahlt;a@example.com;01.02.2026 10:00\n".encode(),
        "x.csv",
    )
    assert shop.problem_codes == ["bom"] and len(shop.valid) == 1


def test_a_line_that_is_not_utf8_is_skipped_and_the_others_kept() -> None:
    content = jsonl(with_id(1)) + b'{"record_id": "\xff\xfe"}\n' + jsonl(with_id(3))
    result = run("canonical", content, "x.jsonl")
    assert result.problem_codes == ["not_utf8"] and result.problems[0].position == 2
    assert [r.lineage.source_record_id for r in result.valid] == ["p:1", "p:3"]


def test_a_json_page_that_is_not_utf8_keeps_records_of_the_blocks_before_the_bad_bytes() -> None:
    good = b",".join(b'{"id": "%d"}' % n for n in range(10_000))
    content = b'{"attendees": [' + good + b', {"id": "\xc3\x28"}]}'
    result = run("eventbrite", content, "x.json")
    assert result.problem_codes == ["not_utf8"]
    assert 0 < len(result.records) < 10_000  # validated per 64 KiB block, ahead of the parser


def test_a_truncated_jsonl_file_keeps_its_complete_lines() -> None:
    content = jsonl(with_id(1), with_id(2)) + b'{"platform": "p", "record_id": "3", "contact": {"em'
    result = run("canonical", content, "x.jsonl")
    assert result.problem_codes == ["truncated_json"] and len(result.valid) == 2


def test_a_truncated_json_page_keeps_the_records_before_the_cut() -> None:
    content = b'{"pagination": {}, "attendees": [{"id": "1", "profile": {}}, {"id": "2", "prof'
    result = run("eventbrite", content, "x.json")
    assert result.problem_codes == ["truncated_json"]
    assert [r.data["id"] for r in result.records] == ["1"]


def test_a_json_syntax_error_is_invalid_json() -> None:
    assert run("google_ads", b'{"lead_id": "1",, }', "x.json").problem_codes == ["invalid_json"]


def test_a_record_over_the_size_limit_is_skipped() -> None:
    limits = ReadLimits(max_record_bytes=2_000)
    big = {**LEAD, "record_id": "2", "contact": {"email": "b@example.com", "first_name": "x" * 5_000}}
    result = run("canonical", jsonl(with_id(1), big, with_id(3)), "x.jsonl", limits)
    assert result.problem_codes == ["record_too_large"] and result.problems[0].position == 2
    assert len(result.valid) == 2
    page = json.dumps(
        {"data": [{"id": "1"}, {"id": "2", "field_data": [{"name": "x", "values": ["y" * 5_000]}]}, {"id": "3"}]}
    ).encode()
    paged = run("facebook_leads", page, "x.json", limits)
    assert paged.problem_codes == ["record_too_large"] and [r.data["id"] for r in paged.records] == ["1", "3"]


def test_absurd_nesting_is_skipped_without_a_recursion_error() -> None:
    deep = b'{"record_id": "2", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n"
    result = run(
        "canonical", jsonl(with_id(1)) + deep + jsonl(with_id(3)), "x.jsonl", ReadLimits(max_record_bytes=200_000)
    )
    assert result.problem_codes == ["nesting_too_deep"] and len(result.valid) == 2
    page = b'{"attendees": [{"id": "1"}, {"id": "2", "x": ' + b"[" * 100 + b"]" * 100 + b'}, {"id": "3"}]}'
    paged = run("eventbrite", page, "x.json")
    assert paged.problem_codes == ["nesting_too_deep"] and [r.data["id"] for r in paged.records] == ["1", "3"]


def test_a_row_with_the_wrong_column_count_is_skipped() -> None:
    content = (
        b"Ticketnummer;Status;E-Mail;Bestelldatum\n"
        b"T1;bezahlt;a@example.com;01.02.2026 10:00\n"
        b"T2;bezahlt;b@example.com\n"
        b"T3;bezahlt;c@example.com;01.02.2026 10:00\n"
    )
    result = run("ticketshop", content, "x.csv")
    assert result.problem_codes == ["wrong_column_count"] and result.problems[0].position == 3
    assert [r.lineage.source_record_id for r in result.valid] == ["T1", "T3"]


def test_quoted_fields_across_lines_keep_their_starting_line_as_position() -> None:
    content = (
        "Ticketnummer;Status;E-Mail;Bestelldatum;Spielstätte\n"
        'T1;bezahlt;a@example.com;01.02.2026 10:00;"Halle\nNord"\n'
        "T2;bezahlt;b@example.com;01.02.2026 10:00;Halle Süd\n"
    ).encode()
    assert [r.position for r in run("ticketshop", content, "x.csv").records] == [2, 4]


def test_gzip_files_are_read_and_a_cut_gzip_stream_is_reported() -> None:
    content = gzip.compress(jsonl(*[with_id(n) for n in range(5_000)]), mtime=0)
    assert len(run("canonical", content, "x.jsonl.gz").records) == 5_000
    cut = run("canonical", content[: len(content) // 2], "x.jsonl.gz")
    assert cut.problem_codes[-1] == "truncated_file" and 0 < len(cut.records) < 5_000


def test_a_gz_key_over_plain_content_is_reported() -> None:
    assert run("canonical", jsonl(LEAD), "x.jsonl.gz").problem_codes == ["not_gzip"]


def test_a_file_of_another_format_for_its_source_is_reported() -> None:
    assert run("eventbrite", b"a,b\n1,2\n", "x.csv").problem_codes == ["unsupported_format"]


def test_json_lines_that_are_not_objects_are_reported() -> None:
    result = run("canonical", b"[1, 2]\n" + jsonl(LEAD), "x.jsonl")
    assert result.problem_codes == ["not_an_object"] and len(result.valid) == 1


def test_a_top_level_array_of_records_is_read() -> None:
    result = run("facebook_leads", json.dumps([{"id": "1"}, {"id": "2"}]).encode(), "x.json")
    assert [r.source_record_id for r in result.records] == ["1", "2"]


class _Stream(io.RawIOBase):
    """A large generated stream that fails any unbounded read."""

    def __init__(self, header: bytes, line: bytes, count: int, footer: bytes = b"") -> None:
        self._parts = iter([header] + [line] * count + [footer])
        self._pending = b""
        self.largest_request = 0

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "read() without a size would load the whole file"
        self.largest_request = max(self.largest_request, size)
        while len(self._pending) < size:
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk


def test_reading_is_streaming_in_bounded_reads() -> None:
    # GIVEN a 20,000-record page that is never held whole
    record = json.dumps({"id": "7", "profile": {"email": "a@example.com"}}).encode()
    stream = _Stream(b'{"attendees": [', record + b",", 19_999, record + b"]}")
    # WHEN it is read
    items = read_file(stream, "incoming/eventbrite/2026/11/28/x.json", connector_for("eventbrite").file_format)
    count = sum(1 for item in items if isinstance(item, RawRecord))
    # THEN every record comes out and no read asked for more than one block
    assert count == 20_000 and stream.largest_request <= 64 * 1024


def test_problems_are_data_not_exceptions() -> None:
    items = list(
        read_file(
            io.BytesIO(b"\x00\x01garbage"),
            "incoming/canonical/2026/11/28/x.jsonl",
            connector_for("canonical").file_format,
        )
    )
    assert all(isinstance(i, FileProblem) for i in items) and items


def test_a_json_file_of_json_lines_is_read_line_by_line() -> None:
    result = run("google_ads", b'{"lead_id": "1"}\n{"lead_id": "2"}\n', "x.json")
    assert [(r.position, r.data["lead_id"]) for r in result.records] == [(1, "1"), (2, "2")]
    page = run("eventbrite", b'{"attendees": [{"id": "1"}]}\n{"attendees": [{"id": "2"}]}\n', "x.json")
    assert [r.data for r in page.records] == [{"id": "1"}] and page.problem_codes == ["invalid_json"]


def test_nan_is_not_json() -> None:
    assert run("eventbrite", b'{"attendees": [{"id": "1"}, {"id": NaN}]}', "x.json").problem_codes == ["invalid_json"]


def test_utf16_delimited_files_are_read_with_their_line_numbers() -> None:
    content = "id,email\r\nl:1,a@example.com\r\n\r\nl:2,b@example.com\r\n".encode("utf-16")
    result = run("facebook_leads_csv", content, "x.csv")
    assert result.problem_codes == ["bom"] and [r.position for r in result.records] == [2, 4]

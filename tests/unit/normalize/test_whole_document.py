"""A small JSON document parsed whole gives exactly what streaming it through ijson gives.

The reference is the streaming path itself: `ReadLimits(whole_document_bytes=-1)` makes the
reader stream every document. Outcomes are compared by `repr` (types, key order, positions,
problem codes and messages), exceptions by type.
"""
from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.normalize import whole_document
from chalicelib.normalize.reader import DEFAULT_LIMITS, RawRecord, ReadLimits, read_file

SOURCES = {"eventbrite": "attendees", "facebook_leads": "data", "google_ads": None}


def outcome(source: str, content: bytes, limits: ReadLimits, key: str = "x.json") -> str:
    try:
        items = list(read_file(source, io.BytesIO(content), f"incoming/{source}/2026/11/28/{key}", limits))
    except Exception as exc:  # noqa: BLE001 - the streaming path's exceptions must match too
        return f"raised {type(exc).__name__}"
    return repr(items)


def assert_same(source: str, content: bytes, limits: ReadLimits = DEFAULT_LIMITS, key: str = "x.json") -> str:
    streamed = outcome(source, content, replace(limits, whole_document_bytes=-1), key)
    whole = outcome(source, content, limits, key)
    assert whole == streamed
    return whole


# -- generated documents, written as text so that keys can repeat -----------------------

_NUMBERS = ["0", "-0", "1", "-1", "0.0", "-0.0", "1.5", "1e5", "1E+2", "2.5e-3", "1e308", "1e309", "-1e400",
            "1.5e-400", "9223372036854775806", "9223372036854775807", "-9223372036854775807",
            "-9223372036854775808", "18446744073709551616", "0.30000000000000004", "123456789012345678901234",
            "01", "1.", ".5", "-", "+1", "NaN", "Infinity", "-Infinity", "1e0000005"]
_STRINGS = ['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"a\\u0000b"', '"\\/"', '"\\\\ud800"', '"tab\tin"',
            '"\\x"', '"\u2028"', '"caf\u00e9"', '"\\u00e9"', '"unterminated']
_WHITESPACE = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\u00a0"])
_KEYS = st.sampled_from(["id", "attendees", "data", "profile", "email", "a", "b", "x" * 40])


def _scalars() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_NUMBERS + _STRINGS + ["true", "false", "null", "tru"]),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr).filter(lambda f: "e" in f or "." in f),
        st.text(max_size=30).map(lambda t: json.dumps(t)),
        st.text(max_size=30).map(lambda t: json.dumps(t, ensure_ascii=False)),
    )


@st.composite
def _container(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    ws = draw(_WHITESPACE)
    if draw(st.booleans()):
        return "[" + ws + ("," + ws).join(draw(st.lists(children, max_size=5))) + ws + "]"
    members = draw(st.lists(st.tuples(_KEYS, children), max_size=5))
    return "{" + ws + ",".join(f'{json.dumps(k)}{ws}:{ws}{v}' for k, v in members) + ws + "}"


_VALUES = st.recursive(_scalars(), _container, max_leaves=25)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bytes]:
    source = draw(st.sampled_from(sorted(SOURCES)))
    page_key = SOURCES[source]
    shape = draw(st.sampled_from(["page", "array", "any", "deep"]))
    if shape == "page" and page_key:
        items = draw(st.lists(_VALUES, max_size=6))
        extra = draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=3))
        members = [(page_key, "[" + ",".join(items) + "]")] + extra
        members = draw(st.permutations(members))
        text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members) + "}"
    elif shape == "array":
        text = "[" + ",".join(draw(st.lists(_VALUES, max_size=6))) + "]"
    elif shape == "deep":
        depth = draw(st.integers(min_value=1, max_value=40))
        inner = draw(_VALUES)
        opening = "".join(draw(st.sampled_from(['{"a":', "["])) for _ in range(depth))
        closing = "".join("}" if o == "{" else "]" for o in reversed(opening.replace('"a":', "")))
        wrapped = opening + inner + closing
        text = f'{{"{page_key}": [{wrapped}]}}' if page_key and draw(st.booleans()) else wrapped
    else:
        text = draw(_VALUES)
    text = draw(_WHITESPACE) + text + draw(_WHITESPACE)
    content = text.encode("utf-8", "surrogatepass")
    mutation = draw(st.sampled_from(["none", "none", "cut", "byte", "bom", "garbage"]))
    if mutation == "cut" and content:
        content = content[:draw(st.integers(min_value=0, max_value=len(content) - 1))]
    elif mutation == "byte":
        at = draw(st.integers(min_value=0, max_value=len(content)))
        content = content[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b",", b"]", b"}", b"\x00", b'"'])) + content[at:]
    elif mutation == "bom":
        content = b"\xef\xbb\xbf" + content
    elif mutation == "garbage":
        content += draw(st.sampled_from([b"x", b" {}", b"[1]", b"\n\n", b"\xef\xbb\xbf"]))
    return source, content


_LIMITS = st.one_of(
    st.just(DEFAULT_LIMITS),
    st.builds(ReadLimits, max_record_bytes=st.integers(min_value=0, max_value=400),
              max_depth=st.integers(min_value=0, max_value=6)),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), _LIMITS)
@example(("google_ads", b'{"id": "1", "id": {"a": [[[[[[[[]]]]]]]]}, "id": 2}'), ReadLimits(max_depth=3))
@example(("eventbrite", b'{"attendees": [{"id": "1"}], "attendees": [{"id": "2"}]}'), DEFAULT_LIMITS)
@example(("eventbrite", b'{"attendees": [{"id": "1"}], "attendees": "x"}'), DEFAULT_LIMITS)
@example(("eventbrite", b'{"attendees": [1, "x", [], {"id": 3}]}'), ReadLimits(max_record_bytes=8))
@example(("eventbrite", b'{"\\u0061ttendees": [{"id": "1"}], "x": 1}'), DEFAULT_LIMITS)
@example(("eventbrite", b'{"id": "attendees", "x": [{"id": "2"}]}'), DEFAULT_LIMITS)
def test_a_whole_document_reads_as_its_stream(document: tuple[str, bytes], limits: ReadLimits) -> None:
    assert_same(*document, limits)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({"id": st.text(max_size=8), "n": st.integers(), "f": st.floats(allow_nan=False),
                                       "t": st.lists(st.text(max_size=40), max_size=4)}), max_size=30),
       st.integers(min_value=0, max_value=3000))
def test_record_sizes_near_the_limit_are_judged_as_the_stream_judges_them(records: list[Any], limit: int) -> None:
    content = json.dumps({"attendees": records}).encode()
    assert_same("eventbrite", content, ReadLimits(max_record_bytes=limit))
    single = json.dumps(records[0] if records else {}).encode()
    assert_same("google_ads", single, ReadLimits(max_record_bytes=limit // 4))


def test_the_sample_documents_are_read_whole_and_as_their_stream() -> None:
    page = json.dumps({"pagination": {"page_number": 1}, "attendees": [{"id": str(n), "profile": {"email": "a@b.de"}}
                                                                       for n in range(200)]}).encode()
    assert len(page) < DEFAULT_LIMITS.whole_document_bytes
    assert whole_document.parse(page.decode(), ("attendees",)) is not None
    assert assert_same("eventbrite", page).count("RawRecord(") == 200


def test_a_document_over_the_whole_document_size_is_streamed_on_from_the_prefetched_reads() -> None:
    good = b",".join(b'{"id": "%d"}' % n for n in range(30_000))
    content = b'{"attendees": [' + good + b"]}"
    assert len(content) > DEFAULT_LIMITS.whole_document_bytes
    assert assert_same("eventbrite", content).count("RawRecord(") == 30_000
    cut = assert_same("eventbrite", content[:-1])
    assert cut.count("RawRecord(") == 30_000 and "truncated_json" in cut[-200:]


def test_bad_utf8_anywhere_in_a_prefetched_document_keeps_the_same_records_as_the_stream() -> None:
    good = b",".join(b'{"id": "%d"}' % n for n in range(20_000))
    content = b'{"attendees": [' + good + b"]}"
    for at in (20, 70_000, 140_000, 200_000, 250_000, 270_000, len(content) - 3):
        bad = content[:at] + b"\xc3\x28" + content[at:]
        assert "not_utf8" in assert_same("eventbrite", bad)


def test_gzip_documents_read_whole_as_their_stream() -> None:
    page = json.dumps({"attendees": [{"id": str(n)} for n in range(5_000)]}).encode()
    packed = gzip.compress(page)
    assert assert_same("eventbrite", packed, key="x.json.gz").count("RawRecord(") == 5_000
    assert "truncated_file" in assert_same("eventbrite", packed[: len(packed) // 2], key="x.json.gz")
    assert "not_utf8" in assert_same("eventbrite", gzip.compress(page[:5000] + b"\xff" + page[5000:]), key="x.json.gz")


def test_the_small_documents_of_every_json_source_are_parsed_whole() -> None:
    # the whole-document path is taken (not declined) for ordinary records
    for text, keys in (('{"attendees": [{"id": "1", "costs": {"gross": {"value": 1250}}}]}', ("attendees",)),
                       ('{"data": [{"id": "l1", "field_data": [{"name": "email", "values": ["a@b.de"]}]}]}', ("data",)),
                       ('{"lead_id": "x", "form_id": 40000000001, "is_test": false}', ())):
        assert whole_document.parse(text, keys) is not None
    items = list(read_file("google_ads", io.BytesIO(b'{"lead_id": "x"}'), "incoming/google_ads/2026/11/28/x.json"))
    assert isinstance(items[0], RawRecord) and items[0].data == {"lead_id": "x"}

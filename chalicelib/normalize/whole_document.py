"""Parsing a small JSON document whole with the standard library's C parser.

`reader` streams JSON documents through ijson's event stream so that memory stays bounded
whatever the file size, but building each record from those events is a Python loop over
every token. A document that is small anyway (`ReadLimits.whole_document_bytes`) is read
whole and parsed here instead, where each record (and each top-level member of a single
object) is one call into `json`'s C scanner. The file-level checks are then applied by the
reader to the parsed values; the outcome is the streaming path's, differential-tested on
generated and edge-case documents (`tests/unit/normalize/test_whole_document.py`).

`parse` answers None whenever it cannot vouch for giving what ijson (yajl) would give, and the
reader then streams the same bytes: any syntax error or truncation (whose reporting depends on
where the parser stops), `NaN`/`Infinity` (json reads them, yajl rejects them), integers beyond
64 bits and floats that overflow (yajl rejects them), escaped surrogates (yajl turns a lone one
into `?` or fails) and nesting past the interpreter's recursion limit.

An object with a page key has its top-level members scanned one by one, so repeated keys are
seen as ijson sees them (a page key may hold an array twice); each record's span in the text
is kept so the reader can bound its size without walking it. An object without one (a
webhook: one record) is parsed in one call.
"""
from __future__ import annotations

import json
import json.decoder
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")
# Conservative: may match inside a string too (an escaped backslash followed by `ud800`),
# which only sends the document to the stream.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_YAJL_INT_MAX = 2**63 - 1  # yajl's integers are C long longs; it rejects what overflows one


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _int(digits: str) -> int:
    value = int(digits)
    if -_YAJL_INT_MAX < value < _YAJL_INT_MAX:  # one short of the limit: rather stream than guess
        return value
    raise ValueError("integer beyond yajl's range")


def _float(digits: str) -> float:
    value = float(digits)
    if value in (math.inf, -math.inf):  # yajl reports a floating point overflow
        raise ValueError("float overflow")
    return value


_scan_value = json.JSONDecoder(parse_constant=_no_constants, parse_int=_int, parse_float=_float).scan_once
_scan_string = json.decoder.scanstring

Item = tuple[Any, int, int]  # a value and its span [start, end) in the text


@dataclass(frozen=True)
class Member:
    """One top-level member of an object, in document order (repeated keys kept)."""

    key: str
    value: Any
    items: list[Item] | None  # the spans of a page array's items, when `key` is a page key


@dataclass(frozen=True)
class Document:
    kind: str  # "array", "object", "single" or "scalar"
    items: list[Item]  # kind "array"
    members: list[Member]  # kind "object"
    # kind "single": an object without any page key, parsed in one call; a repeated key kept
    # its last value only (as the stream's record does), the earlier ones are not seen
    single: dict[str, Any] | None = None


class _Unreadable(Exception):
    pass


def parse(text: str, page_keys: Collection[str]) -> Document | None:
    """The document's structure, or None when the streaming parser must read it."""
    if "\\u" in text and _ESCAPED_SURROGATE.search(text) is not None:
        return None
    try:
        return _document(text, page_keys)
    except (_Unreadable, StopIteration, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None


def _document(text: str, page_keys: Collection[str]) -> Document:
    idx = _WS.match(text).end()
    first = text[idx:idx + 1]
    if first == "[":
        items, idx = _array(text, idx + 1)
        document = Document("array", items, [])
    elif first == "{":
        whole = None
        if not any(f'"{key}"' in text for key in page_keys):  # a page key written plainly: a page
            whole, end = _scan_value(text, idx)
            if any(key in whole for key in page_keys):  # written with escapes after all
                whole = None
        if whole is not None:  # no page key anywhere, even repeated
            document, idx = Document("single", [], [], whole), end
        else:
            members, idx = _object(text, idx + 1, page_keys)
            document = Document("object", [], members)
    elif first:
        _, idx = _scan_value(text, idx)
        document = Document("scalar", [], [])
    else:
        raise _Unreadable()
    if _WS.match(text, idx).end() != len(text):
        raise _Unreadable()
    return document


def _array(text: str, idx: int) -> tuple[list[Item], int]:
    """Items of the array whose `[` ends before `idx`; returns them and the index after `]`."""
    items: list[Item] = []
    idx = _WS.match(text, idx).end()
    if text[idx:idx + 1] == "]":
        return items, idx + 1
    while True:
        value, end = _scan_value(text, idx)
        items.append((value, idx, end))
        idx = _WS.match(text, end).end()
        separator = text[idx:idx + 1]
        if separator == "]":
            return items, idx + 1
        if separator != ",":
            raise _Unreadable()
        idx = _WS.match(text, idx + 1).end()


def _object(text: str, idx: int, page_keys: Collection[str]) -> tuple[list[Member], int]:
    members: list[Member] = []
    idx = _WS.match(text, idx).end()
    if text[idx:idx + 1] == "}":
        return members, idx + 1
    while True:
        if text[idx:idx + 1] != '"':
            raise _Unreadable()
        key, idx = _scan_string(text, idx + 1, True)
        idx = _WS.match(text, idx).end()
        if text[idx:idx + 1] != ":":
            raise _Unreadable()
        idx = _WS.match(text, idx + 1).end()
        if key in page_keys and text[idx:idx + 1] == "[":
            items, idx = _array(text, idx + 1)
            members.append(Member(key, None, items))
        else:
            value, idx = _scan_value(text, idx)
            members.append(Member(key, value, None))
        idx = _WS.match(text, idx).end()
        separator = text[idx:idx + 1]
        if separator == "}":
            return members, idx + 1
        if separator != ",":
            raise _Unreadable()
        idx = _WS.match(text, idx + 1).end()

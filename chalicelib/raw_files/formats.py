"""How a raw file is laid out: the format a source declares, and what the key and the
first bytes tell (gzip, extension, BOM, delimiter, JSON Lines inside a `.json` file).

A connector declares its source's `FileFormat`; a key of no known source gets the
format its extension names (`format_for_extension`).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Literal

UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
SNIFFED_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class FileFormat:
    kind: Literal["jsonl", "json", "delimited"]
    extensions: tuple[str, ...]
    # delimited: the column separator; None = sniff from the header line (",", ";" or tab)
    delimiter: str | None = ","
    # json: top-level keys whose array holds the records (a list-attendees page, a Graph
    # API `data` page). A top-level object without such a key is one record; a top-level
    # array holds records.
    page_keys: tuple[str, ...] = ()


_BY_EXTENSION = (
    FileFormat("jsonl", ("jsonl", "ndjson")),
    FileFormat("json", ("json",)),
    FileFormat("delimited", ("csv", "tsv", "tab", "txt"), delimiter=None),
)


@dataclass(frozen=True)
class KeyLayout:
    extension: str  # lower case, without `.gz`; "" when the name has none
    compressed: bool  # the name ends in `.gz`


def key_layout(key: str) -> KeyLayout:
    name = key.rsplit("/", 1)[-1].lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    return KeyLayout(name.rsplit(".", 1)[-1] if "." in name else "", compressed)


def format_for_extension(key: str) -> FileFormat | None:
    """The format a key's extension names, for a file of no known source."""
    extension = key_layout(key).extension
    return next((fmt for fmt in _BY_EXTENSION if extension in fmt.extensions), None)


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of `,` `;` and tab in the header line; `,` when none occurs."""
    counts = {delimiter: header_line.count(delimiter) for delimiter in SNIFFED_DELIMITERS}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def holds_json_lines(head: bytes, page_keys: tuple[str, ...]) -> bool:
    """Whether a `.json` file whose first bytes are `head` is JSON Lines: its first line
    (within `head`) is a whole JSON object on its own, not a page, and more follows it.
    (One object, on a line or not, reads as the same one record either way.)"""
    first, newline, rest = head.removeprefix(UTF8_BOM).lstrip().partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        value = json.loads(first)
    except ValueError:  # not UTF-8 or not JSON
        return False
    return isinstance(value, dict) and not any(isinstance(value.get(key), list) for key in page_keys)

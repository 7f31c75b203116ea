"""What reading a raw file yields: records with their positions, and file problems.

Shared by the reader (ingest) and the rewriter (erasure, anonymization); the limits bound
what one record may hold, and so how much memory reading a file may take.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FileProblemCode(StrEnum):
    """A problem with a raw file as a whole or with one of its lines, found while reading."""

    EMPTY_FILE = "empty_file"
    BOM = "bom"
    NOT_UTF8 = "not_utf8"
    NOT_GZIP = "not_gzip"
    TRUNCATED_FILE = "truncated_file"
    TRUNCATED_JSON = "truncated_json"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    RECORD_TOO_LARGE = "record_too_large"
    NESTING_TOO_DEEP = "nesting_too_deep"
    WRONG_COLUMN_COUNT = "wrong_column_count"
    MALFORMED_CSV = "malformed_csv"
    MISSING_HEADER = "missing_header"
    UNSUPPORTED_FORMAT = "unsupported_format"


@dataclass(frozen=True)
class ReadLimits:
    max_record_bytes: int = 64 * 1024  # one record (a JSON line, a CSV row, a page item)
    max_depth: int = 32  # nesting of objects/arrays inside one record
    block_bytes: int = 64 * 1024  # read size from the underlying stream


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

"""Reading a raw platform file record by record, streaming, in constant memory (ingest).

`read_file` yields a `RawRecord` per record and a `FileProblem` per file-level or line
problem, and carries on past a bad line wherever the format allows it. Where records start
and end is the splitter's (`splitter`), which the rewriter uses too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from chalicelib.raw_files.formats import FileFormat
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem, RawRecord, ReadLimits
from chalicelib.raw_files.splitter import Facts, split

RecordId = Callable[[dict[str, Any]], "str | None"]


def read_file(
    stream: BinaryIO,
    key: str,
    fmt: FileFormat,
    limits: ReadLimits = DEFAULT_LIMITS,
    record_id: RecordId | None = None,
    facts: Facts | None = None,
) -> Iterator[RawRecord | FileProblem]:
    """Records and file problems of one raw object of the given format. Never raises on
    content; `record_id` (the source's own id of a record) may fail on an odd record.
    `facts`, when given, is filled in with what reading found (a delimited file's header)."""
    for piece in split(stream, key, fmt, limits, facts if facts is not None else Facts()):
        if piece.data is None:
            if piece.problem is not None:
                yield piece.problem
            continue
        yield RawRecord(position=piece.position or 0, source_record_id=_id_of(record_id, piece.data), data=piece.data)


def _id_of(record_id: RecordId | None, data: dict[str, Any]) -> str | None:
    if record_id is None:
        return None
    try:
        return record_id(data)
    except Exception:  # noqa: BLE001 - an odd record shape must not stop the file
        return None

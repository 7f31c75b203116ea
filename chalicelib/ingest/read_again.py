"""One document's record read again from its raw file and normalized as when it arrived.

For `POST /documents/{id}/retry` of a document SAP rejected: its dispatch message is gone,
and the raw file is the one place its data is kept whole. The file is streamed with the
same reader the split used (gzip too, constant memory) until the record whose document id
matches; it is normalized with the mapping version its file was split with. The lake is
not touched, and no other document of the file changes state.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from chalicelib.ingest.messages import FileOutcome
from chalicelib.normalize.normalizer import normalize, raw_document_id
from chalicelib.normalize.schema import NormalizedRecord, Rejected
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem, ReadLimits
from chalicelib.raw_files.splitter import Facts


def normalized_again(
    s3: Any,
    bucket: str,
    outcome: FileOutcome,
    document_id: str,
    subject_key: bytes,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> NormalizedRecord | Rejected | None:
    """The document's record as normalize makes it now from its raw file; None if not there."""
    if outcome.source is None:
        return None
    raw_object = s3.get_object(Bucket=bucket, Key=outcome.raw_key)
    ingested_at = raw_object["LastModified"].astimezone(UTC)  # as the split took it
    connector = connector_for(outcome.source)
    items = read_file(raw_object["Body"], outcome.raw_key, connector.file_format, limits, connector.record_id, Facts())
    for item in items:
        if isinstance(item, FileProblem):
            continue
        if raw_document_id(outcome.source, item, outcome.raw_key) == document_id:
            return normalize(outcome.source, item, outcome.raw_key, ingested_at, subject_key, outcome.mapping_version)
    return None

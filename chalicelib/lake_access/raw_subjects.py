"""Whose a raw record is: the connector's email, normalized and keyed, as ingest does it.

Raw and quarantine objects hold platform records, not the lake's columns; the subject of a
record is `subject_id(normalize(email))` where the connector of the object's source says
where the email is. The source is in the key (`incoming/{source}/...` in the raw bucket,
`quarantine/{source}/...` in quarantine), never guessed from the content. A record whose
email cannot be normalized has no subject id in the lake either, and an erasure request
for an email that does not normalize is refused at the API, so both sides agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.lake_access.exceptions import UnsupportedObjectFormat
from chalicelib.lake_access.rewrite_object import SubjectOf
from chalicelib.normalize.connectors.base import Connector
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.sources import connector_for
from chalicelib.normalize.subject_ids import normalized_email
from chalicelib.subjects.pseudonyms import subject_id

# the first folder of a key in these buckets' layouts names the source
_SOURCE_FOLDER = {"incoming": 1, "quarantine": 1}


def source_of_key(key: str) -> str:
    """`incoming/{source}/...` or `quarantine/{source}/...` -> source."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] not in _SOURCE_FOLDER:
        raise UnsupportedObjectFormat(f"{key}: not a raw or quarantine key naming a source")
    return parts[_SOURCE_FOLDER[parts[0]]]


def connector_subject_of(connector: Connector, key: bytes) -> SubjectOf:
    def subject_of(record: Mapping[str, Any]) -> str | None:
        try:
            email = connector.draft(dict(record)).email
        except Exception:  # noqa: BLE001 - an odd record has no subject, as at ingest
            return None
        normalized = normalized_email(email) if email not in (None, "") else None
        return subject_id(normalized, key) if normalized else None

    return subject_of


def subject_of_for(key: bytes) -> Callable[[str, str], SubjectOf]:
    """(bucket, object key) -> how to tell the subject of that object's records."""
    cache: dict[str, SubjectOf] = {}

    def for_object(bucket: str, object_key: str) -> SubjectOf:
        source = source_of_key(object_key)
        if source not in cache:
            try:
                cache[source] = connector_subject_of(connector_for(source), key)
            except UnknownSource as error:
                raise UnsupportedObjectFormat(f"{object_key}: no connector for its source") from error
        return cache[source]

    return for_object

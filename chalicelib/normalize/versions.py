"""Versions of one platform record: what tells two apart, and which one is current.

One platform record (source + the platform's record id) is one document whatever its
status. Each delivery of it is a version: its time is the platform's change time
(Eventbrite `changed`, Amazon `last-updated-date`, a mapping's `version_at`), else the
time it arrived; its id is a digest of what it says (everything but where it came from),
so the same version delivered twice, in two files or by two routes, is one version.

The current version is the greatest by (time, id): any arrival order of the same
versions has the same current one. Only the version's interaction goes to SAP, once per
(document, interaction type), so a re-sent attendee adds its check-in or refund and an
older version arriving late adds nothing SAP already has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from chalicelib.normalize.schema import InteractionType, NormalizedRecord

VERSION_ID_LENGTH = 16  # hex characters: 64 bits, per document (never compared across documents)


def version_at(record: NormalizedRecord) -> datetime:
    """When this version was made: the platform's change time, else its arrival."""
    return record.lineage.version_at or record.lineage.ingested_at


def version_id(record: NormalizedRecord) -> str:
    """A digest of what the version says, not where it came from (lineage left out)."""
    content = record.model_dump_json(exclude={"lineage": True, "schema_version": True})
    return hashlib.blake2b(content.encode(), digest_size=VERSION_ID_LENGTH // 2).hexdigest()


def version_order(record: NormalizedRecord) -> tuple[datetime, str]:
    return (version_at(record), version_id(record))


def current_versions(records: Iterable[NormalizedRecord]) -> dict[str, NormalizedRecord]:
    """document id -> its current version among `records`."""
    current: dict[str, NormalizedRecord] = {}
    for record in records:
        held = current.get(record.document_id)
        if held is None or version_order(record) > version_order(held):
            current[record.document_id] = record
    return current


def distinct_versions(records: Iterable[NormalizedRecord]) -> list[NormalizedRecord]:
    """`records` without repeats of a version (the same id twice in one file), in order."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for record in records:
        key = (record.document_id, version_id(record))
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def interaction_key(document_id: str, interaction: InteractionType) -> str:
    """What SAP receives once: one interaction type of one document."""
    return f"{document_id}:{interaction.value}"


def first_of_each_interaction(records: Iterable[NormalizedRecord]) -> list[NormalizedRecord]:
    """Per (document, interaction type), the earliest version: what arriving in order sends."""
    first: dict[str, NormalizedRecord] = {}
    for record in records:
        key = interaction_key(record.document_id, record.interaction.type)
        held = first.get(key)
        if held is None or version_order(record) < version_order(held):
            first[key] = record
    return list(first.values())

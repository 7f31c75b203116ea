"""Remove the subjects from where the lake scan cannot see: the State Keeper and quarantine.

The State Keeper holds no personal data but the pseudonymous subject id, which still
links documents to a person; `SubjectTraces` is the State Keeper's side of erasure
(implemented by `chalicelib/state_keeper`). Quarantined records never reach the lake,
so every quarantine object is read and rewritten without the subjects' records
(quarantine is small by nature; each object costs one GET, counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.lake_access.exceptions import UnsupportedObjectFormat
from chalicelib.lake_access.object_store import ObjectStore
from chalicelib.lake_access.rewrite_object import ObjectRewrite, SubjectOf, rewrite_without_subjects


class SubjectTraces(Protocol):
    """The State Keeper's records of subjects, by pseudonymous subject id."""

    def forget(self, subject_ids: Collection[str]) -> dict[str, int]:
        """Remove the subjects' links and personal traces; records changed per subject."""

    def count(self, subject_ids: Collection[str]) -> int:
        """Records that still carry any of the subjects (verification wants 0)."""


@dataclass
class InMemorySubjectTraces:
    """document id -> state record (with `subject_id`), as the State Keeper would hold it."""

    records: dict[str, dict[str, object]] = field(default_factory=dict)

    def forget(self, subject_ids: Collection[str]) -> dict[str, int]:
        forgotten: Counter[str] = Counter()
        for record in self.records.values():
            subject = record.get("subject_id")
            if subject in subject_ids:
                record["subject_id"] = None
                record["erased"] = True
                forgotten[str(subject)] += 1
        return dict(forgotten)

    def count(self, subject_ids: Collection[str]) -> int:
        return sum(1 for record in self.records.values() if record.get("subject_id") in subject_ids)


@dataclass
class QuarantineErasure:
    rewrites: list[ObjectRewrite] = field(default_factory=list)
    objects_read: int = 0
    unreadable: list[str] = field(default_factory=list)  # keys whose format we cannot read


def erase_from_quarantine(
    store: ObjectStore,
    bucket: str,
    subject_ids: Collection[str],
    subject_of_for: Callable[[str, str], SubjectOf],
    prefix: str = "",
) -> QuarantineErasure:
    """Rewrite every quarantine object that holds records of the subjects."""
    result = QuarantineErasure()
    for info in list(store.list(bucket, prefix)):
        result.objects_read += 1
        try:
            rewrite = rewrite_without_subjects(
                store, bucket, info.key, subject_ids, subject_of=subject_of_for(bucket, info.key), expect_hits=False
            )
        except UnsupportedObjectFormat:
            result.unreadable.append(info.key)
            continue
        if rewrite.rows_removed:
            result.rewrites.append(rewrite)
    return result

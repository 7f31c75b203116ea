"""The scheduled anonymization: everything past its retention date, lake and raw, once.

1. The latest due event date over all policies bounds the partitions to look at: only
   lake objects under `event_date=` partitions up to it are read (partition pruning by
   key; no object of a later partition is ever opened).
2. Each such lake object is anonymized in memory (`anonymize.anonymize_parquet`: the
   policy of each row's source/event, due by its event date). Rows that change name
   their documents and, through the lineage column `raw_key`, the raw files they came from.
3. Those raw files are rewritten first, only the records of the changed documents, with
   the personal values the connector picked out of them anonymized by the same rules;
   then the lake object. A run that stops in between leaves the lake object as it was, so
   the next run finds the same rows and finishes the raw side (each step is idempotent).
4. The changed documents are reported ANONYMIZED to the State Keeper.

A second run finds every value anonymized already (an anonymized value maps to itself),
writes nothing and reports nothing. With `marks` (`marks.py`) it does not even
read them: a partition every policy has made due is marked once done, and later runs read
only its objects written since, or all of it again when the policies change. `dry_run`
reads and counts, and writes nothing (no marks either).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.anonymization.anonymize import (
    LIST_FIELDS,
    FieldRule,
    Pseudonymize,
    RetentionPolicy,
    anonymize_object,
    anonymize_value,
    latest_due_event_date,
    policy_for,
)
from chalicelib.anonymization.marks import (
    AnonymizationMarks,
    PartitionMark,
    applicable,
    fingerprint,
    fully_due,
    partition_id,
)
from chalicelib.lake_access.exceptions import ObjectMissing, RewriteVerificationFailed, UnsupportedObjectFormat
from chalicelib.lake_access.object_store import ObjectStore, s3_uri
from chalicelib.lake_access.query_engine import partition_values
from chalicelib.lake_access.raw_subjects import source_of_key
from chalicelib.lake_access.rewrite_object import raw_format_for, read_parquet, replace_object
from chalicelib.normalize.connectors.base import Draft
from chalicelib.normalize.lake import LAKE_PREFIX
from chalicelib.normalize.normalizer import document_id
from chalicelib.normalize.sources import connector_for
from chalicelib.normalize.subject_ids import normalized_email
from chalicelib.raw_files.rewriter import KEEP, rewrite_records
from chalicelib.state_keeper.lifecycle import State, StateChange

COMPONENT = "gdpr-anonymization"
# S3 gives LastModified in whole seconds, and clocks differ a little
_CLOCK_MARGIN = timedelta(seconds=2)
# a policy field name -> the connector draft's fields holding that value in a raw record
DRAFT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "first_name": ("first_name", "full_name"),
    "last_name": ("last_name", "full_name"),
    "phone": ("phone",),
    "country": ("country",),
    "language": ("language",),
    "answers": ("answers",),
}
_NULL = FieldRule(action="null")


def _draft_texts(value: Any) -> list[str]:
    """The non-empty texts of a draft value: itself, or an answer list's values."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):  # answers: (key, label, values)
        return [
            text
            for answer in value
            if isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[2], list)
            for text in answer[2]
            if isinstance(text, str) and text.strip()
        ]
    return []


@dataclass
class AnonymizationReport:
    """Counts and keys only, never a value."""

    today: str
    dry_run: bool
    cutoff: str | None = None
    partitions_due: int = 0
    lake_objects_read: int = 0
    lake_objects_skipped: int = 0  # in partitions marked done, unchanged since
    lake_objects_changed: int = 0
    lake_rows_anonymized: int = 0
    raw_objects_changed: int = 0
    raw_objects_missing: int = 0  # a lineage naming a raw file that is gone
    raw_records_anonymized: int = 0
    documents_anonymized: int = 0
    changed_objects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def due_partitions(keys: Iterable[str], policies: list[RetentionPolicy], today: date) -> dict[str, list[str]]:
    """Lake keys grouped by partition prefix, of the partitions some policy makes due."""
    due: dict[str, list[str]] = {}
    for key in keys:
        values = partition_values(key, LAKE_PREFIX)
        try:
            event_day = date.fromisoformat(values.get("event_date", ""))
        except ValueError:
            continue
        source = values.get("source")
        if any(p.source in (None, source) and event_day <= p.cutoff(today) for p in policies):
            due.setdefault(key.rsplit("/", 1)[0], []).append(key)
    return due


def raw_transform(
    draft_of: Callable[[dict[str, Any]], Draft | None],
    document_of: Callable[[dict[str, Any]], str | None],
    changes: Mapping[str, RetentionPolicy],
    pseudonymize: Pseudonymize,
) -> Callable[[dict[str, Any]], Any]:
    """Anonymize the records of the documents in `changes` (document id -> its policy).

    A raw record's personal values are wherever the connector picked them: each leaf
    equal to a value the draft holds for a policy field is anonymized by that field's rule.
    """

    def transform(record: dict[str, Any]) -> Any:
        document = document_of(record)
        policy = changes.get(document) if document else None
        if policy is None:
            return KEEP
        draft = draft_of(record)
        if draft is None:
            return KEEP
        replacements: dict[str, FieldRule] = {}
        for name, rule in policy.fields.items():
            for attribute in DRAFT_FIELDS.get(name, (name,)):
                for value in _draft_texts(getattr(draft, attribute, None)):
                    # answers are nulled in the lake whatever the rule: their raw values too
                    replacements.setdefault(value, _NULL if name in LIST_FIELDS else rule)
        if not replacements:
            return KEEP
        changed = _replace_leaves(record, replacements, pseudonymize)
        return changed if changed is not None else KEEP

    return transform


def _replace_leaves(
    record: dict[str, Any], replacements: Mapping[str, FieldRule], pseudonymize: Pseudonymize
) -> dict[str, Any] | None:
    new = copy.deepcopy(record)
    touched = False

    def anonymized(value: str, rule: FieldRule) -> Any:
        if rule.action == "pseudonymize" and "@" in value:
            value = normalized_email(value) or value  # the lake's pseudonym of the same email
        return anonymize_value(value, rule, pseudonymize)

    def visit(node: Any) -> Any:
        nonlocal touched
        if isinstance(node, dict):
            return {k: visit(v) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v) for v in node]
        if isinstance(node, str) and node in replacements:
            result = anonymized(node, replacements[node])
            if result != node:
                touched = True
            return result
        return node

    new = visit(new)
    return new if touched else None


def written_before(last_modified: str, listed_at: str) -> bool:
    """True when an object was last written before the listing, with S3's 1 s resolution to spare."""
    if not last_modified:
        return False
    return datetime.fromisoformat(last_modified) < datetime.fromisoformat(listed_at) - _CLOCK_MARGIN


class AnonymizationRun:
    def __init__(
        self,
        store: ObjectStore,
        lake_bucket: str,
        raw_bucket: str,
        policies: list[RetentionPolicy],
        pseudonymize: Pseudonymize,
        reporter: Callable[[], Any] | None = None,
        marks: AnonymizationMarks | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.lake_bucket = lake_bucket
        self.raw_bucket = raw_bucket
        self.policies = policies
        self.pseudonymize = pseudonymize
        self.reporter = reporter
        self.marks = marks
        self.clock = clock

    def run(self, today: date | None = None, dry_run: bool = False) -> AnonymizationReport:
        today = today or self.clock().date()
        report = AnonymizationReport(today=today.isoformat(), dry_run=dry_run)
        cutoff = latest_due_event_date(self.policies, today)
        if cutoff is None:
            return report
        report.cutoff = cutoff.isoformat()
        marks = self.marks.all() if self.marks is not None else {}
        listed_at = self.clock().isoformat()
        listed = [info for info in self.store.list(self.lake_bucket, LAKE_PREFIX) if info.key.endswith(".parquet")]
        modified = {info.key: info.last_modified for info in listed}
        partitions = due_partitions(modified, self.policies, today)
        report.partitions_due = len(partitions)
        documents: set[str] = set()
        for partition_keys in partitions.values():
            values = partition_values(partition_keys[0], LAKE_PREFIX)
            source, event_day = values["source"], date.fromisoformat(values["event_date"])
            policies = applicable(self.policies, source)
            mark = marks.get(partition_id(source, event_day))
            current = mark is not None and mark.fingerprint == fingerprint(policies)
            read = 0
            for key in partition_keys:
                if current and mark is not None and written_before(modified[key], mark.listed_at):
                    report.lake_objects_skipped += 1
                    continue
                documents |= self._lake_object(key, today, dry_run, report)
                read += 1
            if self.marks is not None and not dry_run and read and fully_due(policies, event_day, today):
                self.marks.put(partition_id(source, event_day), PartitionMark(fingerprint(policies), listed_at))
        report.documents_anonymized = len(documents)
        if documents and not dry_run and self.reporter is not None:
            now = self.clock()
            with self.reporter() as reporter:
                for document in sorted(documents):
                    reporter.report(
                        StateChange(document_id=document, state=State.ANONYMIZED, at=now, component=COMPONENT)
                    )
        return report

    def _lake_object(self, key: str, today: date, dry_run: bool, report: AnonymizationReport) -> set[str]:
        partition = partition_values(key, LAKE_PREFIX)
        report.lake_objects_read += 1
        preview = anonymize_object(
            self.store,
            self.lake_bucket,
            key,
            self.policies,
            today,
            self.pseudonymize,
            partition=partition,
            dry_run=True,
        )
        if not preview.rows_changed:
            return set()
        # the raw side first: until the lake object changes, a rerun finds these rows again
        changed_docs = set(preview.document_ids)
        original = self.store.get(self.lake_bucket, key)
        table, _ = read_parquet(original.body)
        raw_by_document = (
            dict(zip(table["document_id"].to_pylist(), table["raw_key"].to_pylist()))
            if "raw_key" in table.column_names
            else {}
        )
        events = dict(
            zip(
                table["document_id"].to_pylist(),
                table["event_id"].to_pylist() if "event_id" in table.column_names else [None] * table.num_rows,
            )
        )
        per_raw: dict[str, dict[str, RetentionPolicy]] = {}
        for document in changed_docs:
            raw_key = raw_by_document.get(document)
            policy = policy_for(self.policies, partition.get("source"), events.get(document))
            if raw_key and policy is not None:
                per_raw.setdefault(raw_key, {})[document] = policy
        for raw_key, changes in sorted(per_raw.items()):
            self._raw_object(raw_key, changes, dry_run, report)
        if not dry_run:
            done = anonymize_object(
                self.store, self.lake_bucket, key, self.policies, today, self.pseudonymize, partition=partition
            )
            report.lake_rows_anonymized += done.rows_changed
        else:
            report.lake_rows_anonymized += preview.rows_changed
        report.lake_objects_changed += 1
        report.changed_objects.append(s3_uri(self.lake_bucket, key))
        return changed_docs

    def _raw_object(
        self, raw_key: str, changes: dict[str, RetentionPolicy], dry_run: bool, report: AnonymizationReport
    ) -> None:
        bucket, key = self.raw_bucket, raw_key
        if raw_key.startswith("s3://"):
            bucket, key = raw_key[5:].split("/", 1)
        try:
            source = source_of_key(key)
            connector = connector_for(source)
        except Exception as error:
            raise UnsupportedObjectFormat(f"{s3_uri(bucket, key)}: cannot tell its source") from error

        def draft_of(record: dict[str, Any]) -> Draft | None:
            try:
                return connector.draft(record)
            except Exception:  # noqa: BLE001 - an odd record was not normalized either
                return None

        def document_of(record: dict[str, Any]) -> str | None:
            try:
                record_id = connector.record_id(record)
            except Exception:  # noqa: BLE001
                return None
            return document_id(source, record_id) if record_id else None

        try:
            original = self.store.get(bucket, key)
        except ObjectMissing:  # expired or erased since: nothing of it left to anonymize
            report.raw_objects_missing += 1
            return
        raw_format = raw_format_for(key)
        transform = raw_transform(draft_of, document_of, changes, self.pseudonymize)
        rewrite = rewrite_records(original.body, key, raw_format, transform)
        if not rewrite.replaced:
            return
        again = rewrite_records(rewrite.content, key, raw_format, transform)
        if again.changed or again.records != rewrite.records:
            raise RewriteVerificationFailed(f"{s3_uri(bucket, key)}: anonymized content does not check out")
        report.raw_records_anonymized += rewrite.replaced
        report.raw_objects_changed += 1
        report.changed_objects.append(s3_uri(bucket, key))
        if not dry_run:
            replace_object(self.store, bucket, key, original, rewrite.content)

"""Retention policies and anonymization: which personal fields change, when, and how.

A policy applies to a source, an event, both, or everything (most specific wins) and says
how many days after the event date each personal field is nulled, generalized (a birth
date to its year or month, a postal code to a prefix) or replaced with a keyed pseudonym.
Every action is idempotent: an anonymized value maps to itself, so a second run finds
nothing to change and writes nothing.

`answers` (the custom questions of lead forms and registrations, a list in the lake) is a
personal field like the contact's: a rule on it nulls the whole list, whether it says
`null` or `pseudonymize` (free-text answers have no useful pseudonym, and a pseudonym
would not fit the column's type); `generalize` is refused for it. In raw records the
values the connector picked as answers are replaced by the same rule as other leaves.

Rewrites follow the erasure's write-then-verify rules (`rewrite_object.replace_object`):
lake Parquet by column, raw files record by record with untouched records' bytes kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from chalicelib.lake_access.exceptions import RewriteVerificationFailed
from chalicelib.lake_access.object_store import ObjectStore, s3_uri
from chalicelib.lake_access.rewrite_object import (
    ObjectRewrite,
    is_parquet,
    raw_format_for,
    read_parquet,
    replace_object,
    write_parquet,
)
from chalicelib.raw_files.formats import FileFormat
from chalicelib.raw_files.rewriter import KEEP, rewrite_records

Pseudonymize = Callable[[str], str]
PSEUDONYM_PREFIX = "psn_"
_PSEUDONYM = re.compile(r"^psn_[0-9a-f]{32}$")
_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_YEAR_IN = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_ISO_MONTH_IN = re.compile(r"(\d{4})-(\d{2})")
# personal fields holding a list: a rule nulls them whole
LIST_FIELDS = frozenset({"answers"})


class FieldRule(BaseModel):
    action: Literal["null", "generalize", "pseudonymize"]
    to: Literal["year", "month", "prefix"] | None = None  # generalize: to what
    keep: int | None = Field(default=None, ge=1, le=32)  # generalize to prefix: characters kept

    @model_validator(mode="after")
    def _generalization_is_complete(self) -> FieldRule:
        if self.action == "generalize" and self.to is None:
            raise ValueError("generalize needs `to`: year, month or prefix")
        if self.to == "prefix" and self.keep is None:
            raise ValueError("generalize to prefix needs `keep` (characters kept)")
        return self


class RetentionPolicy(BaseModel):
    """When and how a source's/event's personal data is anonymized."""

    source: str | None = Field(default=None, min_length=1, max_length=64)
    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    days_after_event: int = Field(ge=0, le=3650)
    fields: dict[str, FieldRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _lists_are_not_generalized(self) -> RetentionPolicy:
        for name in LIST_FIELDS & set(self.fields):
            if self.fields[name].action == "generalize":
                raise ValueError(f"{name} can be nulled or pseudonymized (which nulls it), not generalized")
        return self

    @property
    def policy_id(self) -> str:
        return f"source={self.source or '*'}/event={self.event_id or '*'}"

    @property
    def specificity(self) -> int:
        return (2 if self.event_id else 0) + (1 if self.source else 0)

    def applies_to(self, source: str | None, event_id: str | None) -> bool:
        return (self.source in (None, source)) and (self.event_id in (None, event_id))

    def is_due(self, event_date: date, today: date) -> bool:
        return event_date + timedelta(days=self.days_after_event) <= today

    def cutoff(self, today: date) -> date:
        """The latest event date whose data is due today."""
        return today - timedelta(days=self.days_after_event)


def policy_for(policies: Iterable[RetentionPolicy], source: str | None, event_id: str | None) -> RetentionPolicy | None:
    matching = [p for p in policies if p.applies_to(source, event_id)]
    return max(matching, key=lambda p: p.specificity) if matching else None


def latest_due_event_date(policies: Iterable[RetentionPolicy], today: date) -> date | None:
    """Partitions with event dates up to this one can hold due rows (partition pruning)."""
    cutoffs = [p.cutoff(today) for p in policies]
    return max(cutoffs) if cutoffs else None


class KeyedPseudonymizer:
    """`psn_` + 32 hex of HMAC-SHA256(key, value); a pseudonym maps to itself."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, value: str) -> str:
        if is_pseudonym(value):
            return value
        return PSEUDONYM_PREFIX + hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:32]


def is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and bool(_PSEUDONYM.match(value))


def anonymize_value(value: Any, rule: FieldRule, pseudonymize: Pseudonymize) -> Any:
    """The anonymized value; an already anonymized value comes back unchanged."""
    if value is None or rule.action == "null" or isinstance(value, (list, dict)):
        return None  # a list (answers) is nulled whole, whatever the rule
    if rule.action == "pseudonymize":
        return value if is_pseudonym(value) else pseudonymize(str(value))
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.replace(month=1, day=1) if rule.to == "year" else value.replace(day=1)
    text = str(value)
    if rule.to == "prefix":
        return text[: rule.keep]
    if rule.to == "year":
        if _YEAR.match(text):
            return text
        found = _YEAR_IN.search(text)
        return found.group(1) if found else None  # no year to keep: nothing of it is kept
    if _MONTH.match(text):
        return text
    found = _ISO_MONTH_IN.search(text)
    return f"{found.group(1)}-{found.group(2)}" if found else None


def _get(record: Mapping[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _has(record: Mapping[str, Any], path: str) -> bool:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = record
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def anonymize_record(
    record: Mapping[str, Any],
    policy: RetentionPolicy,
    pseudonymize: Pseudonymize,
    field_map: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """A copy with the policy's fields anonymized, or None when nothing changes.

    `field_map` maps the policy's (normalized) field names to the record's own field
    paths (`profile.email`), for raw records; without it the names are the same.
    """
    import copy

    changed: dict[str, Any] | None = None
    for name, rule in policy.fields.items():
        path = (field_map or {}).get(name, name)
        if not _has(record, path):
            continue
        old = _get(record, path)
        new = anonymize_value(old, rule, pseudonymize)
        if new != old:
            if changed is None:
                changed = copy.deepcopy(dict(record))
            _set(changed, path, new)
    return changed


# -- lake objects -------------------------------------------------------------------------


def anonymize_parquet(
    content: bytes,
    policies: list[RetentionPolicy],
    today: date,
    pseudonymize: Pseudonymize,
    partition: Mapping[str, str] | None = None,
) -> tuple[bytes, int, int, list[str]]:
    """(content, rows, rows changed, document ids changed) of a lake Parquet object.

    A row's source and event date come from its columns, or from the key's partition
    values when the file does not hold them.
    """
    import pyarrow as pa

    table, options = read_parquet(content)
    rows = table.num_rows
    partition = partition or {}

    def column(name: str) -> list[Any]:
        if name in table.column_names:
            return table[name].to_pylist()
        return [partition.get(name)] * rows

    sources, event_ids, event_dates = column("source"), column("event_id"), column("event_date")
    due_rules: list[RetentionPolicy | None] = []
    for source, event_id, event_date in zip(sources, event_ids, event_dates):
        policy = policy_for(policies, source, event_id)
        when = _as_date(event_date)
        due_rules.append(policy if policy and when and policy.is_due(when, today) else None)
    changed_rows: set[int] = set()
    new_columns = {}
    for name in {field for policy in policies for field in policy.fields}:
        if name not in table.column_names:
            continue
        values = table[name].to_pylist()
        touched = False
        for index, policy in enumerate(due_rules):
            if policy is None or name not in policy.fields:
                continue
            new = anonymize_value(values[index], policy.fields[name], pseudonymize)
            if new != values[index]:
                values[index], touched = new, True
                changed_rows.add(index)
        if touched:
            new_columns[name] = pa.array(values, type=table.schema.field(name).type)
    if not changed_rows:
        return content, rows, 0, []
    for name, array in new_columns.items():
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), array)
    documents = column("document_id")
    changed_documents = sorted({str(documents[i]) for i in changed_rows if documents[i] is not None})
    return write_parquet(table, options), rows, len(changed_rows), changed_documents


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


EventOf = Callable[[Mapping[str, Any]], "tuple[str | None, date | None]"]


def anonymize_object(
    store: ObjectStore,
    bucket: str,
    key: str,
    policies: list[RetentionPolicy],
    today: date,
    pseudonymize: Pseudonymize,
    *,
    source: str | None = None,
    partition: Mapping[str, str] | None = None,
    field_map: Mapping[str, str] | None = None,
    event_of: EventOf | None = None,
    raw_format: FileFormat | None = None,
    dry_run: bool = False,
) -> ObjectRewrite:
    """Anonymize the due records of one object; writes nothing when nothing changes.

    Raw records need `event_of(record) -> (event_id, event_date)` (connector knowledge)
    and `field_map`; lake objects carry their own columns.
    """
    original = store.get(bucket, key)
    outcome = ObjectRewrite(bucket, key, bytes_before=len(original.body))
    if is_parquet(key, original.body):
        body, rows, changed, documents = anonymize_parquet(original.body, policies, today, pseudonymize, partition)
        outcome.rows_before, outcome.rows_changed, outcome.document_ids = rows, changed, documents
        if changed:
            again = anonymize_parquet(body, policies, today, pseudonymize, partition)
            if again[0] is not body or again[1] != rows:  # not idempotent or rows lost
                raise RewriteVerificationFailed(f"{s3_uri(bucket, key)}: anonymized content does not check out")
    else:
        if event_of is None:
            raise ValueError("anonymizing a raw object needs event_of")
        raw_format = raw_format or raw_format_for(key)

        def transform(record: dict[str, Any]) -> Any:
            event_id, event_date = event_of(record)
            policy = policy_for(policies, source, event_id)
            if policy is None or event_date is None or not policy.is_due(event_date, today):
                return KEEP
            return anonymize_record(record, policy, pseudonymize, field_map) or KEEP

        rewrite = rewrite_records(original.body, key, raw_format, transform)
        outcome.rows_before, outcome.rows_changed, outcome.unparsed = (
            rewrite.records,
            rewrite.replaced,
            rewrite.unparsed,
        )
        body = rewrite.content
        if rewrite.replaced:
            reread = rewrite_records(body, key, raw_format, transform)
            if reread.changed or reread.records != rewrite.records:
                raise RewriteVerificationFailed(f"{s3_uri(bucket, key)}: anonymized content does not check out")
    outcome.bytes_after = len(body)
    if outcome.rows_changed and not dry_run:
        outcome.old_version_deleted = replace_object(store, bucket, key, original, body)
        outcome.rewritten = True
    return outcome

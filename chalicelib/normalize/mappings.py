"""Sources declared as data: a mapping from a platform's columns or JSON paths to the
normalized fields, instead of a connector written in code.

A `Mapping` names, per normalized field (a `Draft` field), where its value is: a column
(with aliases, as shops rename their headers between versions), a JSON path (`a.b.0.c`),
or a constant; optionally a vocabulary from the platform's values to ours (consent "Ja" →
true, a status column → interaction types). The file's conventions come with it: format
and delimiter, date formats and time zone, decimal comma, the phone region, and how the
record id is composed (`["Bestellnummer", "Ticketnummer"]` → `B-7:T-1`). The record id names
the platform's record, never its status: a status column read into the interaction type
makes a later export of the same ticket a new version of one document (`version_at`).
`mapped_connector(mapping)` turns it into a `Connector` the normalizer runs like any other.

Mappings are validated when declared: an unknown target field, a date format without a
directive, an unknown time zone or a vocabulary value outside ours is an `InvalidMapping`
with the reason. Operators keep them in the configuration table, versioned
(`ingest/mapping_store.py`); the ones shipped with the engine are JSON files beside the
connectors.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.normalize.connectors.base import Connector, Draft, dig, scalar
from chalicelib.normalize.exceptions import InvalidMapping
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat

# the Draft fields a mapping may fill (the flag of a platform's test records is code's business)
TARGETS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Draft)) - {"is_test"}
_CONSENT_VALUES = {"true", "false"}
_SAMPLE_MOMENT = datetime(2031, 12, 24, 17, 45, 59)


class FieldRule(BaseModel):
    """Where one normalized field's value is in a record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str | None = Field(default=None, max_length=200)
    aliases: tuple[str, ...] = ()  # other names of the same column, tried in order
    path: str | None = Field(default=None, max_length=200)  # JSON: dotted keys and list indexes
    value: str | None = Field(default=None, max_length=500)  # a constant
    join: tuple[str, ...] = ()  # columns whose values are joined with a space (a date and a time)
    # the interaction types whose value is in other columns (a check-in's time is the change time)
    per_interaction: dict[InteractionType, tuple[str, ...]] = Field(default_factory=dict)
    # the platform's values (matched trimmed and case-insensitively) -> ours
    vocabulary: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_place(self) -> FieldRule:
        places = [self.column is not None, self.path is not None, self.value is not None, bool(self.join)]
        if sum(places) != 1:
            raise ValueError("a field rule names exactly one of column, path, value or join")
        if self.aliases and self.column is None:
            raise ValueError("aliases belong to a column")
        return self

    def columns(self, interaction: InteractionType | None) -> tuple[str, ...]:
        if interaction is not None and interaction in self.per_interaction:
            return self.per_interaction[interaction]
        return (self.column, *self.aliases) if self.column is not None else ()


class Mapping(BaseModel):
    """A source declared as data. `version` is given by the store when it is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    description: str = Field(default="", max_length=2000)
    version: int = Field(default=0, ge=0)
    format: Literal["delimited", "json", "jsonl"] = "delimited"
    extensions: tuple[str, ...] = ("csv",)
    delimiter: str | None = None  # delimited: None sniffs `,` `;` or tab from the header line
    page_keys: tuple[str, ...] = ()  # json: keys whose array holds the records
    datetime_formats: tuple[str, ...] = ()  # strptime formats tried before ISO 8601
    timezone: str = "UTC"  # of times written without an offset
    decimal_comma: bool = False
    default_phone_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    requires_email: bool = True
    record_id: tuple[str, ...] = Field(min_length=1)  # columns or paths, joined with `:`
    fields: dict[str, FieldRule]

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, rules: dict[str, FieldRule]) -> dict[str, FieldRule]:
        unknown = sorted(set(rules) - TARGETS)
        if unknown:
            raise ValueError(f"unknown target fields {unknown}; known: {sorted(TARGETS)}")
        for target, rule in rules.items():
            if target == "interaction_type":
                wrong = sorted(set(rule.vocabulary.values()) - {kind.value for kind in InteractionType})
                if wrong or (rule.value is not None and rule.value not in {kind.value for kind in InteractionType}):
                    raise ValueError(f"interaction types are {[k.value for k in InteractionType]}; not {wrong}")
            if target == "consent_granted" and set(rule.vocabulary.values()) - _CONSENT_VALUES:
                raise ValueError("consent_granted's vocabulary maps to true or false")
        return rules

    @field_validator("record_id")
    @classmethod
    def _names_the_record(cls, parts: tuple[str, ...]) -> tuple[str, ...]:
        if any("{" in part for part in parts):
            raise ValueError(
                "the record id names the platform's record, not its status: a status change is a new"
                " version of the same document (map the change time to version_at)"
            )
        return parts

    @field_validator("datetime_formats")
    @classmethod
    def _readable_formats(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in formats:
            if not re.search(r"%[A-Za-z]", fmt):
                raise ValueError(f"date format {fmt!r} has no strptime directive (e.g. %d.%m.%Y %H:%M)")
            try:
                datetime.strptime(_SAMPLE_MOMENT.strftime(fmt), fmt)
            except ValueError as error:
                raise ValueError(f"date format {fmt!r} cannot read what it writes: {error}") from None
        return formats

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        if zone not in zoneinfo.available_timezones() and zone != "UTC":
            raise ValueError(f"unknown time zone {zone!r} (an IANA name such as Europe/Berlin)")
        return zone

    @field_validator("extensions")
    @classmethod
    def _plain_extensions(cls, extensions: tuple[str, ...]) -> tuple[str, ...]:
        if not extensions or not all(re.fullmatch(r"[a-z0-9]{1,10}", ext) for ext in extensions):
            raise ValueError("extensions are lower-case letters and digits without the dot, e.g. csv")
        return extensions

    @model_validator(mode="after")
    def _places_fit_the_format(self) -> Mapping:
        for target, rule in self.fields.items():
            if self.format == "delimited" and rule.path is not None:
                raise ValueError(f"{target}: a delimited file has columns, not JSON paths")
            if self.format != "delimited" and (rule.column is not None or rule.join or rule.per_interaction):
                raise ValueError(f"{target}: a JSON record has paths, not columns")
        return self

    def required_columns(self) -> tuple[str, ...]:
        """The columns of the record id (what a file must have for its records to be found)."""
        return self.record_id


def parse_mapping(body: Any) -> Mapping:
    """A mapping from its JSON form; `InvalidMapping` names every problem."""
    try:
        return Mapping.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        )
        raise InvalidMapping(problems) from None


class MappedConnector(Connector):
    """A connector read from a `Mapping` (instances of `mapped_connector`'s subclasses)."""

    mapping: ClassVar[Mapping]
    vocabularies: ClassVar[dict[int, dict[str, str]]]  # per rule: folded platform value -> ours
    id_rules: ClassVar[tuple[FieldRule, ...]]  # the record id's parts

    def _value(self, data: dict[str, Any], rule: FieldRule, interaction: InteractionType | None) -> Any:
        if rule.value is not None:
            found: Any = rule.value
        elif rule.path is not None:
            found = dig(data, *(int(p) if p.isdigit() else p for p in rule.path.split(".")))
        elif rule.join and interaction not in rule.per_interaction:
            parts = [str(data[c]).strip() for c in rule.join if data.get(c) not in (None, "")]
            found = " ".join(parts) or None
        else:
            found = next((data[c] for c in rule.columns(interaction) if c in data and data[c] not in (None, "")), None)
        if rule.vocabulary and isinstance(found, str):
            return self.vocabularies[id(rule)].get(found.strip().casefold(), found)
        return found

    def _interaction(self, data: dict[str, Any]) -> InteractionType | None:
        rule = self.mapping.fields.get("interaction_type")
        if rule is None:
            return None
        value = self._value(data, rule, None)
        try:
            return InteractionType(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def record_id(self, data: dict[str, Any]) -> str | None:
        parts: list[str] = []
        for rule in self.id_rules:
            value = scalar(self._value(data, rule, None))
            if value is None:
                return None
            parts.append(value)
        return ":".join(parts) or None

    def draft(self, data: dict[str, Any]) -> Draft:
        interaction = self._interaction(data)
        values = {
            target: self._value(data, rule, interaction)
            for target, rule in self.mapping.fields.items()
            if target != "interaction_type"
        }
        return Draft(interaction_type=interaction, **values)


def mapped_connector(mapping: Mapping) -> Connector:
    """A `Connector` that reads records the way `mapping` says."""
    file_format = FileFormat(
        kind=mapping.format,
        extensions=mapping.extensions,
        delimiter=mapping.delimiter,
        page_keys=mapping.page_keys,
    )
    attributes = {
        "name": mapping.source,
        "mapping": mapping,
        "vocabularies": {
            id(rule): {key.strip().casefold(): value for key, value in rule.vocabulary.items()}
            for rule in mapping.fields.values()
        },
        "file_format": file_format,
        "datetime_formats": mapping.datetime_formats,
        "local_timezone": mapping.timezone,
        "decimal_comma": mapping.decimal_comma,
        "default_phone_region": mapping.default_phone_region,
        "requires_email": mapping.requires_email,
        "required_columns": _required_columns(mapping),
        "id_rules": tuple(
            FieldRule(column=part) if mapping.format == "delimited" else FieldRule(path=part)
            for part in mapping.record_id
        ),
    }
    cls = type(f"Mapped_{mapping.source}_v{mapping.version}", (MappedConnector,), attributes)
    connector: Connector = cls()
    return connector


def _required_columns(mapping: Mapping) -> tuple[tuple[str, ...], ...]:
    """A delimited source's columns no record can do without: the record id's, and the email's
    (any of its aliases) where an email is required."""
    if mapping.format != "delimited":
        return ()
    required: list[tuple[str, ...]] = [(column,) for column in mapping.required_columns()]
    email = mapping.fields.get("email")
    if mapping.requires_email and email is not None and email.column is not None:
        required.append((email.column, *email.aliases))
    return tuple(required)


def shipped_mapping(path: Path) -> Mapping:
    """A mapping shipped with the engine (a JSON file beside the connectors)."""
    return parse_mapping(json.loads(path.read_text(encoding="utf-8")))

"""What a connector is: how a platform's files are laid out (a `raw_files` `FileFormat`), how
to find a record's own id, and how to map a raw record onto a `Draft` of the normalized schema.

A connector only picks values out of the platform's documented fields; it does not
validate them. The normalizer validates a draft field by field with the connector's parsing
conventions (date formats, local time zone, decimal comma, phone region).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat


@dataclass
class Draft:
    """A record's values as the platform gave them, named after the normalized schema."""

    interaction_type: InteractionType | None = None
    occurred_at: Any = None
    # when the platform last changed the record (Eventbrite `changed`): orders its versions;
    # None where the platform gives no change time (the ingest time stands in)
    version_at: Any = None
    email: Any = None
    first_name: Any = None
    last_name: Any = None
    full_name: Any = None  # split into first and last when those are absent
    phone: Any = None
    country: Any = None
    language: Any = None
    consent_granted: Any = None
    consent_at: Any = None
    consent_source: str | None = None
    amount: Any = None
    currency: Any = None
    order_id: Any = None
    item: Any = None
    quantity: Any = None
    event_id: Any = None
    event_name: Any = None
    event_start: Any = None
    event_venue: Any = None
    event_country: Any = None
    # custom questions answered: (question key, question label or None, the answer values)
    answers: list[tuple[Any, Any, list[Any]]] | None = None
    is_test: bool = False


class Connector(ABC):
    name: ClassVar[str]
    file_format: ClassVar[FileFormat]
    # records of one platform share an id namespace whatever route delivered them (a
    # Facebook lead has the same document id from the Graph API and from a CSV download)
    id_namespace: ClassVar[str | None] = None
    requires_email: ClassVar[bool] = True
    datetime_formats: ClassVar[tuple[str, ...]] = ()
    local_timezone: ClassVar[str] = "UTC"
    decimal_comma: ClassVar[bool] = False
    # the platform may omit the interaction time; the ingest time then stands in
    ingest_time_stands_in: ClassVar[bool] = False
    # region for phone numbers written without country code when the record has no country
    default_phone_region: ClassVar[str | None] = None
    # delimited files: the columns no record can do without (its record id, its email); each
    # entry is one column, or alternatives of which one will do (report families differ)
    required_columns: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @property
    def namespace(self) -> str:
        return self.id_namespace or self.name

    def missing_columns(self, header: Sequence[str]) -> list[str]:
        """The required columns a delimited file's header lacks, alternatives as `a or b`."""
        present = set(header)
        return [" or ".join(options) for options in self.required_columns if present.isdisjoint(options)]

    @abstractmethod
    def record_id(self, data: dict[str, Any]) -> str | None:
        """The platform's id for this record (unique within the namespace), or None."""

    @abstractmethod
    def draft(self, data: dict[str, Any]) -> Draft:
        """The record's values. Must not raise on well-formed JSON of any shape."""


def dig(data: Any, *path: str | int) -> Any:
    """The value at `path` in nested dicts/lists, or None where the shape does not match."""
    current = data
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return None
            current = current[step]
        elif isinstance(current, dict):
            current = current.get(step)
        else:
            return None
        if current is None:
            return None
    return current


def scalar(value: Any) -> str | None:
    """A non-empty id-like string from a str or int value, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        cleaned = str(value).strip()
        return cleaned or None
    return None

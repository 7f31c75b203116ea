"""The engine's own canonical JSON Lines format, for any platform without a connector.

One JSON object per line (UTF-8, `.jsonl`, optionally gzip-compressed):

    {"platform": "meetup", "record_id": "rsvp-123",
     "contact": {"email": ..., "first_name": ..., "last_name": ..., "phone": ...,
                 "country": "DE", "language": "de",
                 "marketing_consent": {"granted": true, "at": "2026-05-01T10:00:00Z",
                                       "source": "meetup_rsvp_form"}},
     "interaction": {"type": "registration", "occurred_at": "2026-05-01T10:00:00Z",
                     "amount": "12.50", "currency": "EUR", "order_id": ..., "item": ...,
                     "quantity": 1},
     "event": {"id": ..., "name": ..., "start": ..., "venue": ..., "country": "DE"}}

`interaction.type` is one of the schema's `InteractionType` values. `record_id` is unique
within `platform`; the record id is `{platform}:{record_id}`. Amounts are best sent as
strings (JSON numbers are read through their shortest decimal form).
"""

from __future__ import annotations

from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, dig, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat


def _type(value: Any) -> InteractionType | None:
    try:
        return InteractionType(str(value).strip().lower()) if value is not None else None
    except ValueError:
        return None


class CanonicalJsonLines(Connector):
    name = "canonical"
    file_format = FileFormat(kind="jsonl", extensions=("jsonl", "ndjson"))

    def record_id(self, data: dict[str, Any]) -> str | None:
        record = scalar(data.get("record_id"))
        platform = scalar(data.get("platform"))
        if not record:
            return None
        return f"{platform}:{record}" if platform else record

    def draft(self, data: dict[str, Any]) -> Draft:
        consent = dig(data, "contact", "marketing_consent")
        consent = consent if isinstance(consent, dict) else {}
        platform = scalar(data.get("platform"))
        return Draft(
            interaction_type=_type(dig(data, "interaction", "type")),
            occurred_at=dig(data, "interaction", "occurred_at"),
            email=dig(data, "contact", "email"),
            first_name=dig(data, "contact", "first_name"),
            last_name=dig(data, "contact", "last_name"),
            full_name=dig(data, "contact", "full_name"),
            phone=dig(data, "contact", "phone"),
            country=dig(data, "contact", "country"),
            language=dig(data, "contact", "language"),
            consent_granted=consent.get("granted"),
            consent_at=consent.get("at"),
            consent_source=scalar(consent.get("source")) or (f"{platform}" if platform else "canonical"),
            amount=dig(data, "interaction", "amount"),
            currency=dig(data, "interaction", "currency"),
            order_id=scalar(dig(data, "interaction", "order_id")),
            item=dig(data, "interaction", "item"),
            quantity=dig(data, "interaction", "quantity"),
            event_id=scalar(dig(data, "event", "id")),
            event_name=dig(data, "event", "name"),
            event_start=dig(data, "event", "start"),
            event_venue=dig(data, "event", "venue"),
            event_country=dig(data, "event", "country"),
        )


CONNECTORS = [CanonicalJsonLines()]

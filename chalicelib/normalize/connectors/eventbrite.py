"""Eventbrite API v3 attendee objects.

Files hold either a list-attendees page (`GET /v3/events/{id}/attendees/` or the
organization variant: `{"pagination": {...}, "attendees": [...]}`) or one attendee object
as fetched after a webhook (`GET /v3/events/{id}/attendees/{attendee_id}/`).

Fields used (Eventbrite's documented attendee object): `id`, `created`, `changed`,
`event_id`, `order_id`, `ticket_class_name`, `quantity`, `status`, `checked_in`,
`cancelled`, `refunded`, `costs.gross` (a currency object: `currency`, `value` in minor
units, `major_value`), `profile` (`email`, `first_name`, `last_name`, `name`,
`cell_phone`, `addresses.home.country`...). With `expand=event,event.venue` the attendee
also carries `event` (`name.text`, `start.utc`, `venue.name`, `venue.address.country`).
`answers` (the attendee's answers to the event's custom questions: `question_id`,
`question`, `type`, `answer`) become the draft's answers keyed by question id, labelled by
the question; a question without an `answer` was not answered and is left out.

One attendee object is the attendee's current state, so the interaction it stands for is
derived from its flags, most final first: refunded, cancelled, checked in, paid ticket,
free registration. The record id is the attendee id: one attendee is one document, and an
attendee re-sent with a later `changed` (checked in, cancelled, refunded) is a new version
of it (`version_at`), whose interaction SAP receives once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, dig, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat


def _gross_is_paid(data: dict[str, Any]) -> bool:
    value = dig(data, "costs", "gross", "value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value > 0
    major = dig(data, "costs", "gross", "major_value")
    try:
        return Decimal(str(major)) > 0
    except Exception:  # noqa: BLE001 - any unreadable value means "not shown as paid"
        return False


def _answers(data: dict[str, Any]) -> list[tuple[Any, Any, list[Any]]]:
    found: list[tuple[Any, Any, list[Any]]] = []
    answers = data.get("answers")
    if not isinstance(answers, list):
        return found
    for entry in answers:
        if not isinstance(entry, dict) or entry.get("answer") in (None, ""):
            continue
        key = scalar(entry.get("question_id")) or scalar(entry.get("question"))
        if key is not None:
            value = entry["answer"]
            found.append((key, entry.get("question"), value if isinstance(value, list) else [value]))
    return found


def interaction_type(data: dict[str, Any]) -> InteractionType:
    if data.get("refunded") is True:
        return InteractionType.REFUND
    if data.get("cancelled") is True:
        return InteractionType.CANCELLATION
    if data.get("checked_in") is True:
        return InteractionType.CHECK_IN
    return InteractionType.TICKET_PURCHASE if _gross_is_paid(data) else InteractionType.REGISTRATION


class EventbriteAttendees(Connector):
    name = "eventbrite"
    file_format = FileFormat(kind="json", extensions=("json",), page_keys=("attendees",))

    def record_id(self, data: dict[str, Any]) -> str | None:
        return scalar(data.get("id"))

    def draft(self, data: dict[str, Any]) -> Draft:
        kind = interaction_type(data)
        profile: dict[str, Any] = data["profile"] if isinstance(data.get("profile"), dict) else {}
        addresses: dict[str, Any] = profile["addresses"] if isinstance(profile.get("addresses"), dict) else {}
        country = next(
            (
                dig(addresses, kind_, "country")
                for kind_ in ("home", "bill", "work", "ship")
                if dig(addresses, kind_, "country")
            ),
            None,
        )
        gross = dig(data, "costs", "gross")
        # a state change happened at `changed`; a registration or purchase at `created`
        at_creation = kind in (InteractionType.REGISTRATION, InteractionType.TICKET_PURCHASE)
        return Draft(
            interaction_type=kind,
            occurred_at=data.get("created") if at_creation else (data.get("changed") or data.get("created")),
            version_at=data.get("changed") or data.get("created"),
            email=profile.get("email"),
            first_name=profile.get("first_name"),
            last_name=profile.get("last_name"),
            full_name=profile.get("name"),
            phone=profile.get("cell_phone") or profile.get("work_phone"),
            country=country,
            amount=dig(gross, "major_value") if isinstance(gross, dict) else None,
            currency=dig(gross, "currency") if isinstance(gross, dict) else None,
            order_id=scalar(data.get("order_id")),
            item=data.get("ticket_class_name"),
            quantity=data.get("quantity"),
            event_id=scalar(data.get("event_id")) or scalar(dig(data, "event", "id")),
            event_name=dig(data, "event", "name", "text"),
            event_start=dig(data, "event", "start", "utc"),
            event_venue=dig(data, "event", "venue", "name"),
            event_country=dig(data, "event", "venue", "address", "country"),
            answers=_answers(data) or None,
        )


CONNECTORS = [EventbriteAttendees()]

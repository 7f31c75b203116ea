"""A stand-in of Eventbrite's API v3 for attendees: list attendees by event and by
organization (`changed_since`, `status`, `continuation`, the documented pagination
object), one attendee, one order (`expand=attendees`, `expand=event`), bearer tokens and
Eventbrite's error bodies (`{"status_code", "error", "error_description"}`).

Seed it with `add_attendees` (or POST `/_standin/attendees`) and `add_organization`;
`expire_tokens` (POST `/_standin/tokens/expire`) makes every token invalid.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from platformstandins.base import PlatformApp, json_response

DEFAULT_TOKEN = "standin-eventbrite-token"
PUBLIC_API = "https://www.eventbriteapi.com/v3/"

ERRORS = {
    400: ("ARGUMENTS_ERROR", "There are errors with your arguments."),
    401: ("INVALID_AUTH", "The OAuth token you provided was invalid."),
    403: ("NOT_AUTHORIZED", "You do not have permission to access the resource you requested."),
    404: ("NOT_FOUND", "The path you requested does not exist."),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed."),
    429: ("HIT_RATE_LIMIT", "Hit rate limit. Retry after some time."),
    500: ("INTERNAL_ERROR", "An internal error occurred."),
}

_ID = r"[0-9]+"
_ROUTES = (
    ("event_attendees", re.compile(rf"/v3/events/(?P<event_id>{_ID})/attendees/")),
    ("organization_attendees", re.compile(rf"/v3/organizations/(?P<organization_id>{_ID})/attendees/")),
    ("attendee", re.compile(rf"/v3/events/(?P<event_id>{_ID})/attendees/(?P<attendee_id>{_ID})/")),
    ("order", re.compile(rf"/v3/orders/(?P<order_id>{_ID})/")),
    ("event", re.compile(rf"/v3/events/(?P<event_id>{_ID})/")),
)


def eventbrite_error(status: int, description: str | None = None) -> Response:
    code, default = ERRORS.get(status, ERRORS[500])
    return json_response(status, {"status_code": status, "error": code, "error_description": description or default})


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class EventbriteStandIn(PlatformApp):
    platform = "eventbrite"

    def __init__(self, valid_tokens: Collection[str] = (DEFAULT_TOKEN,), page_size: int = 50) -> None:
        super().__init__()
        self.valid_tokens: set[str] = set(valid_tokens)
        self.page_size = page_size
        self.attendees: dict[str, dict[str, Any]] = {}
        self.organizations: dict[str, set[str]] = {}  # organization id -> its event ids

    # -- seeding ------------------------------------------------------------------------

    def add_attendees(self, attendees: list[dict[str, Any]]) -> None:
        """Add or replace attendee objects (by `id`): each needs `id`, `event_id` and `changed`."""
        with self._lock:
            for attendee in attendees:
                self.attendees[str(attendee["id"])] = dict(attendee)

    def add_organization(self, organization_id: str, event_ids: Collection[str]) -> None:
        with self._lock:
            self.organizations.setdefault(organization_id, set()).update(event_ids)

    def expire_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def organization_of(self, event_id: str) -> str | None:
        return next((org for org, events in self.organizations.items() if event_id in events), None)

    def event_object(self, event_id: str) -> dict[str, Any]:
        """A documented event object (the fields an attendee's `expand=event` gives)."""
        return {
            "id": event_id,
            "name": {"text": f"Event {event_id}", "html": f"Event {event_id}"},
            "start": {"timezone": "Europe/Berlin", "local": "2026-12-10T09:00:00", "utc": "2026-12-10T08:00:00Z"},
            "end": {"timezone": "Europe/Berlin", "local": "2026-12-10T18:00:00", "utc": "2026-12-10T17:00:00Z"},
            "organization_id": self.organization_of(event_id),
            "status": "live",
            "currency": "EUR",
            "resource_uri": f"{PUBLIC_API}events/{event_id}/",
        }

    # -- the API --------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        return eventbrite_error(status)

    def control_route(self, request: Request, action: str, body: Any) -> Response | None:
        if request.method != "POST":
            return None
        if action == "attendees":
            attendees = body.get("attendees") if isinstance(body, dict) else body
            if not isinstance(attendees, list) or not all(isinstance(a, dict) and "id" in a for a in attendees):
                return json_response(400, {"error": "expected a list of attendee objects"})
            self.add_attendees(attendees)
            if isinstance(body, dict):
                for organization, events in (body.get("organizations") or {}).items():
                    self.add_organization(str(organization), [str(e) for e in events])
            return json_response(201, {"attendees": len(self.attendees)})
        if action == "organizations" and isinstance(body, dict):
            for organization, events in body.items():
                self.add_organization(str(organization), [str(e) for e in events])
            return json_response(201, {"organizations": sorted(self.organizations)})
        if action == "tokens/expire":
            self.expire_tokens()
            return json_response(200, {"valid_tokens": 0})
        if action == "tokens" and isinstance(body, dict) and isinstance(body.get("token"), str):
            with self._lock:
                self.valid_tokens.add(body["token"])
            return json_response(201, {"valid_tokens": len(self.valid_tokens)})
        return None

    def serve(self, request: Request) -> Response:
        if not self._authorized(request):
            return eventbrite_error(401)
        if request.method != "GET":
            return eventbrite_error(405)
        for name, pattern in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match is not None:
                handler = getattr(self, f"_{name}")
                response: Response = handler(request, **match.groupdict())
                return response
        return eventbrite_error(404)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else request.args.get("token", "")
        with self._lock:
            return bool(token) and token in self.valid_tokens

    def _expansions(self, request: Request) -> set[str]:
        return {part.strip() for part in request.args.get("expand", "").split(",") if part.strip()}

    def _with_expansions(self, attendee: Mapping[str, Any], expand: set[str]) -> dict[str, Any]:
        shown = dict(attendee)
        if "event" in expand:
            shown["event"] = self.event_object(str(attendee["event_id"]))
        return shown

    def _event_attendees(self, request: Request, event_id: str) -> Response:
        return self._list(request, f"event:{event_id}", lambda a: str(a.get("event_id")) == event_id)

    def _organization_attendees(self, request: Request, organization_id: str) -> Response:
        if organization_id not in self.organizations:
            return eventbrite_error(404, "The organization you requested does not exist.")
        events = self.organizations[organization_id]
        return self._list(request, f"organization:{organization_id}", lambda a: str(a.get("event_id")) in events)

    def _list(self, request: Request, scope: str, belongs: Any) -> Response:
        try:
            since = _moment(request.args["changed_since"]) if "changed_since" in request.args else None
        except ValueError:
            return eventbrite_error(400, "changed_since is not an ISO 8601 time.")
        status = request.args.get("status")
        if status not in (None, "attending", "not_attending", "unpaid"):
            return eventbrite_error(400, "status must be attending, not_attending or unpaid.")
        query = json.dumps([scope, request.args.get("changed_since"), status])
        offset = 0
        if "continuation" in request.args:
            decoded = _decode_continuation(request.args["continuation"])
            if decoded is None or decoded[0] != query:
                return eventbrite_error(400, "The continuation token is invalid.")
            offset = decoded[1]
        with self._lock:
            chosen = [
                a
                for a in self.attendees.values()
                if belongs(a)
                and (since is None or _moment(str(a["changed"])).replace(microsecond=0) >= since)
                and _has_status(a, status)
            ]
        chosen.sort(key=lambda a: int(a["id"]))
        page = chosen[offset : offset + self.page_size]
        more = offset + self.page_size < len(chosen)
        pagination: dict[str, Any] = {
            "object_count": len(chosen),
            "page_number": offset // self.page_size + 1,
            "page_size": self.page_size,
            "page_count": max(1, math.ceil(len(chosen) / self.page_size)),
            "has_more_items": more,
        }
        if more:
            pagination["continuation"] = _encode_continuation(query, offset + self.page_size)
        self.count("attendee_pages")
        return json_response(200, {"pagination": pagination, "attendees": page})

    def _attendee(self, request: Request, event_id: str, attendee_id: str) -> Response:
        with self._lock:
            attendee = self.attendees.get(attendee_id)
        if attendee is None or str(attendee.get("event_id")) != event_id:
            return eventbrite_error(404, "The attendee you requested does not exist.")
        return json_response(200, self._with_expansions(attendee, self._expansions(request)))

    def _order(self, request: Request, order_id: str) -> Response:
        with self._lock:
            attendees = sorted(
                (a for a in self.attendees.values() if str(a.get("order_id")) == order_id), key=lambda a: int(a["id"])
            )
        if not attendees:
            return eventbrite_error(404, "The order you requested does not exist.")
        first = attendees[0]
        profile = first.get("profile") if isinstance(first.get("profile"), dict) else {}
        order: dict[str, Any] = {
            "id": order_id,
            "created": min(str(a.get("created", a["changed"])) for a in attendees),
            "changed": max(str(a["changed"]) for a in attendees),
            "name": profile.get("name"),
            "first_name": profile.get("first_name"),
            "last_name": profile.get("last_name"),
            "email": profile.get("email"),
            "status": "refunded" if all(a.get("refunded") for a in attendees) else "placed",
            "time_remaining": None,
            "event_id": first["event_id"],
            "resource_uri": f"{PUBLIC_API}orders/{order_id}/",
        }
        expand = self._expansions(request)
        if "attendees" in expand:
            order["attendees"] = [dict(a) for a in attendees]
        if "event" in expand:
            order["event"] = self.event_object(str(first["event_id"]))
        return json_response(200, order)

    def _event(self, request: Request, event_id: str) -> Response:
        with self._lock:
            known = any(str(a.get("event_id")) == event_id for a in self.attendees.values())
        if not known and self.organization_of(event_id) is None:
            return eventbrite_error(404, "The event you requested does not exist.")
        return json_response(200, self.event_object(event_id))


def _has_status(attendee: Mapping[str, Any], status: str | None) -> bool:
    gone = bool(attendee.get("cancelled") or attendee.get("refunded"))
    if status == "attending":
        return not gone
    if status == "not_attending":
        return gone
    return status != "unpaid"  # the stand-in sells no unpaid tickets


def _encode_continuation(query: str, offset: int) -> str:
    raw = json.dumps({"q": query, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continuation(token: str) -> tuple[str, int] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("q"), str) or not isinstance(data.get("o"), int):
        return None
    return data["q"], data["o"]


def webhook_payload(action: str, api_url: str, endpoint_url: str, webhook_id: str, user_id: str) -> dict[str, Any]:
    """A webhook delivery body as Eventbrite sends it."""
    return {
        "config": {"action": action, "endpoint_url": endpoint_url, "user_id": user_id, "webhook_id": webhook_id},
        "api_url": api_url,
    }


def _money(minor: int, currency: str) -> dict[str, Any]:
    major = f"{minor / 100:.2f}"
    return {"display": f"{currency} {major}", "currency": currency, "value": minor, "major_value": major}


def make_attendee(
    attendee_id: str,
    event_id: str,
    *,
    changed: str,
    created: str | None = None,
    order_id: str | None = None,
    first_name: str = "Erika",
    last_name: str = "Mustermann",
    email: str | None = None,
    country: str = "DE",
    gross_minor: int = 0,
    currency: str = "EUR",
    checked_in: bool = False,
    cancelled: bool = False,
    refunded: bool = False,
    ticket_class_name: str = "General Admission",
) -> dict[str, Any]:
    """A documented attendee object (fake person) as list attendees returns it."""
    fee = round(gross_minor * 0.05)
    status = "Checked In" if checked_in else ("Not Attending" if cancelled or refunded else "Attending")
    return {
        "team": None,
        "costs": {
            "base_price": _money(gross_minor - fee, currency),
            "eventbrite_fee": _money(fee, currency),
            "gross": _money(gross_minor, currency),
            "payment_fee": _money(0, currency),
            "tax": _money(0, currency),
        },
        "resource_uri": f"{PUBLIC_API}events/{event_id}/attendees/{attendee_id}/",
        "id": attendee_id,
        "changed": changed,
        "created": created or changed,
        "quantity": 1,
        "variant_id": None,
        "profile": {
            "first_name": first_name,
            "last_name": last_name,
            "email": email or f"{first_name}.{last_name}.{attendee_id}@example.com".lower(),
            "name": f"{first_name} {last_name}",
            "addresses": {"home": {"country": country, "city": None}, "ship": {}, "work": {}, "bill": {}},
        },
        "barcodes": [
            {
                "status": "used" if checked_in else "unused",
                "barcode": f"{attendee_id}001",
                "created": created or changed,
                "changed": changed,
                "checkin_type": 0,
                "is_printed": False,
            }
        ],
        "answers": [],
        "checked_in": checked_in,
        "cancelled": cancelled,
        "refunded": refunded,
        "affiliate": None,
        "guestlist_id": None,
        "invited_by": None,
        "status": status,
        "ticket_class_name": ticket_class_name,
        "delivery_method": "electronic",
        "event_id": event_id,
        "order_id": order_id or f"9{attendee_id}",
        "ticket_class_id": "1500000001",
    }

"""A stand-in of Meta's Graph API for Lead Ads: leads by id, several ids at once, a form's
leads page by page, Page access tokens that can expire, and Graph's error shape.

Served under a version prefix (`/v26.0/`):

- `GET /{lead_id}`, `GET /?ids=a,b` (an unknown id fails the whole lookup with #803, as Graph does);
- `GET /{form_id}/leads` with `filtering` on `time_created` (GREATER_THAN, LESS_THAN),
  `limit` and cursor paging (`paging.cursors.before/after`, `paging.next` only when more follow),
  newest lead first;
- `fields` picks the fields returned (plus `id`).

The token comes as the `access_token` parameter or an `Authorization: Bearer` (or `OAuth`)
header. Control routes: `POST /_standin/leads` (a JSON list of leads), `GET /_standin/leads`,
`POST /_standin/forms` (a JSON list of form ids with no leads yet), `POST /_standin/tokens/expire`,
`POST /_standin/throttle` (`{"count", "code", "regain_minutes"}`: Graph's rate-limit error).

Also what a webhook player needs: `leadgen_notification` (the documented body) and
`signature_header` (its `X-Hub-Signature-256`), and `make_lead` for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from platformstandins.base import PlatformApp, json_response

VERSION = "v26.0"
DEFAULT_TOKEN = "standin-page-access-token"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_lead_numbers = itertools.count(1)


class GraphStandIn(PlatformApp):
    platform = "meta"

    def __init__(self, valid_tokens: tuple[str, ...] = (DEFAULT_TOKEN,), version: str = VERSION) -> None:
        super().__init__()
        self.version = version
        self.valid_tokens = set(valid_tokens)
        self.leads: dict[str, dict[str, Any]] = {}
        self.forms: set[str] = set()
        self.expired = False
        self.throttled: list[tuple[int, float | None]] = []  # (code, regain minutes) per coming request

    # -- seeding and scripting -------------------------------------------------------------

    def add_leads(self, leads: list[dict[str, Any]]) -> None:
        with self._lock:
            for lead in leads:
                self.leads[str(lead["id"])] = dict(lead)
                if lead.get("form_id"):
                    self.forms.add(str(lead["form_id"]))

    def add_forms(self, form_ids: list[str]) -> None:
        with self._lock:
            self.forms.update(form_ids)

    def expire_tokens(self) -> None:
        """Every token answers Graph's expired-session error (code 190, subcode 463) from now on."""
        self.expired = True

    def throttle(self, count: int = 1, code: int = 32, regain_minutes: float | None = None) -> None:
        """The next `count` API requests answer Graph's rate-limit error `code` (4, 17, 32, 613, 80001...)."""
        with self._lock:
            self.throttled.extend([(code, regain_minutes)] * count)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.leads.clear()
            self.forms.clear()
            self.throttled.clear()
        self.expired = False

    def control_route(self, request: Request, action: str, body: Any) -> Response | None:
        if action == "leads" and request.method == "POST":
            if not isinstance(body, list) or not all(isinstance(lead, dict) and "id" in lead for lead in body):
                return json_response(400, {"error": "a JSON list of leads, each with an id"})
            self.add_leads(body)
            return json_response(201, {"leads": len(self.leads)})
        if action == "leads" and request.method == "GET":
            with self._lock:
                return json_response(200, {"data": list(self.leads.values())})
        if action == "forms" and request.method == "POST":
            if not isinstance(body, list) or not all(isinstance(form, str) for form in body):
                return json_response(400, {"error": "a JSON list of form ids"})
            self.add_forms(body)
            return json_response(201, {"forms": sorted(self.forms)})
        if action == "tokens/expire" and request.method == "POST":
            self.expire_tokens()
            return json_response(200, {"expired": True})
        if action == "throttle" and request.method == "POST":
            options = body if isinstance(body, dict) else {}
            self.throttle(int(options.get("count", 1)), int(options.get("code", 32)), options.get("regain_minutes"))
            return json_response(201, {"throttled": len(self.throttled)})
        return None

    # -- the API ---------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        if status == 429:
            return graph_error(status, "(#4) Application request limit reached", "OAuthException", 4)
        return graph_error(
            status, "An unexpected error has occurred. Please retry your request later.", "OAuthException", 2
        )

    def serve(self, request: Request) -> Response:
        prefix = f"/{self.version}/"
        if not (request.path + "/").startswith(prefix):
            return graph_error(400, "Unknown path components", "OAuthException", 2500)
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        throttled = self._take_throttle()
        if throttled is not None:
            return throttled
        if request.method != "GET":
            return graph_error(
                400, "Unsupported request - method type: " + request.method.lower(), "GraphMethodException", 100
            )
        parts = [part for part in request.path[len(prefix) :].split("/") if part]
        fields = [f for f in (request.args.get("fields") or "").split(",") if f.strip()]
        if not parts and request.args.get("ids") is not None:
            return self._by_ids(request.args["ids"], fields)
        if len(parts) == 1:
            lead = self._lead(parts[0])
            return json_response(200, _pick(lead, fields)) if lead else _no_object(parts[0])
        if len(parts) == 2 and parts[1] == "leads":
            return self._form_leads(request, parts[0], fields)
        return graph_error(400, f"Unknown path components: /{'/'.join(parts[1:])}", "OAuthException", 2500)

    def _authenticate(self, request: Request) -> Response | None:
        token = request.args.get("access_token")
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if token is None and scheme.lower() in ("bearer", "oauth") and credential.strip():
            token = credential.strip()
        if not token:
            return graph_error(400, "An access token is required to request this resource.", "OAuthException", 104)
        if self.expired and token in self.valid_tokens:
            return graph_error(
                400, "Error validating access token: Session has expired.", "OAuthException", 190, subcode=463
            )
        if token not in self.valid_tokens:
            return graph_error(400, "Invalid OAuth access token - Cannot parse access token", "OAuthException", 190)
        return None

    def _take_throttle(self) -> Response | None:
        with self._lock:
            if not self.throttled:
                return None
            code, minutes = self.throttled.pop(0)
        self.count("throttled")
        response = graph_error(400, f"(#{code}) Application request limit reached", "OAuthException", code)
        usage = {"call_count": 100, "total_cputime": 10, "total_time": 10, "type": "pages"}
        if minutes is not None:
            usage["estimated_time_to_regain_access"] = minutes
        response.headers["X-Business-Use-Case-Usage"] = json.dumps({"standin-page": [usage]})
        return response

    def _lead(self, lead_id: str) -> dict[str, Any] | None:
        with self._lock:
            lead = self.leads.get(lead_id)
            return dict(lead) if lead else None

    def _by_ids(self, ids: str, fields: list[str]) -> Response:
        wanted = [lead_id.strip() for lead_id in ids.split(",") if lead_id.strip()]
        found = {lead_id: self._lead(lead_id) for lead_id in wanted}
        missing = [lead_id for lead_id, lead in found.items() if lead is None]
        if missing:
            return graph_error(
                404,
                f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}",
                "OAuthException",
                803,
            )
        self.count("leads_served", len(found))
        return json_response(200, {lead_id: _pick(lead, fields) for lead_id, lead in found.items() if lead})

    def _form_leads(self, request: Request, form_id: str, fields: list[str]) -> Response:
        with self._lock:
            if form_id not in self.forms:
                return _no_object(form_id)
            leads = [dict(lead) for lead in self.leads.values() if str(lead.get("form_id")) == form_id]
        try:
            limit = int(request.args.get("limit", "25"))
            leads = [lead for lead in leads if _passes(lead, json.loads(request.args.get("filtering") or "[]"))]
        except (ValueError, TypeError, KeyError):
            return graph_error(400, "(#100) Invalid parameter", "OAuthException", 100)
        if limit < 1:
            return graph_error(400, "(#100) Invalid parameter: limit", "OAuthException", 100)
        leads.sort(key=lambda lead: _unix(lead.get("created_time")) or 0, reverse=True)  # newest first, stable
        start = 0
        if request.args.get("after"):
            position = _position(leads, request.args["after"])
            if position is None:
                return graph_error(400, "(#100) Invalid cursor: after", "OAuthException", 100)
            start = position + 1
        page = leads[start : start + limit]
        self.count("leads_served", len(page))
        answer: dict[str, Any] = {"data": [_pick(lead, fields) for lead in page]}
        if page:
            answer["paging"] = {"cursors": {"before": _cursor(page[0]), "after": _cursor(page[-1])}}
            if start + limit < len(leads):
                query = {key: value for key, value in request.args.items() if key != "after"}
                query["after"] = _cursor(page[-1])
                answer["paging"]["next"] = f"{request.host_url}{self.version}/{form_id}/leads?{urlencode(query)}"
        return json_response(200, answer)


def graph_error(status: int, message: str, kind: str, code: int, subcode: int | None = None) -> Response:
    """Graph's error object: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    return json_response(status, {"error": error})


def _no_object(object_id: str) -> Response:
    return graph_error(
        400,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        "GraphMethodException",
        100,
        subcode=33,
    )


def _pick(lead: dict[str, Any] | None, fields: list[str]) -> dict[str, Any]:
    if lead is None:
        return {}
    if not fields:
        return lead
    wanted = {field.strip() for field in fields} | {"id"}
    return {key: value for key, value in lead.items() if key in wanted}


def _passes(lead: dict[str, Any], filtering: list[dict[str, Any]]) -> bool:
    created = _unix(lead.get("created_time")) or 0
    for rule in filtering:
        if rule["field"] != "time_created":
            raise ValueError("only time_created is filtered here")
        value = int(rule["value"])
        if rule["operator"] == "GREATER_THAN" and not created > value:
            return False
        if rule["operator"] == "LESS_THAN" and not created < value:
            return False
        if rule["operator"] not in ("GREATER_THAN", "LESS_THAN"):
            raise ValueError("unsupported operator")
    return True


def _cursor(lead: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(str(lead["id"]).encode()).decode().rstrip("=")


def _position(leads: list[dict[str, Any]], cursor: str) -> int | None:
    try:
        lead_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        return None
    return next((index for index, lead in enumerate(leads) if str(lead["id"]) == lead_id), None)


def _unix(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(datetime.strptime(str(value), _TIME_FORMAT).timestamp())
    except ValueError:
        return None


def graph_time(moment: datetime) -> str:
    """Graph's time format: "2026-11-30T10:00:00+0000"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


# -- for webhook players and tests ----------------------------------------------------------


def leadgen_notification(lead: dict[str, Any], page_id: str) -> dict[str, Any]:
    """The Page webhook body Meta POSTs when this lead is created (ids only, no answers)."""
    created = _unix(lead.get("created_time")) or int(datetime.now(UTC).timestamp())
    value = {
        "ad_id": lead.get("ad_id") or "0",
        "form_id": str(lead["form_id"]),
        "leadgen_id": str(lead["id"]),
        "created_time": created,
        "page_id": page_id,
        "adgroup_id": lead.get("ad_id") or "0",
    }
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": created, "changes": [{"field": "leadgen", "value": value}]}],
    }


def signature_header(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` Meta sends with `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def make_lead(
    form_id: str,
    created_time: datetime | str,
    *,
    lead_id: str | None = None,
    email: str | None = None,
    full_name: str = "Robin Example",
    phone_number: str = "+4915112345678",
    country: str = "DE",
    consent: bool = True,
) -> dict[str, Any]:
    """A Graph lead with realistic `field_data` (made-up person) and a custom question."""
    number = next(_lead_numbers)
    lead_id = lead_id or str(9_000_000_000_000_000 + number)
    when = created_time if isinstance(created_time, str) else graph_time(created_time)
    return {
        "id": lead_id,
        "created_time": when,
        "ad_id": "23851234567890001",
        "ad_name": "Winter fair - lead ad",
        "adset_id": "23851234567890002",
        "adset_name": "Winter fair - DACH",
        "campaign_id": "23851234567890003",
        "campaign_name": "Winter fair 2026",
        "form_id": form_id,
        "is_organic": False,
        "platform": "fb",
        "field_data": [
            {"name": "email", "values": [email or f"lead{number}@example.com"]},
            {"name": "full_name", "values": [full_name]},
            {"name": "phone_number", "values": [phone_number]},
            {"name": "country", "values": [country]},
            {"name": "which_product_are_you_interested_in?", "values": ["cloud_erp"]},
        ],
        "custom_disclaimer_responses": [{"checkbox_key": "marketing_consent", "is_checked": "1" if consent else ""}],
    }

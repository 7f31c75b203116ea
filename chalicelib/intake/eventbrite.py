"""Eventbrite API v3: webhook deliveries, the guard on their `api_url`, the attendee reads,
and the incremental pull of list-attendees pages (`changed_since`, `continuation`).

A delivery names an object by URL; only URLs of the configured API host and of the
documented attendee, order and event paths are ever requested, rebuilt from their ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from chalicelib.intake.exceptions import (
    DeliveryRefused,
    InvalidSourceSettings,
    MalformedDelivery,
    PlatformRefused,
    PlatformUnavailable,
)
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import PullContext, PullResult

PLATFORM = "eventbrite"
DEFAULT_API_BASE = "https://www.eventbriteapi.com/v3/"
TEST_ACTION = "test"  # the delivery Eventbrite sends when a webhook is created or tested

# The actions whose object holds attendees; event, organizer, ticket class and venue
# actions carry nothing for intake.
ATTENDEE_ACTIONS = frozenset({"attendee.updated", "attendee.checked_in", "attendee.checked_out"})
ORDER_ACTIONS = frozenset({"order.placed", "order.updated", "order.refunded"})

ObjectKind = Literal["attendee", "order", "event"]
ScopeKind = Literal["event", "organization"]
Scope = tuple[ScopeKind, str]

_MAX_URL = 2048
_MAX_TEXT = 200
_ID = r"[0-9]{1,30}"
_OBJECT_PATHS: tuple[tuple[ObjectKind, re.Pattern[str]], ...] = (
    ("attendee", re.compile(rf"events/(?P<event_id>{_ID})/attendees/(?P<attendee_id>{_ID})/?")),
    ("order", re.compile(rf"orders/(?P<order_id>{_ID})/?")),
    ("event", re.compile(rf"events/(?P<event_id>{_ID})/?")),
)
_ID_ONLY = re.compile(_ID)
# Characters a documented api_url never holds: they are how a URL is made to mean
# something else to one parser than to another.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\%@#?;]")


# -- deliveries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventbriteDelivery:
    """One webhook delivery: `{"config": {"action", "user_id", "webhook_id", ...}, "api_url"}`."""

    action: str
    api_url: str
    webhook_id: str | None
    user_id: str | None

    @property
    def is_test(self) -> bool:
        """The ping Eventbrite sends when a webhook is created or tested: answer 200, fetch nothing."""
        return self.action == TEST_ACTION

    @property
    def names_attendees(self) -> bool:
        """Whether the action's object holds attendees (an attendee or an order)."""
        return self.action in ATTENDEE_ACTIONS or self.action in ORDER_ACTIONS


def _optional_id(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > _MAX_TEXT:
        raise MalformedDelivery("eventbrite_payload", f"config.{name} is not an id")
    return str(value)


def parse_delivery(payload: Any) -> EventbriteDelivery:
    """The delivery in a webhook body (already JSON-decoded); `MalformedDelivery` for any other shape."""
    if not isinstance(payload, dict):
        raise MalformedDelivery("eventbrite_payload", "the body is not a JSON object")
    config = payload.get("config")
    if not isinstance(config, dict):
        raise MalformedDelivery("eventbrite_payload", "config is missing or not an object")
    action = config.get("action")
    if not isinstance(action, str) or not action or len(action) > _MAX_TEXT:
        raise MalformedDelivery("eventbrite_payload", "config.action is missing or not a string")
    api_url = payload.get("api_url")
    if api_url is None and action == TEST_ACTION:
        api_url = ""
    if not isinstance(api_url, str) or len(api_url) > _MAX_URL or (not api_url and action != TEST_ACTION):
        raise MalformedDelivery("eventbrite_payload", "api_url is missing or not a string")
    return EventbriteDelivery(
        action=action,
        api_url=api_url,
        webhook_id=_optional_id(config.get("webhook_id"), "webhook_id"),
        user_id=_optional_id(config.get("user_id"), "user_id"),
    )


# -- the api_url guard --------------------------------------------------------------------


@dataclass(frozen=True)
class ApiTarget:
    """A documented API object a delivery names; `url` is rebuilt from the API base and the ids."""

    kind: ObjectKind
    url: str
    event_id: str | None = None
    attendee_id: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str


def _origin(url: str) -> _Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if parts.password is not None or parts.query or parts.fragment:
        return None
    default = 443 if scheme == "https" else 80
    return _Origin(scheme, parts.hostname.lower(), port if port is not None else default, parts.path)


def _base_of(api_base: str) -> tuple[_Origin, str]:
    base = api_base if api_base.endswith("/") else api_base + "/"
    origin = _origin(base)
    if origin is None:
        raise InvalidSourceSettings("the Eventbrite API base is not an http(s) URL")
    return origin, base


def _refuse(message: str) -> DeliveryRefused:
    return DeliveryRefused(403, "eventbrite_api_url", message)


def check_api_url(api_url: str, api_base: str = DEFAULT_API_BASE) -> ApiTarget:
    """The object an `api_url` names, if it is one of the documented objects under `api_base`
    (same scheme, host and port; attendee, order or event path; no userinfo, query, fragment,
    percent-encoding, backslash or dot segment). Anything else: `DeliveryRefused(403)`."""
    expected, base = _base_of(api_base)
    if not isinstance(api_url, str) or not api_url or len(api_url) > _MAX_URL:
        raise _refuse("api_url is empty or too long")
    if _FORBIDDEN.search(api_url):
        raise _refuse("api_url holds a character no documented object URL has")
    origin = _origin(api_url)
    if origin is None:
        raise _refuse("api_url is not a plain http(s) URL")
    if (origin.scheme, origin.host, origin.port) != (expected.scheme, expected.host, expected.port):
        raise _refuse("api_url is not on the configured Eventbrite API host")
    if not origin.path.startswith(expected.path):
        raise _refuse("api_url is not under the configured API path")
    rest = origin.path[len(expected.path) :]
    for kind, pattern in _OBJECT_PATHS:
        match = pattern.fullmatch(rest)
        if match is None:
            continue
        ids: dict[str, str] = match.groupdict()
        event_id, attendee_id, order_id = ids.get("event_id"), ids.get("attendee_id"), ids.get("order_id")
        if kind == "attendee":
            path = f"events/{event_id}/attendees/{attendee_id}/"
        elif kind == "order":
            path = f"orders/{order_id}/"
        else:
            path = f"events/{event_id}/"
        return ApiTarget(kind, base + path, event_id=event_id, attendee_id=attendee_id, order_id=order_id)
    raise _refuse("api_url is not an attendee, order or event URL")


def target_for(delivery: EventbriteDelivery, api_base: str = DEFAULT_API_BASE) -> ApiTarget | None:
    """The attendee or order a delivery asks us to read, checked; None when there is nothing to
    read (the test ping, event/venue/organizer/ticket class actions). An attendee action must
    name an attendee URL and an order action an order URL."""
    if delivery.is_test or not delivery.names_attendees:
        return None
    target = check_api_url(delivery.api_url, api_base)
    wanted = "attendee" if delivery.action in ATTENDEE_ACTIONS else "order"
    if target.kind != wanted:
        raise _refuse(f"a {delivery.action} delivery must name an {wanted} URL")
    return target


# -- which attendees are ours -------------------------------------------------------------


def refuse_unfollowed_event(target: ApiTarget, events: Collection[str], organization: str | None) -> None:
    """Refuse at once (403 `eventbrite_event`) a URL naming an event that is not followed, when
    only events are followed. With an organization, the event is checked after the fetch."""
    if target.event_id is None or organization is not None:
        return
    if target.event_id not in events:
        raise DeliveryRefused(403, "eventbrite_event", "the delivery names an event that is not followed")


def allowed(
    attendee: Mapping[str, Any],
    events: Collection[str],
    organization: str | None = None,
    organization_events: Collection[str] = (),
) -> bool:
    """Whether an attendee belongs to a followed event (`SourceSettings.follow`) or to the
    followed organization: its event is one of `organization_events`, or its expanded
    `event.organization_id` (as `fetch` asks for) is the organization."""
    event_id = attendee.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return False
    if event_id in events or (organization is not None and event_id in organization_events):
        return True
    event = attendee.get("event")
    return organization is not None and isinstance(event, dict) and str(event.get("organization_id")) == organization


# -- the API ------------------------------------------------------------------------------


class EventbriteApi:
    """Reads attendees with an OAuth token (`Authorization: Bearer`)."""

    def __init__(self, http: PlatformHttp, api_base: str, token: str) -> None:
        _, self.api_base = _base_of(api_base)
        self.http = http
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def fetch(self, target: ApiTarget) -> list[dict[str, Any]]:
        """The attendees a delivery names: an attendee URL gives [attendee], an order URL the
        order's attendees (`expand=attendees`); each carries its expanded `event`. An object
        that is gone (404) gives []; an event URL gives [] (it names no attendee)."""
        if target.kind == "attendee":
            attendee = self._get(target.url, {"expand": "event"})
            return [attendee] if attendee is not None else []
        if target.kind == "order":
            order = self._get(target.url, {"expand": "attendees,event"})
            if order is None:
                return []
            attendees = order.get("attendees")
            if not isinstance(attendees, list):
                raise PlatformUnavailable(PLATFORM, "an order came without its attendees")
            event = order.get("event")
            found = [dict(a) for a in attendees if isinstance(a, dict)]
            if isinstance(event, dict):
                for attendee in found:
                    attendee.setdefault("event", event)  # what `expand=event` gives an attendee
            return found
        return []

    def attendees_page(
        self, scope: Scope, changed_since: str | None, continuation: str | None
    ) -> tuple[dict[str, Any], str | None]:
        """One list-attendees page of an event or organization, as Eventbrite returned it, and the
        continuation of the next page (None when `has_more_items` is false)."""
        kind, ident = scope
        if kind not in ("event", "organization") or not _ID_ONLY.fullmatch(ident):
            raise InvalidSourceSettings(f"not an Eventbrite {kind} id")
        path = "events" if kind == "event" else "organizations"
        params: dict[str, str] = {}
        if changed_since is not None:
            params["changed_since"] = changed_since
        if continuation is not None:
            params["continuation"] = continuation
        page = self._get(f"{self.api_base}{path}/{ident}/attendees/", params)
        if page is None:  # a configured event or organization that Eventbrite does not know
            raise PlatformRefused(PLATFORM, 404, f"no such {kind}")
        pagination, attendees = page.get("pagination"), page.get("attendees")
        if not isinstance(pagination, dict) or not isinstance(attendees, list):
            raise PlatformUnavailable(PLATFORM, "a list-attendees answer without pagination and attendees")
        if pagination.get("has_more_items") is not True:
            return page, None
        following = pagination.get("continuation")
        if not isinstance(following, str) or not following or following == continuation:
            raise PlatformUnavailable(PLATFORM, "has_more_items without a new continuation")
        return page, following

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any] | None:
        """The JSON object at `url`, or None for a 404. Redirects are not followed: the guard
        vouched for this URL only."""
        response = self.http.get(url, params=params, headers=self._headers, allow_redirects=False)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise PlatformRefused(PLATFORM, response.status_code, _error_code(response))
        if response.status_code >= 300:
            raise PlatformRefused(PLATFORM, response.status_code, "redirect not followed")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PlatformUnavailable(PLATFORM, f"HTTP {response.status_code} without a JSON object")
        return body


def _error_code(response: requests.Response) -> str:
    """Eventbrite's error code (`INVALID_AUTH`, `NOT_AUTHORIZED`, `NOT_FOUND`...): never the
    description, which may quote a request's values."""
    try:
        body = response.json()
    except ValueError:
        return "no error body"
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and re.fullmatch(r"[A-Z_]{1,60}", code) else "unreadable error body"


def from_secret(values: Mapping[str, Any], http: PlatformHttp) -> EventbriteApi:
    """The API from the source's secret: `oauth_token`, and `api_url` (default Eventbrite's)."""
    token = values.get("oauth_token")
    if not isinstance(token, str) or not token.strip():
        raise InvalidSourceSettings("the Eventbrite secret has no oauth_token")
    api_url = values.get("api_url") or DEFAULT_API_BASE
    if not isinstance(api_url, str):
        raise InvalidSourceSettings("the Eventbrite secret's api_url is not a string")
    return EventbriteApi(http, api_url, token.strip())


# -- the pull -----------------------------------------------------------------------------


def _second(value: Any) -> str | None:
    """An ISO 8601 time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), or None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(attendee: Mapping[str, Any]) -> str:
    """A short digest of an attendee object: tells a change within one second from a repeat."""
    return hashlib.sha256(json.dumps(attendee, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class ScopeCursor:
    """Where one event's or organization's attendees were read to.

    `changed_since` is the query's lower bound (inclusive, whole seconds) and `at_since` the
    attendees already stored with exactly that `changed` (id -> digest of the object, so a
    second change within that second is still stored). While a scope's pages are being read,
    `continuation` points at the next page and `newest`/`at_newest` collect the latest
    `changed` seen; when the last page is stored they become the next `changed_since`.
    """

    changed_since: str | None = None
    at_since: dict[str, str] = field(default_factory=dict)
    continuation: str | None = None
    newest: str | None = None
    at_newest: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> ScopeCursor:
        if not isinstance(data, dict):
            return cls()

        def seen(value: Any) -> dict[str, str]:
            return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

        continuation = data.get("continuation")
        return cls(
            changed_since=_second(data.get("changed_since")),
            at_since=seen(data.get("at_since")),
            continuation=continuation if isinstance(continuation, str) and continuation else None,
            newest=_second(data.get("newest")),
            at_newest=seen(data.get("at_newest")),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"changed_since": self.changed_since, "at_since": dict(sorted(self.at_since.items()))}
        if self.continuation is not None:
            data.update(
                continuation=self.continuation, newest=self.newest, at_newest=dict(sorted(self.at_newest.items()))
            )
        return data

    def start(self) -> None:
        """A first page: the newest seen so far is where the last pull ended."""
        self.newest, self.at_newest = self.changed_since, dict(self.at_since)

    def is_stored(self, attendee: Mapping[str, Any]) -> bool:
        """Whether the inclusive bound brought back an attendee, unchanged, that the last pull stored."""
        return (
            self.changed_since is not None
            and _second(attendee.get("changed")) == self.changed_since
            and self.at_since.get(str(attendee.get("id"))) == _digest(attendee)
        )

    def see(self, attendee: Mapping[str, Any]) -> None:
        changed, ident = _second(attendee.get("changed")), attendee.get("id")
        if changed is None or ident is None:
            return
        if self.newest is None or changed > self.newest:
            self.newest, self.at_newest = changed, {}
        if changed == self.newest:
            self.at_newest[str(ident)] = _digest(attendee)

    def finish(self) -> None:
        self.changed_since, self.at_since = self.newest, dict(self.at_newest)
        self.continuation, self.newest, self.at_newest = None, None, {}


class EventbritePull:
    """The incremental pull of a source's attendees (`Pull`).

    Scopes: the organization if one is set, else each followed event. The cursor is
    `{"scopes": {"event:<id>" | "organization:<id>": ScopeCursor.to_json()}}`, saved after
    every page, so a pull that dies between pages resumes at the saved continuation.
    """

    def __init__(self, api: EventbriteApi) -> None:
        self.api = api

    def __call__(self, context: PullContext) -> PullResult:
        settings = context.settings
        scopes: list[Scope] = (
            [("organization", settings.organization)]
            if settings.organization
            else [("event", event_id) for event_id in settings.follow]
        )
        saved = context.cursor.get("scopes") if isinstance(context.cursor, dict) else None
        cursors: dict[str, Any] = dict(saved) if isinstance(saved, dict) else {}
        result = PullResult()
        requests_before = self.api.http.requests
        try:
            for scope in scopes:
                self._pull_scope(context, scope, cursors, result)
        finally:
            result.requests = self.api.http.requests - requests_before
        return result

    def _pull_scope(self, context: PullContext, scope: Scope, cursors: dict[str, Any], result: PullResult) -> None:
        key = f"{scope[0]}:{scope[1]}"
        cursor = ScopeCursor.from_json(cursors.get(key))
        if cursor.continuation is None:
            cursor.start()
        while True:
            page, following = self.api.attendees_page(scope, cursor.changed_since, cursor.continuation)
            result.pages += 1
            fresh = [a for a in page["attendees"] if isinstance(a, dict) and not cursor.is_stored(a)]
            for attendee in fresh:
                cursor.see(attendee)
            if fresh:
                body = json.dumps({"pagination": page["pagination"], "attendees": fresh}, sort_keys=True)
                result.files.append(context.store(body.encode(), ".json"))
                result.records += len(fresh)
            if following is None:
                cursor.finish()
            else:
                cursor.continuation = following
            cursors[key] = cursor.to_json()
            context.save_cursor({"scopes": dict(cursors)})
            if following is None:
                return

"""Meta Lead Ads: the webhook handshake and signature, the `leadgen` notifications, and the
Graph API reads that fetch the leads they name or pull a form's leads page by page.

A `leadgen` notification carries ids only (lead, form, page, ad), never the person's
answers; those are read from the Graph API with the Page access token. The pages stored
are Graph's own `{"data": [...]}` shape, which the `facebook_leads` connector reads.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from chalicelib.intake.exceptions import (
    DeliveryRefused,
    MalformedDelivery,
    PlatformRefused,
    PlatformUnavailable,
)
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import PullContext, PullResult

log = logging.getLogger(__name__)

PLATFORM = "meta"
DEFAULT_GRAPH_URL = "https://graph.facebook.com/v26.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="

TOKEN_CODES = frozenset({102, 190})  # the access token expired, was revoked or is invalid
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})  # app, user, page, custom, business use case
TRANSIENT_CODES = frozenset({1, 2})  # "API Unknown", "API Service": wait and retry


# -- webhook ----------------------------------------------------------------------------


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str:
    """The `hub.challenge` to answer Meta's verification request (GET on the callback URL)."""
    given = params.get("hub.verify_token") or ""
    if (
        params.get("hub.mode") != "subscribe"
        or not verify_token
        or not hmac.compare_digest(given.encode(), verify_token.encode())
    ):
        raise DeliveryRefused(403, "meta_verify_token", "not a subscribe request with the configured verify token")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise MalformedDelivery("meta_verify_challenge", "the verification request carries no hub.challenge")
    return challenge


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Checks `X-Hub-Signature-256`: "sha256=" and the HMAC-SHA256 of the raw body with the app secret."""
    given = (header or "").strip()
    digest = given[len(_SIGNATURE_PREFIX) :]
    if not given.startswith(_SIGNATURE_PREFIX) or len(digest) != 64 or not all(c in string.hexdigits for c in digest):
        raise DeliveryRefused(401, "meta_signature_missing", f"no sha256 signature in {SIGNATURE_HEADER}")
    if not app_secret:
        raise DeliveryRefused(401, "meta_signature", "no app secret configured to check the signature")
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(digest.lower().encode(), expected.encode()):
        raise DeliveryRefused(401, "meta_signature", f"{SIGNATURE_HEADER} does not match the body")


@dataclass(frozen=True)
class LeadgenChange:
    leadgen_id: str
    form_id: str | None
    page_id: str | None
    ad_id: str | None
    created_time: int | None


def leadgen_changes(payload: Any) -> list[LeadgenChange]:
    """The `leadgen` changes of a Page webhook notification; changes of other fields are ignored.

    The documented shape: `{"object": "page", "entry": [{"id", "time", "changes": [{"field":
    "leadgen", "value": {"leadgen_id", "form_id", "page_id", "ad_id", "adgroup_id",
    "created_time"}}]}]}`.
    """
    if not isinstance(payload, dict) or payload.get("object") != "page":
        raise MalformedDelivery("meta_payload", "a Lead Ads notification is a JSON object with object 'page'")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise MalformedDelivery("meta_payload", "a Lead Ads notification needs an entry list")
    found: list[LeadgenChange] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise MalformedDelivery("meta_payload", "each entry is an object with a changes list")
        for change in entry.get("changes", []):
            if not isinstance(change, dict) or not isinstance(change.get("field"), str):
                raise MalformedDelivery("meta_payload", "each change is an object with a field")
            if change["field"] != "leadgen":
                continue
            value = change.get("value")
            leadgen_id = _graph_id(value.get("leadgen_id")) if isinstance(value, dict) else None
            if not isinstance(value, dict) or leadgen_id is None:
                raise MalformedDelivery("meta_payload", "a leadgen change needs a value with a leadgen_id")
            found.append(
                LeadgenChange(
                    leadgen_id=leadgen_id,
                    form_id=_graph_id(value.get("form_id")),
                    page_id=_graph_id(value.get("page_id")) or _graph_id(entry.get("id")),
                    ad_id=_graph_id(value.get("ad_id")),
                    created_time=_unix_time(value.get("created_time")),
                )
            )
    return found


def _graph_id(value: Any) -> str | None:
    """A Graph id as a string (ids come as strings, and as numbers in some samples)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and value.strip().replace("_", "").isalnum():
        return value.strip()
    return None


def _unix_time(value: Any) -> int | None:
    """Seconds since the epoch from a Unix time or Graph's ISO time ("2026-11-30T10:00:00+0000")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())
        except ValueError:
            return None
    return None


# -- Graph API --------------------------------------------------------------------------


class _NotFound(Exception):
    """Graph does not know an object of that id, or the token may not see it (#803, or #100 subcode 33)."""


class GraphApi:
    """The Graph API reads of leads, with the Page access token (sent as a bearer header, so it
    never sits in a URL that could be logged)."""

    LEAD_FIELDS = ",".join(
        (
            "id",
            "created_time",
            "ad_id",
            "ad_name",
            "adset_id",
            "adset_name",
            "campaign_id",
            "campaign_name",
            "form_id",
            "is_organic",
            "platform",
            "field_data",
            "custom_disclaimer_responses",
        )
    )
    IDS_PER_REQUEST = 50

    def __init__(self, http: PlatformHttp, graph_url: str, access_token: str) -> None:
        self.http = http
        self.graph_url = graph_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}

    def leads(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The leads of these ids, by id (multiple-ID lookups of up to 50); an id Graph does not
        know is absent from the result."""
        wanted = list(dict.fromkeys(lead_id for lead_id in ids if lead_id))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), self.IDS_PER_REQUEST):
            chunk = wanted[start : start + self.IDS_PER_REQUEST]
            try:
                answer = self._get("", {"ids": ",".join(chunk), "fields": self.LEAD_FIELDS})
            except _NotFound:
                # Graph refuses the whole lookup if one id is unknown: ask for each one alone.
                found.update(self._each(chunk) if len(chunk) > 1 else {})
                continue
            found.update({key: lead for key, lead in answer.items() if key in chunk and isinstance(lead, dict)})
        return found

    def form_leads(
        self, form_id: str, since: int | None, after: str | None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the form's leads created after `since` (Unix seconds, exclusive), from the
        `after` cursor; and the cursor of the next page, None at the end."""
        params: dict[str, Any] = {"fields": self.LEAD_FIELDS, "limit": limit}
        if since is not None:
            params["filtering"] = json.dumps([{"field": "time_created", "operator": "GREATER_THAN", "value": since}])
        if after:
            params["after"] = after
        try:
            answer = self._get(f"{quote(form_id, safe='')}/leads", params)
        except _NotFound:
            raise PlatformRefused(PLATFORM, 400, f"no lead form {form_id} the token can read") from None
        data = answer.get("data")
        if not isinstance(data, list):
            raise PlatformUnavailable(PLATFORM, "a leads page without a data list")
        paging = answer.get("paging")
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors")
        next_after = cursors.get("after") if isinstance(cursors, dict) and paging.get("next") else None
        # no `next`: the last page (a page may come empty and still have one)
        return [lead for lead in data if isinstance(lead, dict)], next_after if isinstance(next_after, str) else None

    def _each(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for lead_id in ids:
            try:
                found[lead_id] = self._get(quote(lead_id, safe=""), {"fields": self.LEAD_FIELDS})
            except _NotFound:
                continue
        return found

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """Graph's answer to GET `path` (already quoted) with the token in the Authorization header."""
        return _answer(self.http.get(f"{self.graph_url}/{path}", params=params, headers=self._headers))


def _answer(response: requests.Response) -> dict[str, Any]:
    """Graph's JSON object, or the error it stands for (messages keep codes only, never Graph's text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 200 and isinstance(body, dict) and error is None:
        return body
    status = response.status_code
    code = error.get("code") if isinstance(error, dict) else None
    subcode = error.get("error_subcode") if isinstance(error, dict) else None
    trace = error.get("fbtrace_id") if isinstance(error, dict) else None
    what = f"HTTP {status}, code {code}, subcode {subcode}, fbtrace_id {trace}"
    if code in TOKEN_CODES or status == 401:
        raise PlatformRefused(PLATFORM, status, f"the access token was refused ({what})")
    if code in RATE_LIMIT_CODES or status == 429:
        raise PlatformUnavailable(PLATFORM, f"rate limited ({what})", _regain_seconds(response))
    if code in TRANSIENT_CODES or (isinstance(error, dict) and error.get("is_transient") is True) or status >= 500:
        raise PlatformUnavailable(PLATFORM, f"temporarily unavailable ({what})")
    if code == 803 or (code == 100 and subcode == 33):
        raise _NotFound()
    if 400 <= status < 500:
        raise PlatformRefused(PLATFORM, status, f"request refused ({what})")
    raise PlatformUnavailable(PLATFORM, f"an answer that is not a JSON object ({what})")


def _regain_seconds(response: requests.Response) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`, in seconds."""
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    known = [float(m) for m in minutes if isinstance(m, int | float) and not isinstance(m, bool) and m > 0]
    return max(known) * 60 if known else None


def from_secret(values: Mapping[str, Any], http: PlatformHttp) -> GraphApi:
    """The Graph API client from the `meta` secret: `page_access_token`, optionally `graph_url`
    (the secret also holds `app_secret` and `verify_token`, for the webhook)."""
    token = values.get("page_access_token")
    if not isinstance(token, str) or not token:
        raise PlatformRefused(PLATFORM, 401, "the secret holds no page_access_token")
    graph_url = values.get("graph_url")
    return GraphApi(http, graph_url if isinstance(graph_url, str) and graph_url else DEFAULT_GRAPH_URL, token)


# -- pull -------------------------------------------------------------------------------


class MetaLeadsPull:
    """Pulls the leads of the followed forms, page by page, each page a raw `facebook_leads` file.

    The cursor: `{"forms": {form_id: {"since", "since_ids", "after", "max_seen", "max_ids"}}}`.
    `since` is the newest `created_time` of the leads stored (Unix seconds) and `since_ids` the
    ids of those created in that very second: the next window asks Graph for leads created at
    or after `since` and drops those ids, so a lead created in the same second as the last one
    pulled is not lost. `after` is the page cursor within a window (None between windows);
    `max_seen`/`max_ids` collect the window's newest time and ids until its pages end.
    """

    def __init__(self, api: GraphApi, limit: int = 100) -> None:
        self.api = api
        self.limit = limit

    def __call__(self, context: PullContext) -> PullResult:
        result = PullResult()
        sent_before = self.api.http.requests
        forms: dict[str, dict[str, Any]] = copy.deepcopy((context.cursor or {}).get("forms") or {})
        for form_id in context.settings.follow:
            self._pull_form(context, form_id, forms, result)
        result.requests = self.api.http.requests - sent_before
        return result

    def _pull_form(
        self, context: PullContext, form_id: str, forms: dict[str, dict[str, Any]], result: PullResult
    ) -> None:
        state = _form_state(forms.get(form_id))
        saved = copy.deepcopy(state)
        while True:
            since = state["since"]
            # GREATER_THAN is exclusive: ask from `since` itself and drop what was stored already.
            leads, after = self.api.form_leads(
                form_id, None if since is None else since - 1, state["after"], limit=self.limit
            )
            result.pages += 1
            fresh = [lead for lead in leads if not _covered(lead, state)]
            for lead in fresh:
                _note_seen(lead, state)
            state["after"] = after
            if after is None:
                state = _close_window(state)
            if fresh:
                result.files.append(context.store(json.dumps({"data": fresh}).encode(), ".json"))
                result.records += len(fresh)
            if fresh or (after is None and state != saved):
                forms[form_id] = copy.deepcopy(state)
                context.save_cursor({"forms": copy.deepcopy(forms)})
                saved = copy.deepcopy(state)
            if after is None:
                return


def _form_state(saved: dict[str, Any] | None) -> dict[str, Any]:
    saved = saved or {}
    return {
        "since": saved.get("since"),
        "since_ids": list(saved.get("since_ids") or []),
        "after": saved.get("after"),
        "max_seen": saved.get("max_seen"),
        "max_ids": list(saved.get("max_ids") or []),
    }


def _covered(lead: dict[str, Any], state: dict[str, Any]) -> bool:
    """A lead an earlier window (or an earlier page of this one) stored already."""
    created = _unix_time(lead.get("created_time"))
    since, max_seen = state["since"], state["max_seen"]
    lead_id = str(lead.get("id"))
    if since is not None and created is not None and created < since:
        return True
    if created is not None and created == since and lead_id in state["since_ids"]:
        return True
    return created is not None and created == max_seen and lead_id in state["max_ids"]


def _note_seen(lead: dict[str, Any], state: dict[str, Any]) -> None:
    created = _unix_time(lead.get("created_time"))
    if created is None:
        return
    if state["max_seen"] is None or created > state["max_seen"]:
        state["max_seen"], state["max_ids"] = created, [str(lead.get("id"))]
    elif created == state["max_seen"]:
        state["max_ids"].append(str(lead.get("id")))


def _close_window(state: dict[str, Any]) -> dict[str, Any]:
    """The window's pages ended: the next one starts at the newest lead seen."""
    since, max_seen = state["since"], state["max_seen"]
    if max_seen is None or (since is not None and max_seen < since):
        return {**state, "after": None, "max_seen": None, "max_ids": []}
    since_ids = state["max_ids"] + (state["since_ids"] if max_seen == since else [])
    return {"since": max_seen, "since_ids": sorted(set(since_ids)), "after": None, "max_seen": None, "max_ids": []}

"""A webhook delivery, authenticated the platform's way, turned into a queued `Delivery`.

Every check happens on the raw request before anything is stored: Google's key in the
body, Meta's signature of the raw body, Eventbrite's key in our webhook URL and its
`api_url` (our API host only, followed events only). A refusal is a `DeliveryRefused`
with its HTTP status; the route counts it by reason.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from chalicelib.intake import eventbrite, google_ads, meta
from chalicelib.intake.deliveries import Delivery, DeliveryItem
from chalicelib.intake.exceptions import DeliveryRefused, MalformedDelivery
from chalicelib.intake.pulls import SourceSettings


def json_body(raw_body: bytes, reason: str) -> Any:
    try:
        return json.loads(raw_body)
    except ValueError:
        raise MalformedDelivery(reason, "the body is not JSON") from None


def require_enabled(name: str, settings: SourceSettings | None) -> SourceSettings:
    if settings is None or not settings.enabled:
        raise DeliveryRefused(403, "source_disabled", f"source {name} is not enabled")
    return settings


def google_ads_delivery(raw_body: bytes, secret: Mapping[str, Any], settings: SourceSettings | None) -> Delivery:
    payload = json_body(raw_body, "google_payload")
    lead_id = google_ads.verify_lead(payload, str(secret.get("google_key", "")))
    require_enabled("google-ads", settings)
    lead = {key: value for key, value in payload.items() if key != "google_key"}  # a credential: never stored
    return Delivery(source="google-ads", items=[DeliveryItem(delivery_id=lead_id, data=lead)])


def meta_challenge(params: Mapping[str, str], secret: Mapping[str, Any]) -> str:
    return meta.verify_subscription(params, str(secret.get("verify_token", "")))


def meta_delivery(
    raw_body: bytes, signature: str | None, secret: Mapping[str, Any], settings: SourceSettings | None
) -> Delivery:
    meta.verify_signature(raw_body, signature, str(secret.get("app_secret", "")))
    changes = meta.leadgen_changes(json_body(raw_body, "meta_payload"))
    require_enabled("meta", settings)
    return Delivery(
        source="meta", items=[DeliveryItem(delivery_id=change.leadgen_id, data=asdict(change)) for change in changes]
    )


def eventbrite_delivery(
    raw_body: bytes, key: str | None, secret: Mapping[str, Any], settings: SourceSettings | None
) -> Delivery:
    expected = str(secret.get("webhook_key", ""))
    if not key or not expected or not hmac.compare_digest(key.encode(), expected.encode()):
        raise DeliveryRefused(401, "eventbrite_key", "the webhook URL's key does not match the configured key")
    delivery = eventbrite.parse_delivery(json_body(raw_body, "eventbrite_payload"))
    followed = require_enabled("eventbrite", settings)
    target = eventbrite.target_for(delivery, str(secret.get("api_url") or eventbrite.DEFAULT_API_BASE))
    if target is None:  # the test ping, or an action that names no attendee
        return Delivery(source="eventbrite", items=[])
    eventbrite.refuse_unfollowed_event(target, followed.follow, followed.organization)
    return Delivery(source="eventbrite", items=[DeliveryItem(data={"action": delivery.action, "api_url": target.url})])

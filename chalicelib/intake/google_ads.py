"""Google Ads lead form webhooks: the advertiser's key, checked before anything is stored.

Google POSTs each lead as one JSON object (`lead_id`, `user_column_data`, `form_id`,
`google_key`, `is_test`, ...) and cannot send any header of ours: the `google_key` in the
body is the credential, compared in constant time with the configured one. The lead itself
is the record the `google_ads` connector reads, so no fetch follows.
"""

from __future__ import annotations

import hmac
from typing import Any

from chalicelib.intake.exceptions import DeliveryRefused, MalformedDelivery


def verify_lead(payload: Any, google_key: str) -> str:
    """The lead's id, if `payload` is a lead carrying the configured key."""
    if not isinstance(payload, dict):
        raise MalformedDelivery("google_payload", "a Google Ads lead is a JSON object")
    key = payload.get("google_key")
    if not isinstance(key, str) or not google_key or not hmac.compare_digest(key.encode(), google_key.encode()):
        raise DeliveryRefused(401, "google_key", "the google_key does not match the configured key")
    lead_id = payload.get("lead_id")
    if not isinstance(lead_id, str) or not lead_id.strip():
        raise MalformedDelivery("google_payload", "a Google Ads lead needs a lead_id")
    return lead_id.strip()

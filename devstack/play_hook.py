"""`python -m devstack hook PLATFORM`: play a platform's webhook at the running local API.

Signed or keyed as the platform would (with the secrets the local stack provisioned), or
with a wrong signature or key (`--bad-signature`). For Meta and Eventbrite the lead or
attendee the notification names is first put into the platform's stand-in, so the
engine's fetch finds it. Returns the HTTP status the API answered.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from chalicelib.resources import for_stage
from devstack import platforms
from platformstandins import eventbrite as eventbrite_standin
from platformstandins import google_ads as google_standin
from platformstandins import graph as graph_standin

PLATFORMS = ("google-ads", "meta", "eventbrite")
WRONG = "not-the-configured-secret"


def platform_secret(emulator: str, key: str) -> dict[str, Any]:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=emulator,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    value: dict[str, Any] = json.loads(
        client.get_secret_value(SecretId=for_stage("local").secret(key).name)["SecretString"]
    )
    return value


def play(platform: str, api: str, emulator: str, bad_signature: bool = False) -> requests.Response:
    if platform == "google-ads":
        key = platform_secret(emulator, "google-ads")["google_key"]
        lead = google_standin.make_lead(WRONG if bad_signature else key)
        return requests.post(f"{api}/hooks/google-ads", json=lead, timeout=30)
    if platform == "meta":
        secret = platform_secret(emulator, "meta")
        lead = graph_standin.make_lead(platforms.META_FORM, datetime.now(UTC), lead_id=str(uuid.uuid4().int % 10**16))
        if not bad_signature:
            standin = secret["graph_url"].rsplit("/", 1)[0]
            requests.post(f"{standin}/_standin/leads", json=[lead], timeout=10).raise_for_status()
        body = json.dumps(graph_standin.leadgen_notification(lead, platforms.META_PAGE)).encode()
        signature = graph_standin.signature_header(body, WRONG if bad_signature else secret["app_secret"])
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        return requests.post(f"{api}/hooks/meta", data=body, headers=headers, timeout=30)
    if platform == "eventbrite":
        secret = platform_secret(emulator, "eventbrite")
        attendee_id = str(800000000 + uuid.uuid4().int % 10**8)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        attendee = eventbrite_standin.make_attendee(attendee_id, platforms.EVENTBRITE_EVENT, changed=stamp)
        if not bad_signature:
            standin = secret["api_url"].rstrip("/").rsplit("/", 1)[0]
            requests.post(f"{standin}/_standin/attendees", json=[attendee], timeout=10).raise_for_status()
        api_url = f"{secret['api_url']}events/{platforms.EVENTBRITE_EVENT}/attendees/{attendee_id}/"
        endpoint = f"{api}/hooks/eventbrite"
        payload = eventbrite_standin.webhook_payload("attendee.updated", api_url, endpoint, "4321", "1987654321")
        key = WRONG if bad_signature else secret["webhook_key"]
        return requests.post(endpoint, params={"key": key}, json=payload, timeout=30)
    raise ValueError(f"no webhook player for {platform!r}; known: {', '.join(PLATFORMS)}")

"""The platforms' webhooks on the emulator: verified, queued, collected into raw files,
fetched from the platforms' stand-ins, split and normalized; refused ones store nothing.

The routes run in Chalice's test client; the collector, splitter, normalizer and State
Keeper are `app.py`'s handlers, handed what their queues hold, as Lambda would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.intake.pulls import SourceSettings
from chalicelib.mail import InMemoryMailer
from devstack import platforms
from devstack.emulator import LambdaContext
from devstack.events import scheduled_event
from devstack.platforms import LocalPlatforms
from platformstandins import eventbrite as eventbrite_standin
from platformstandins import google_ads as google_standin
from platformstandins import graph as graph_standin
from sapstandin.faults import Fault
from tests.integration.on_the_emulator import (
    RAW,
    RESOURCES,
    lambda_records,
    raw_keys,
    run_handler,
    settle,
    source_status,
)

# -- Google Ads ------------------------------------------------------------------------


def test_a_keyed_google_lead_is_queued_collected_and_normalized(stack: boto3.Session, client: Client) -> None:
    # GIVEN a lead keyed with the configured google_key
    lead = google_standin.make_lead(platforms.GOOGLE_KEY, email="kim.example@example.com")
    # WHEN Google posts it
    response = client.http.post(
        "/hooks/google-ads", headers={"Content-Type": "application/json"}, body=json.dumps(lead)
    )
    # THEN it is answered 200 at once, and the collector writes it as a google_ads raw file
    assert response.status_code == 200
    assert run_handler(stack, "webhooks", wiring.delivery_collector().handle) == {"batchItemFailures": []}
    [key] = raw_keys(stack, "incoming/google_ads/")
    stored = json.loads(stack.client("s3").get_object(Bucket=RAW, Key=key)["Body"].read())
    assert [item["lead_id"] for item in stored] == [lead["lead_id"]]
    assert "google_key" not in stored[0]  # a credential never reaches the raw bucket
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 1}
    assert source_status("google-ads")["webhooks_accepted"] == 1


def test_a_google_lead_with_a_wrong_key_gets_401_stores_nothing_and_is_counted(
    stack: boto3.Session, client: Client
) -> None:
    lead = google_standin.make_lead("not-the-key")
    response = client.http.post(
        "/hooks/google-ads", headers={"Content-Type": "application/json"}, body=json.dumps(lead)
    )
    assert response.status_code == 401
    assert lambda_records(stack, "webhooks") == []
    status = source_status("google-ads")
    assert status["webhooks_refused"] == 1 and status["refused_google_key"] == 1
    assert "not-the-key" not in json.dumps(status)


def test_many_google_leads_become_one_raw_file_and_a_retry_changes_nothing(
    stack: boto3.Session, client: Client
) -> None:
    # GIVEN 30 leads posted one by one, the first also re-sent by Google (a retry)
    leads = [google_standin.make_lead(platforms.GOOGLE_KEY) for _ in range(30)]
    for lead in [*leads, leads[0]]:
        assert (
            client.http.post(
                "/hooks/google-ads", headers={"Content-Type": "application/json"}, body=json.dumps(lead)
            ).status_code
            == 200
        )
    # WHEN the collector takes the batch
    collector = wiring.delivery_collector()
    assert collector.handle(lambda_records(stack, "webhooks")) == {"batchItemFailures": []}
    # THEN one raw file holds the 30 leads once each
    [key] = raw_keys(stack, "incoming/google_ads/")
    stored = json.loads(stack.client("s3").get_object(Bucket=RAW, Key=key)["Body"].read())
    assert sorted(item["lead_id"] for item in stored) == sorted(lead["lead_id"] for lead in leads)
    assert collector.last.duplicates == 1
    # AND a later retry of an already stored lead writes nothing
    client.http.post("/hooks/google-ads", headers={"Content-Type": "application/json"}, body=json.dumps(leads[5]))
    run_handler(stack, "webhooks", collector.handle)
    assert raw_keys(stack, "incoming/google_ads/") == [key]
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 30}


def test_a_disabled_source_refuses_its_webhooks(stack: boto3.Session, client: Client) -> None:
    wiring.source_states().put_settings(SourceSettings(name="google-ads", enabled=False), "test")
    lead = google_standin.make_lead(platforms.GOOGLE_KEY)
    response = client.http.post(
        "/hooks/google-ads", headers={"Content-Type": "application/json"}, body=json.dumps(lead)
    )
    assert response.status_code == 403
    assert lambda_records(stack, "webhooks") == []


# -- Meta ---------------------------------------------------------------------------------


def test_the_meta_handshake_echoes_the_challenge_only_for_the_verify_token(client: Client) -> None:
    ok = client.http.get(
        f"/hooks/meta?hub.mode=subscribe&hub.verify_token={platforms.META_VERIFY_TOKEN}&hub.challenge=1158201444"
    )
    assert ok.status_code == 200 and ok.body == b"1158201444"
    wrong = client.http.get("/hooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444")
    assert wrong.status_code == 403 and b"1158201444" not in wrong.body


def post_meta(client: Client, lead: dict[str, Any], secret: str = platforms.META_APP_SECRET) -> Any:
    body = json.dumps(graph_standin.leadgen_notification(lead, platforms.META_PAGE)).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": graph_standin.signature_header(body, secret)}
    return client.http.post("/hooks/meta", headers=headers, body=body)


def test_a_signed_meta_notification_is_fetched_from_the_graph_api_and_normalized(
    stack: boto3.Session, client: Client, local_platforms: LocalPlatforms
) -> None:
    # GIVEN a lead in the Graph API, and Meta's signed notification naming it
    lead = graph_standin.make_lead(platforms.META_FORM, datetime.now(UTC), email="robin.meta@example.com")
    local_platforms.graph.add_leads([lead])
    assert post_meta(client, lead).status_code == 200
    # WHEN the collector runs THEN the lead is read from Graph and stored as a Graph page
    assert run_handler(stack, "webhooks", wiring.delivery_collector().handle) == {"batchItemFailures": []}
    [key] = raw_keys(stack, "incoming/facebook_leads/")
    page = json.loads(stack.client("s3").get_object(Bucket=RAW, Key=key)["Body"].read())
    assert [item["id"] for item in page["data"]] == [lead["id"]]
    # AND the notification itself was kept before the fetch: ids only
    [kept] = raw_keys(stack, "deliveries/meta/")
    notification = stack.client("s3").get_object(Bucket=RAW, Key=kept)["Body"].read().decode()
    assert lead["id"] in notification and "@" not in notification
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 1}
    # AND Meta re-sending the same notification changes nothing
    assert post_meta(client, lead).status_code == 200
    run_handler(stack, "webhooks", wiring.delivery_collector().handle)
    assert raw_keys(stack, "incoming/facebook_leads/") == [key]


def test_a_wrongly_signed_meta_notification_gets_401_and_stores_nothing(
    stack: boto3.Session, client: Client, local_platforms: LocalPlatforms
) -> None:
    lead = graph_standin.make_lead(platforms.META_FORM, datetime.now(UTC))
    assert post_meta(client, lead, secret="not-the-app-secret").status_code == 401
    body = json.dumps(graph_standin.leadgen_notification(lead, platforms.META_PAGE)).encode()
    unsigned = client.http.post("/hooks/meta", headers={"Content-Type": "application/json"}, body=body)
    assert unsigned.status_code == 401
    assert lambda_records(stack, "webhooks") == []
    assert source_status("meta")["webhooks_refused"] == 2


def test_a_fetch_that_fails_three_times_is_parked_alerted_and_replayed(
    stack: boto3.Session, client: Client, local_platforms: LocalPlatforms, app_module: ModuleType
) -> None:
    # GIVEN a verified notification while the Graph API answers 503 to everything
    lead = graph_standin.make_lead(platforms.META_FORM, datetime.now(UTC))
    local_platforms.graph.add_leads([lead])
    local_platforms.graph.faults.add(Fault(kind="down", status=503, seconds=600))
    assert post_meta(client, lead).status_code == 200
    # WHEN the collector tries three times (the webhook queue's maxReceiveCount)
    collector = wiring.delivery_collector()
    for _ in range(RESOURCES.queue("webhooks").max_receive_count):
        records = lambda_records(stack, "webhooks", wait=10)
        assert collector.handle(records)["batchItemFailures"]
    # THEN the delivery is parked in the DLQ, and dlq_watch mails about it
    assert lambda_records(stack, "webhooks", wait=5) == []
    mailer = InMemoryMailer()
    wiring.override(mailer=mailer)
    watched = app_module.dlq_watch(scheduled_event("dlq-watch"), LambdaContext("dlq_watch"))
    assert watched["dead_letter_messages"][RESOURCES.queue("webhooks").dead_letter.name] == 1
    assert mailer.sent and "webhooks-dlq" in mailer.sent[0][1]
    # AND once Graph is back, a replay brings the lead home
    local_platforms.graph.faults.clear()
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    admin = {"Authorization": f"Bearer {tokens.create('ops', 'admin', 1).token}"}
    assert json.loads(client.http.post("/sources/replay", headers=admin).body) == {"replayed": 1}
    assert run_handler(stack, "webhooks", collector.handle) == {"batchItemFailures": []}
    [key] = raw_keys(stack, "incoming/facebook_leads/")
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 1}


# -- Eventbrite -------------------------------------------------------------------------------


def post_eventbrite(client: Client, api_url: str, key: str = platforms.EVENTBRITE_WEBHOOK_KEY) -> Any:
    payload = eventbrite_standin.webhook_payload("attendee.updated", api_url, "https://example.com/hooks", "4321", "77")
    return client.http.post(
        f"/hooks/eventbrite?key={key}", headers={"Content-Type": "application/json"}, body=json.dumps(payload)
    )


def test_an_eventbrite_notification_is_fetched_from_its_api_url(
    stack: boto3.Session, client: Client, local_platforms: LocalPlatforms
) -> None:
    attendee = eventbrite_standin.make_attendee(
        "700000123", platforms.EVENTBRITE_EVENT, changed=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    local_platforms.eventbrite.add_attendees([attendee])
    api_url = f"{local_platforms.eventbrite_url}/v3/events/{platforms.EVENTBRITE_EVENT}/attendees/700000123/"
    assert post_eventbrite(client, api_url).status_code == 200
    assert run_handler(stack, "webhooks", wiring.delivery_collector().handle) == {"batchItemFailures": []}
    [key] = raw_keys(stack, "incoming/eventbrite/")
    page = json.loads(stack.client("s3").get_object(Bucket=RAW, Key=key)["Body"].read())
    assert [item["id"] for item in page["attendees"]] == ["700000123"]
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 1}


def test_eventbrite_refuses_a_wrong_key_a_foreign_host_and_an_unfollowed_event(
    stack: boto3.Session, client: Client, local_platforms: LocalPlatforms
) -> None:
    ours = f"{local_platforms.eventbrite_url}/v3/events/{platforms.EVENTBRITE_EVENT}/attendees/1/"
    assert post_eventbrite(client, ours, key="guess").status_code == 401
    assert (
        post_eventbrite(
            client, f"http://169.254.169.254/v3/events/{platforms.EVENTBRITE_EVENT}/attendees/1/"
        ).status_code
        == 403
    )
    assert post_eventbrite(client, f"{local_platforms.eventbrite_url}/v3/events/999/attendees/1/").status_code == 403
    assert lambda_records(stack, "webhooks") == []
    status = source_status("eventbrite")
    assert status["refused_eventbrite_key"] == 1 and status["webhooks_refused"] == 3

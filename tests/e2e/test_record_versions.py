"""A re-sent Eventbrite attendee on the running stack: one document with its versions, one
row in the lake's current view, and in SAP the refund added to the purchase, each once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from chalicelib.normalize.normalizer import document_id
from tests.e2e.conftest import RunningStack

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "eventbrite"
ATTENDEE = "3100000001"
OWN_ID = "3199000001"  # the sample attendee under an id no other test delivers


def _own(name: str) -> bytes:
    """A sample file with the attendee's id and email replaced by this test's own (another
    test may erase the sample's people)."""
    text = (SAMPLES / name).read_text("utf-8")
    return text.replace(f'"{ATTENDEE}"', f'"{OWN_ID}"').replace("lukas.muller@", "versions.e2e@").encode()


def _push(stack: RunningStack, content: bytes, auth: dict[str, str]) -> None:
    response = requests.post(
        f"{stack.api_url}/ingest/eventbrite",
        data=content,
        timeout=30,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def _sap_interactions_of(stack: RunningStack, document: str) -> list[dict[str, Any]]:
    secret: Any = stack.client("secretsmanager")
    base_url = json.loads(secret.get_secret_value(SecretId="data-engine/local/sap")["SecretString"])["base_url"]
    records = requests.get(f"{base_url}/_standin/records", timeout=30).json()
    return [i for i in records["interactions"] if i["InteractionSourceObject"] == document]


def test_a_refund_resent_after_the_purchase_is_a_new_version_and_one_more_interaction(
    devstack: RunningStack, auth: dict[str, str]
) -> None:
    # GIVEN the attendee page (a paid ticket), delivered and settled
    _push(devstack, _own("attendees-page-1.json"), auth)
    devstack.wait_until_idle()
    document = document_id("eventbrite", OWN_ID)
    assert [i["InteractionType"] for i in _sap_interactions_of(devstack, document)] == ["TICKET_PURCHASE"]

    # WHEN Eventbrite re-sends the attendee, refunded, and the page arrives once more
    _push(devstack, _own("attendee-resent-refunded.json"), auth)
    devstack.wait_until_idle()
    _push(devstack, _own("attendees-page-1.json") + b"\n", auth)  # another file, older news
    devstack.wait_until_idle()

    # THEN it is one document with two versions, the refund current
    answer = requests.get(f"{devstack.api_url}/documents/{document}", headers=auth, timeout=30).json()
    assert answer["state"] == "DELIVERED"
    assert [(v["interaction_type"], v["current"]) for v in answer["versions"]] == [
        ("refund", True),
        ("ticket_purchase", False),
    ]
    # ... and SAP holds the purchase and the refund, each once
    interactions = _sap_interactions_of(devstack, document)
    assert sorted(i["InteractionType"] for i in interactions) == ["REFUND", "TICKET_PURCHASE"]

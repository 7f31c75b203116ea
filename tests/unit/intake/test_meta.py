"""Meta's webhook edge: the verification handshake, the signature, the `leadgen` changes."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from chalicelib.intake.exceptions import DeliveryRefused, MalformedDelivery, PlatformRefused
from chalicelib.intake.meta import (
    DEFAULT_GRAPH_URL,
    LeadgenChange,
    from_secret,
    leadgen_changes,
    verify_signature,
    verify_subscription,
)
from chalicelib.intake.platform_http import PlatformHttp

VERIFY_TOKEN = "meatyhamhock"
APP_SECRET = "0123456789abcdef0123456789abcdef"


def documented_notification() -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [
            {
                "id": "153125381133",
                "time": 1764496800,
                "changes": [
                    {
                        "field": "leadgen",
                        "value": {
                            "ad_id": "444444444",
                            "form_id": "444444444444",
                            "leadgen_id": "444444444444444",
                            "created_time": 1764496800,
                            "page_id": "153125381133",
                            "adgroup_id": "44444444444",
                        },
                    }
                ],
            }
        ],
    }


def signed(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- the handshake --------------------------------------------------------------------------


def test_the_handshake_answers_the_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}

    assert verify_subscription(params, VERIFY_TOKEN) == "1158201444"


def test_the_handshake_refuses_a_wrong_token() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guess"}

    with pytest.raises(DeliveryRefused) as refused:
        verify_subscription(params, VERIFY_TOKEN)

    assert (refused.value.status, refused.value.reason) == (403, "meta_verify_token")


@pytest.mark.parametrize("mode", ["unsubscribe", "", None])
def test_the_handshake_refuses_another_mode(mode: str | None) -> None:
    params = {"hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}
    if mode is not None:
        params["hub.mode"] = mode

    with pytest.raises(DeliveryRefused) as refused:
        verify_subscription(params, VERIFY_TOKEN)

    assert (refused.value.status, refused.value.reason) == (403, "meta_verify_token")


def test_the_handshake_refuses_everything_when_no_token_is_configured() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}

    with pytest.raises(DeliveryRefused):
        verify_subscription(params, "")


# -- the signature --------------------------------------------------------------------------


def test_a_correct_signature_passes() -> None:
    body = json.dumps(documented_notification()).encode()

    verify_signature(body, signed(body), APP_SECRET)


def test_a_signature_in_upper_case_hex_passes() -> None:
    body = b'{"object":"page","entry":[]}'

    verify_signature(body, "sha256=" + signed(body)[7:].upper(), APP_SECRET)


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=", "sha256=not-hex", "sha256=" + "z" * 64])
def test_a_missing_or_unparseable_signature_is_refused(header: str | None) -> None:
    with pytest.raises(DeliveryRefused) as refused:
        verify_signature(b"{}", header, APP_SECRET)

    assert (refused.value.status, refused.value.reason) == (401, "meta_signature_missing")


def test_a_signature_with_another_secret_is_refused() -> None:
    body = json.dumps(documented_notification()).encode()

    with pytest.raises(DeliveryRefused) as refused:
        verify_signature(body, signed(body, "another-secret"), APP_SECRET)

    assert (refused.value.status, refused.value.reason) == (401, "meta_signature")


def test_a_tampered_body_is_refused() -> None:
    body = json.dumps(documented_notification()).encode()
    header = signed(body)
    tampered = body.replace(b"444444444444444", b"444444444444445")

    with pytest.raises(DeliveryRefused) as refused:
        verify_signature(tampered, header, APP_SECRET)

    assert (refused.value.status, refused.value.reason) == (401, "meta_signature")


# -- the leadgen changes --------------------------------------------------------------------


def test_the_documented_notification_gives_its_leadgen_change() -> None:
    assert leadgen_changes(documented_notification()) == [
        LeadgenChange(
            leadgen_id="444444444444444",
            form_id="444444444444",
            page_id="153125381133",
            ad_id="444444444",
            created_time=1764496800,
        )
    ]


def test_numeric_ids_become_strings_and_other_fields_are_ignored() -> None:
    # GIVEN one entry with a leadgen change in numbers and a change of another Page field
    payload = documented_notification()
    changes = payload["entry"][0]["changes"]
    changes[0]["value"] = {"leadgen_id": 444444444444444, "form_id": 444444444444, "created_time": 1764496800}
    changes.append({"field": "feed", "value": {"item": "status", "verb": "add"}})

    # WHEN
    found = leadgen_changes(payload)

    # THEN the page id comes from the entry
    assert found == [
        LeadgenChange(
            leadgen_id="444444444444444",
            form_id="444444444444",
            page_id="153125381133",
            ad_id=None,
            created_time=1764496800,
        )
    ]


def test_several_entries_give_every_leadgen_change_in_order() -> None:
    first, second = documented_notification(), documented_notification()
    second["entry"][0]["changes"][0]["value"]["leadgen_id"] = "555555555555555"
    payload = {"object": "page", "entry": first["entry"] + second["entry"]}

    assert [change.leadgen_id for change in leadgen_changes(payload)] == ["444444444444444", "555555555555555"]


def test_an_entry_without_changes_gives_nothing() -> None:
    assert leadgen_changes({"object": "page", "entry": [{"id": "1", "time": 1}]}) == []


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "page",
        {"entry": []},
        {"object": "user", "entry": []},
        {"object": "page"},
        {"object": "page", "entry": {"id": "1"}},
        {"object": "page", "entry": ["x"]},
        {"object": "page", "entry": [{"id": "1", "changes": {"field": "leadgen"}}]},
        {"object": "page", "entry": [{"id": "1", "changes": [{"value": {}}]}]},
        {"object": "page", "entry": [{"id": "1", "changes": [{"field": "leadgen", "value": "444"}]}]},
        {"object": "page", "entry": [{"id": "1", "changes": [{"field": "leadgen", "value": {"form_id": "1"}}]}]},
        {"object": "page", "entry": [{"id": "1", "changes": [{"field": "leadgen", "value": {"leadgen_id": "a/b"}}]}]},
    ],
)
def test_a_payload_not_of_the_documented_shape_is_malformed(payload: Any) -> None:
    with pytest.raises(MalformedDelivery) as malformed:
        leadgen_changes(payload)

    assert (malformed.value.status, malformed.value.reason) == (400, "meta_payload")


# -- the secret -----------------------------------------------------------------------------


def test_the_graph_client_reads_the_page_token_and_defaults_to_the_current_graph_version() -> None:
    api = from_secret({"page_access_token": "token", "app_secret": "s", "verify_token": "v"}, PlatformHttp("meta"))

    assert api.graph_url == DEFAULT_GRAPH_URL


def test_a_secret_without_a_page_token_is_refused() -> None:
    with pytest.raises(PlatformRefused):
        from_secret({"app_secret": "s"}, PlatformHttp("meta"))

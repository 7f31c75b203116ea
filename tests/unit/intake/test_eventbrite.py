"""Eventbrite deliveries: their shape, the guard on `api_url`, and which attendees are ours."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.intake.eventbrite import (
    ApiTarget,
    EventbriteDelivery,
    ScopeCursor,
    allowed,
    check_api_url,
    from_secret,
    parse_delivery,
    refuse_unfollowed_event,
    target_for,
)
from chalicelib.intake.exceptions import DeliveryRefused, InvalidSourceSettings, MalformedDelivery
from chalicelib.intake.platform_http import PlatformHttp

BASE = "https://www.eventbriteapi.com/v3/"


def delivery(action: str = "order.placed", api_url: str = f"{BASE}orders/8700000001/") -> dict[str, Any]:
    return {
        "config": {
            "action": action,
            "endpoint_url": "https://engine.example.com/intake/eventbrite",
            "user_id": "123456789012",
            "webhook_id": "274022",
        },
        "api_url": api_url,
    }


# -- parse_delivery -------------------------------------------------------------------------


def test_it_reads_a_documented_delivery() -> None:
    parsed = parse_delivery(delivery())

    assert parsed == EventbriteDelivery(
        action="order.placed", api_url=f"{BASE}orders/8700000001/", webhook_id="274022", user_id="123456789012"
    )
    assert not parsed.is_test
    assert parsed.names_attendees


def test_it_recognises_the_test_ping() -> None:
    ping = delivery(action="test", api_url=f"{BASE}users/123456789012/")

    parsed = parse_delivery(ping)

    assert parsed.is_test
    assert target_for(parsed) is None


def test_a_test_ping_without_api_url_is_still_a_ping() -> None:
    ping = delivery(action="test")
    del ping["api_url"]

    assert parse_delivery(ping).is_test


def test_numeric_ids_in_config_are_read_as_text() -> None:
    body = delivery()
    body["config"]["webhook_id"] = 274022
    del body["config"]["user_id"]

    parsed = parse_delivery(body)

    assert (parsed.webhook_id, parsed.user_id) == ("274022", None)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "order.placed",
        {},
        {"api_url": f"{BASE}orders/1/"},
        {"config": "order.placed", "api_url": f"{BASE}orders/1/"},
        {"config": {}, "api_url": f"{BASE}orders/1/"},
        {"config": {"action": 7}, "api_url": f"{BASE}orders/1/"},
        {"config": {"action": ""}, "api_url": f"{BASE}orders/1/"},
        {"config": {"action": "order.placed"}},
        {"config": {"action": "order.placed"}, "api_url": 12},
        {"config": {"action": "order.placed"}, "api_url": ""},
        {"config": {"action": "order.placed", "webhook_id": {"x": 1}}, "api_url": f"{BASE}orders/1/"},
        {"config": {"action": "order.placed", "user_id": True}, "api_url": f"{BASE}orders/1/"},
    ],
)
def test_it_refuses_a_body_of_another_shape(payload: Any) -> None:
    with pytest.raises(MalformedDelivery) as refused:
        parse_delivery(payload)

    assert (refused.value.status, refused.value.reason) == (400, "eventbrite_payload")


# -- check_api_url: what is accepted ----------------------------------------------------------


def test_it_accepts_an_order_url_and_rebuilds_it() -> None:
    assert check_api_url(f"{BASE}orders/8700000001/", BASE) == ApiTarget(
        kind="order", url=f"{BASE}orders/8700000001/", order_id="8700000001"
    )


def test_it_accepts_an_event_scoped_attendee_url() -> None:
    target = check_api_url(f"{BASE}events/912345678901/attendees/3100000003/", BASE)

    assert (target.kind, target.event_id, target.attendee_id) == ("attendee", "912345678901", "3100000003")
    assert target.url == f"{BASE}events/912345678901/attendees/3100000003/"


def test_it_accepts_an_event_url() -> None:
    target = check_api_url(f"{BASE}events/912345678901/", BASE)

    assert (target.kind, target.event_id) == ("event", "912345678901")


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.eventbriteapi.com/v3/orders/42",  # no trailing slash
        "HTTPS://WWW.EVENTBRITEAPI.COM/v3/orders/42/",  # scheme and host are case-insensitive
        "https://www.eventbriteapi.com:443/v3/orders/42/",  # the default port, spelled out
    ],
)
def test_the_url_it_returns_is_rebuilt_from_the_base(variant: str) -> None:
    assert check_api_url(variant, BASE).url == f"{BASE}orders/42/"


def test_it_follows_a_configured_base_such_as_a_stand_in() -> None:
    target = check_api_url("http://127.0.0.1:8731/v3/orders/42/", "http://127.0.0.1:8731/v3/")

    assert target.url == "http://127.0.0.1:8731/v3/orders/42/"


# -- check_api_url: what is refused -----------------------------------------------------------


@pytest.mark.parametrize(
    "api_url",
    [
        "https://evil.example.com/v3/orders/42/",  # another host
        "https://eventbriteapi.com/v3/orders/42/",  # a sibling host
        "https://www.eventbriteapi.com.evil.com/v3/orders/42/",  # a suffix trick
        "https://www.eventbriteapi.com./v3/orders/42/",  # a trailing dot
        "http://www.eventbriteapi.com/v3/orders/42/",  # http instead of https
        "ftp://www.eventbriteapi.com/v3/orders/42/",
        "https://www.eventbriteapi.com:8443/v3/orders/42/",  # another port
        "https://www.eventbriteapi.com:0/v3/orders/42/",
        "https://www.eventbriteapi.com:99999/v3/orders/42/",  # not a port
        "https://www.eventbriteapi.com@evil.com/",  # userinfo
        "https://user:pw@www.eventbriteapi.com/v3/orders/42/",
        "https://evil.com#@www.eventbriteapi.com/v3/orders/42/",
        "https://evil.com\\@www.eventbriteapi.com/v3/orders/42/",  # a backslash
        "https://www.eventbriteapi.com\\evil.com/v3/orders/42/",
        "https://www.eventbriteapi.com/v3/orders/42/../../../internal/",  # dot segments
        "https://www.eventbriteapi.com/v3/events/1/attendees/../../../orders/42/",
        "https://www.eventbriteapi.com/v3/./orders/42/",
        "https://www.eventbriteapi.com/v3/orders%2F42/",  # an encoded slash
        "https://www.eventbriteapi.com/v3/orders/42%2F..%2F..%2F/",
        "https://www.eventbriteapi.com/v3/%6frders/42/",  # any percent-encoding
        "https://www.eventbriteapi.com/v3/orders/42/#fragment",
        "https://www.eventbriteapi.com/v3/orders/42/?redirect=https://evil.com/",  # a query
        "https://www.eventbriteapi.com/v3/orders/42/?",
        "https://www.eventbriteapi.com/v3/orders/42/;jsessionid=1",
        "https://www.eventbriteapi.com/v2/orders/42/",  # not under the base path
        "https://www.eventbriteapi.com/orders/42/",
        "https://www.eventbriteapi.com/v3/users/me/",  # not an attendee, order or event
        "https://www.eventbriteapi.com/v3/orders/42/attendees/",
        "https://www.eventbriteapi.com/v3/orders/abc/",  # ids are digits
        "https://www.eventbriteapi.com/v3/orders/-42/",
        "https://www.eventbriteapi.com/v3/orders//42/",
        "https://www.eventbriteapi.com/v3/events/1/attendees/",  # a list, not an object
        "https://93.184.216.34/v3/orders/42/",  # an IP address
        "https://[::1]/v3/orders/42/",
        "https://127.0.0.1/v3/orders/42/",
        "https://www.eventbriteapi.com/v3/orders/42/\n",  # whitespace urlsplit would drop
        "https://www.eventbrite\tapi.com/v3/orders/42/",
        " https://www.eventbriteapi.com/v3/orders/42/",
        "//www.eventbriteapi.com/v3/orders/42/",  # scheme-relative
        "/v3/orders/42/",
        "www.eventbriteapi.com/v3/orders/42/",
        "",
        "https://www.eventbriteapi.com/v3/orders/" + "4" * 5000 + "/",
    ],
)
def test_it_refuses_any_other_url(api_url: str) -> None:
    with pytest.raises(DeliveryRefused) as refused:
        check_api_url(api_url, BASE)

    assert (refused.value.status, refused.value.reason) == (403, "eventbrite_api_url")
    assert "evil" not in str(refused.value)  # the message names no part of the input


def test_the_stand_in_base_refuses_the_public_host() -> None:
    with pytest.raises(DeliveryRefused):
        check_api_url(f"{BASE}orders/42/", "http://127.0.0.1:8731/v3/")


def test_an_attendee_action_must_name_an_attendee_url() -> None:
    parsed = parse_delivery(delivery(action="attendee.updated", api_url=f"{BASE}orders/42/"))

    with pytest.raises(DeliveryRefused) as refused:
        target_for(parsed, BASE)

    assert refused.value.reason == "eventbrite_api_url"


def test_an_order_action_names_its_order() -> None:
    parsed = parse_delivery(delivery(action="order.refunded", api_url=f"{BASE}orders/42/"))

    target = target_for(parsed, BASE)

    assert target is not None and target.kind == "order"


def test_actions_without_attendees_are_not_read() -> None:
    parsed = parse_delivery(delivery(action="event.published", api_url=f"{BASE}events/1/"))

    assert target_for(parsed, BASE) is None


# -- which events are ours --------------------------------------------------------------------


def test_an_event_url_of_an_unfollowed_event_is_refused_at_once() -> None:
    target = check_api_url(f"{BASE}events/2/attendees/3/", BASE)

    with pytest.raises(DeliveryRefused) as refused:
        refuse_unfollowed_event(target, events={"1"}, organization=None)

    assert (refused.value.status, refused.value.reason) == (403, "eventbrite_event")


def test_a_followed_event_or_an_order_url_passes_the_early_check() -> None:
    refuse_unfollowed_event(check_api_url(f"{BASE}events/1/attendees/3/", BASE), events={"1"}, organization=None)
    refuse_unfollowed_event(check_api_url(f"{BASE}orders/42/", BASE), events={"1"}, organization=None)
    # with an organization, the event is checked once its attendee is fetched
    refuse_unfollowed_event(check_api_url(f"{BASE}events/2/attendees/3/", BASE), events=(), organization="77")


def test_attendees_of_followed_events_are_kept() -> None:
    assert allowed({"id": "3", "event_id": "1"}, events={"1"})
    assert not allowed({"id": "3", "event_id": "2"}, events={"1"})
    assert not allowed({"id": "3"}, events={"1"})
    assert not allowed({"id": "3", "event_id": 1}, events={"1"})


def test_attendees_of_the_followed_organization_are_kept() -> None:
    expanded = {"id": "3", "event_id": "2", "event": {"id": "2", "organization_id": "77"}}

    assert allowed(expanded, events=(), organization="77")
    assert not allowed(expanded, events=(), organization="78")
    assert allowed({"id": "3", "event_id": "2"}, events=(), organization="77", organization_events={"2"})
    assert not allowed({"id": "3", "event_id": "2"}, events=(), organization="77")
    assert not allowed(expanded, events=())  # no organization followed


# -- the secret and the cursor ------------------------------------------------------------------


def test_the_secret_gives_a_token_and_a_base() -> None:
    api = from_secret({"oauth_token": "t0k3n"}, PlatformHttp("eventbrite"))

    assert api.api_base == BASE
    assert from_secret({"oauth_token": "t", "api_url": "http://127.0.0.1:1/v3"}, PlatformHttp("x")).api_base == (
        "http://127.0.0.1:1/v3/"
    )
    with pytest.raises(InvalidSourceSettings):
        from_secret({"api_url": BASE}, PlatformHttp("eventbrite"))


def test_the_cursor_keeps_what_it_stored_at_its_second() -> None:
    # GIVEN a cursor at 10:00:00 that stored attendee 1 as it was then
    first = {"id": "1", "changed": "2026-11-30T10:00:00Z", "checked_in": False}
    cursor = ScopeCursor()
    cursor.start()
    cursor.see(first)
    cursor.finish()
    cursor = ScopeCursor.from_json(cursor.to_json())
    cursor.start()

    # THEN the inclusive bound's repeat is known, a change within the second or later is not
    assert cursor.is_stored(dict(first))
    assert not cursor.is_stored({**first, "checked_in": True})
    assert not cursor.is_stored({"id": "2", "changed": "2026-11-30T10:00:00Z"})
    assert not cursor.is_stored({**first, "changed": "2026-11-30T10:00:01Z"})

    # WHEN a pull sees another attendee in the same second and an older one
    cursor.see({"id": "2", "changed": "2026-11-30T10:00:00.400Z"})
    cursor.see({"id": "3", "changed": "2026-11-30T09:00:00Z"})
    cursor.finish()

    # THEN both of that second are kept; the older one moves nothing
    saved = cursor.to_json()
    assert (saved["changed_since"], list(saved["at_since"])) == ("2026-11-30T10:00:00Z", ["1", "2"])


def test_a_cursor_between_pages_keeps_its_continuation() -> None:
    cursor = ScopeCursor(changed_since="2026-11-30T10:00:00Z")
    cursor.start()
    cursor.see({"id": "7", "changed": "2026-11-30T12:00:00Z"})
    cursor.continuation = "abc"

    resumed = ScopeCursor.from_json(cursor.to_json())

    assert (resumed.continuation, resumed.newest, list(resumed.at_newest)) == ("abc", "2026-11-30T12:00:00Z", ["7"])
    assert resumed.changed_since == "2026-11-30T10:00:00Z"

"""Amazon pulls: access-token caching, the report window, line counts, the secret."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.intake.amazon import (
    DEFAULT_ENDPOINT,
    DEFAULT_TOKEN_URL,
    MAX_WINDOW,
    LoginWithAmazon,
    count_lines,
    from_secret,
    iso,
    report_window,
)
from chalicelib.intake.exceptions import InvalidSourceSettings, PlatformRefused
from chalicelib.intake.platform_http import PlatformHttp
from platformstandins.base import Served
from platformstandins.spapi import SellingPartnerStandIn

NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SellingPartnerStandIn, Served]]:
    standin = SellingPartnerStandIn(expires_in=3600)
    with Served(standin) as server:
        yield standin, server


@pytest.fixture
def standin(served: tuple[SellingPartnerStandIn, Served]) -> SellingPartnerStandIn:
    served[0].reset()
    return served[0]


def lwa(served: tuple[SellingPartnerStandIn, Served], clock: Clock, **overrides: str) -> LoginWithAmazon:
    standin, server = served
    credentials = {
        "client_id": standin.client_id,
        "client_secret": standin.client_secret,
        "refresh_token": standin.refresh_token,
        **overrides,
    }
    return LoginWithAmazon(PlatformHttp("amazon"), f"{server.url}/auth/o2/token", clock=clock, **credentials)


def test_it_reuses_the_access_token_until_shortly_before_it_expires(
    standin: SellingPartnerStandIn, served: tuple[SellingPartnerStandIn, Served]
) -> None:
    # GIVEN a token valid for an hour
    clock = Clock()
    login = lwa(served, clock)
    first = login.access_token()
    # WHEN asked again within the hour (less the safety margin) THEN it is the same token
    clock.now += 3600 - 61
    assert login.access_token() == first
    assert standin.stats["token_exchange"] == 1
    # WHEN less than a minute of it is left THEN a new one is fetched
    clock.now += 2
    assert login.access_token() != first
    assert standin.stats["token_exchange"] == 2


def test_invalidate_forces_a_new_exchange(
    standin: SellingPartnerStandIn, served: tuple[SellingPartnerStandIn, Served]
) -> None:
    login = lwa(served, Clock())
    first = login.access_token()
    login.invalidate()
    assert login.access_token() != first
    assert login.exchanges == 2


def test_a_wrong_refresh_token_is_a_refusal_naming_only_the_oauth_code(
    standin: SellingPartnerStandIn, served: tuple[SellingPartnerStandIn, Served]
) -> None:
    login = lwa(served, Clock(), refresh_token="Atzr|revoked")
    with pytest.raises(PlatformRefused) as refused:
        login.access_token()
    assert refused.value.status == 400
    assert "invalid_grant" in str(refused.value)
    assert "Atzr" not in str(refused.value)


def test_a_wrong_client_secret_is_a_refusal(
    standin: SellingPartnerStandIn, served: tuple[SellingPartnerStandIn, Served]
) -> None:
    with pytest.raises(PlatformRefused) as refused:
        lwa(served, Clock(), client_secret="wrong").access_token()
    assert refused.value.status == 401
    assert "invalid_client" in str(refused.value)


def test_the_first_window_reaches_a_day_back_and_stops_five_minutes_ago() -> None:
    start, end = report_window(None, {}, NOW)
    assert start == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 1, 11, 55, tzinfo=UTC)


def test_the_window_starts_where_the_last_report_ended_and_honours_the_options() -> None:
    cursor = {"window_end": "2026-12-01T09:30:00Z"}
    start, end = report_window(cursor, {"lag_minutes": 30, "window_days": 7}, NOW)
    assert (iso(start), iso(end)) == ("2026-12-01T09:30:00Z", "2026-12-01T11:30:00Z")


def test_a_first_window_follows_the_window_days_option() -> None:
    start, _ = report_window({}, {"window_days": 3}, NOW)
    assert iso(start) == "2026-11-28T12:00:00Z"


def test_a_long_gap_is_caught_up_a_month_at_a_time() -> None:
    start, end = report_window({"window_end": "2026-01-01T00:00:00Z"}, {}, NOW)
    assert end - start == MAX_WINDOW


def test_a_window_right_after_the_last_is_empty() -> None:
    _, end = report_window(None, {}, NOW)
    start, end_again = report_window({"window_end": iso(end)}, {}, NOW)
    assert end_again - start < timedelta(minutes=1)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(("text", "lines"), [(b"h\ta\n1\t2\n3\t4\n", 2), (b"h\ta\n1\t2\n3\t4", 2), (b"h\ta\n", 0)])
def test_it_counts_the_data_lines_of_a_report(text: bytes, lines: int, compressed: bool) -> None:
    body = gzip.compress(text) if compressed else text
    assert count_lines(body, compressed) == lines


def test_the_secret_names_the_credentials_and_defaults_to_the_eu_endpoint() -> None:
    api = from_secret({"client_id": "c", "client_secret": "s", "refresh_token": "r"}, PlatformHttp("amazon"))
    assert api.endpoint == DEFAULT_ENDPOINT == "https://sellingpartnerapi-eu.amazon.com"
    assert api.lwa.token_url == DEFAULT_TOKEN_URL == "https://api.amazon.com/auth/o2/token"
    assert (api.lwa.client_id, api.lwa.client_secret, api.lwa.refresh_token) == ("c", "s", "r")


def test_a_secret_without_a_refresh_token_is_unusable_settings() -> None:
    with pytest.raises(InvalidSourceSettings, match="refresh_token"):
        from_secret({"client_id": "c", "client_secret": "s"}, PlatformHttp("amazon"))

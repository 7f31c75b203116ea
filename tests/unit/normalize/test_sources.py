from __future__ import annotations

import pytest

from chalicelib.normalize.exceptions import MalformedRawKey, UnknownSource
from chalicelib.normalize.sources import SOURCES, source_from_key


def test_every_platform_of_the_issue_has_a_connector() -> None:
    assert set(SOURCES) == {
        "eventbrite",
        "facebook_leads",
        "facebook_leads_csv",
        "google_ads",
        "amazon_orders",
        "ticketshop",
        "canonical",
    }


@pytest.mark.parametrize(
    "key, source",
    [
        ("incoming/eventbrite/2026/11/28/abc123.json", "eventbrite"),
        ("incoming/canonical/2026/01/02/f-1_x.jsonl.gz", "canonical"),
        ("incoming/amazon_orders/2026/11/28/0a1b.txt", "amazon_orders"),
    ],
)
def test_it_knows_the_source_from_the_raw_key(key: str, source: str) -> None:
    assert source_from_key(key) == source


def test_it_refuses_a_source_without_connector() -> None:
    with pytest.raises(UnknownSource):
        source_from_key("incoming/myspace/2026/11/28/abc.json")


@pytest.mark.parametrize(
    "key",
    [
        "incoming/eventbrite/abc.json",
        "other/eventbrite/2026/11/28/a.json",
        "incoming/eventbrite/2026/11/28/a",
        "incoming/eventbrite/2026/11/28/../x.json",
    ],
)
def test_it_refuses_keys_of_another_layout(key: str) -> None:
    with pytest.raises(MalformedRawKey):
        source_from_key(key)

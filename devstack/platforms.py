"""The platforms on the local stack: their API stand-ins, their secrets, demo data, settings.

`LocalPlatforms` serves Meta's Graph API, Eventbrite's API and Amazon's SP-API (with Login
with Amazon) from `platformstandins`, each on a free loopback port; the declared platform
secrets point at them (as an operator's would point at the real hosts), and each intake
source is enabled following the demo form, event and marketplace. The demo data is a few
made-up people per platform, so one pull per platform brings records home.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from platformstandins import eventbrite as eventbrite_standin
from platformstandins import graph as graph_standin
from platformstandins import spapi as spapi_standin
from platformstandins.base import Served

META_FORM = "1234567890123456"
META_PAGE = "104998877665544"
EVENTBRITE_ORGANIZATION = "287654321098"
EVENTBRITE_EVENT = "912345678901"
AMAZON_MARKETPLACE = "A1PA6795UKMFR9"  # amazon.de
GOOGLE_KEY = "local-google-key"
META_APP_SECRET = "local-meta-app-secret"
META_VERIFY_TOKEN = "local-meta-verify-token"
EVENTBRITE_WEBHOOK_KEY = "local-eventbrite-webhook-key"

SETTINGS: dict[str, dict[str, Any]] = {
    "google-ads": {"enabled": True},
    "meta": {"enabled": True, "follow": [META_FORM], "every_minutes": 60},
    "eventbrite": {"enabled": True, "follow": [EVENTBRITE_EVENT], "every_minutes": 60},
    "amazon": {"enabled": True, "follow": [AMAZON_MARKETPLACE], "every_minutes": 60, "options": {"window_days": 2}},
}


class LocalPlatforms:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.graph = graph_standin.GraphStandIn()
        self.eventbrite = eventbrite_standin.EventbriteStandIn()
        self.spapi = spapi_standin.SellingPartnerStandIn(polls_to_done=2)
        self.served = [Served(app, host) for app in (self.graph, self.eventbrite, self.spapi)]

    def start(self) -> LocalPlatforms:
        for served in self.served:
            served.start()
        return self

    def stop(self) -> None:
        for served in self.served:
            served.stop()

    @property
    def graph_url(self) -> str:
        return self.served[0].url

    @property
    def eventbrite_url(self) -> str:
        return self.served[1].url

    @property
    def spapi_url(self) -> str:
        return self.served[2].url

    def secret_values(self) -> dict[str, str]:
        """The platform secrets' values (by declared key), pointing at the stand-ins."""
        return {
            "google-ads": json.dumps({"google_key": GOOGLE_KEY}),
            "meta": json.dumps(
                {
                    "app_secret": META_APP_SECRET,
                    "verify_token": META_VERIFY_TOKEN,
                    "page_access_token": graph_standin.DEFAULT_TOKEN,
                    "graph_url": f"{self.graph_url}/{graph_standin.VERSION}",
                }
            ),
            "eventbrite": json.dumps(
                {
                    "oauth_token": eventbrite_standin.DEFAULT_TOKEN,
                    "webhook_key": EVENTBRITE_WEBHOOK_KEY,
                    "api_url": f"{self.eventbrite_url}/v3/",
                }
            ),
            "amazon-sp-api": json.dumps(
                {
                    "client_id": self.spapi.client_id,
                    "client_secret": self.spapi.client_secret,
                    "refresh_token": self.spapi.refresh_token,
                    "endpoint": self.spapi_url,
                    "token_url": f"{self.spapi_url}/auth/o2/token",
                }
            ),
        }

    def seed_demo_data(self, now: datetime | None = None) -> None:
        """A few made-up people per platform, created in the last hours (what a pull finds)."""
        now = now or datetime.now(UTC)
        self.graph.add_leads(
            [
                graph_standin.make_lead(
                    META_FORM, now - timedelta(hours=3 - index), email=f"meta.lead{index}@example.com"
                )
                for index in range(3)
            ]
        )
        self.eventbrite.add_organization(EVENTBRITE_ORGANIZATION, [EVENTBRITE_EVENT])
        stamp = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.eventbrite.add_attendees(
            [
                eventbrite_standin.make_attendee(
                    str(700000000 + index), EVENTBRITE_EVENT, changed=stamp, gross_minor=4900 * (index % 2)
                )
                for index in range(3)
            ]
        )
        self.spapi.add_orders(
            [
                spapi_standin.make_order_row(
                    purchase_date=(now - timedelta(hours=5 - index)).isoformat(timespec="seconds")
                )
                for index in range(3)
            ]
        )


def put_source_settings(states: Any) -> None:
    """Enable each intake source, following the demo form, event and marketplace."""
    from chalicelib.intake.source_states import settings_from

    for name, body in SETTINGS.items():
        states.put_settings(settings_from(name, body), "devstack")

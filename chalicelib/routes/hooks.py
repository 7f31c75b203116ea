"""The platforms' webhooks: public routes, each authenticated the platform's way.

No bearer token (the platforms cannot send one): Google's key, Meta's signature and
Eventbrite's URL key are checked by `intake/webhooks.py` before anything is stored. A
verified delivery is queued and answered at once with 200; a refused one gets its
401/403 (400 for a body that is not the platform's shape), stores nothing, and is counted
on the source's status (`GET /sources`) by reason.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from chalice import Response

from chalicelib import wiring
from chalicelib.intake import webhooks
from chalicelib.intake.deliveries import Delivery
from chalicelib.intake.exceptions import DeliveryRefused
from chalicelib.intake.pulls import SourceSettings
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import query_params

routes = Routes(__name__)
log = logging.getLogger(__name__)

SETTINGS_MAX_AGE = 60.0
JSON_TYPES = ["application/json", "text/plain"]  # Chalice matches the media type, parameters aside


def raw_body() -> bytes:
    body = routes.current_request.raw_body
    return body if isinstance(body, bytes) else body.encode("utf-8")


def refusals_counted(source: str) -> Callable[[Callable[[], Response]], Callable[[], Response]]:
    """Answer a `DeliveryRefused` with its status, and count it on the source's status."""

    def wrap(view: Callable[[], Response]) -> Callable[[], Response]:
        @functools.wraps(view)
        def answered() -> Response:
            try:
                return view()
            except DeliveryRefused as refused:
                log.warning("%s webhook refused: %s", source, refused.reason)
                wiring.source_states().refused(source, refused.reason)
                return Response(status_code=refused.status, body={"Code": refused.reason, "Message": str(refused)})

        return answered

    return wrap


def settings(name: str) -> SourceSettings | None:
    """A source's settings, read at most once a minute per container (a change applies within it)."""
    return wiring.source_states().settings(name, max_age_seconds=SETTINGS_MAX_AGE)


def accepted(delivery: Delivery) -> Response:
    if delivery.items:
        wiring.webhook_inbox().put(delivery)
    return Response(status_code=200, body={"received": len(delivery.items)})


@routes.route("/hooks/google-ads", methods=["POST"], content_types=JSON_TYPES)
@refusals_counted("google-ads")
def google_ads_webhook() -> Response:
    """A Google Ads lead form lead, keyed with the advertiser's `google_key`."""
    secret = wiring.platform_secret("google-ads")
    return accepted(webhooks.google_ads_delivery(raw_body(), secret, settings("google-ads")))


@routes.route("/hooks/meta", methods=["GET"])
@refusals_counted("meta")
def meta_verification() -> Response:
    """Meta's subscription handshake: echo `hub.challenge` when `hub.verify_token` matches."""
    challenge = webhooks.meta_challenge(query_params(routes.current_request), wiring.platform_secret("meta"))
    return Response(status_code=200, body=challenge, headers={"Content-Type": "text/plain"})


@routes.route("/hooks/meta", methods=["POST"], content_types=JSON_TYPES)
@refusals_counted("meta")
def meta_webhook() -> Response:
    """Meta `leadgen` changes, signed with `X-Hub-Signature-256`; the leads are fetched later."""
    request = routes.current_request
    delivery = webhooks.meta_delivery(
        raw_body(),
        request.headers.get("x-hub-signature-256"),
        wiring.platform_secret("meta"),
        settings("meta"),
    )
    return accepted(delivery)


@routes.route("/hooks/eventbrite", methods=["POST"], content_types=JSON_TYPES)
@refusals_counted("eventbrite")
def eventbrite_webhook() -> Response:
    """An Eventbrite notification; the URL registered with Eventbrite carries our `?key=`."""
    delivery = webhooks.eventbrite_delivery(
        raw_body(),
        query_params(routes.current_request).get("key"),
        wiring.platform_secret("eventbrite"),
        settings("eventbrite"),
    )
    return accepted(delivery)

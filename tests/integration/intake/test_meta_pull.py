"""The Graph API client and the Meta leads pull against a served Graph stand-in (no AWS)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from chalicelib.intake.exceptions import PlatformRefused, PlatformUnavailable
from chalicelib.intake.meta import GraphApi, MetaLeadsPull, from_secret, leadgen_changes, verify_signature
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import SourceSettings
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, RawRecord
from platformstandins.base import Served
from platformstandins.graph import (
    DEFAULT_TOKEN,
    VERSION,
    GraphStandIn,
    leadgen_notification,
    make_lead,
    signature_header,
)
from tests.unit.intake.pull_context import CrashedMidPull, RecordingPullContext

FORM = "1234567890123456"
OTHER_FORM = "6543210987654321"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GraphStandIn, Served]]:
    standin = GraphStandIn()
    with Served(standin) as running:
        yield standin, running


@pytest.fixture
def graph(served: tuple[GraphStandIn, Served]) -> GraphStandIn:
    standin, _ = served
    standin.reset()
    return standin


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def api(served: tuple[GraphStandIn, Served], waits: list[float]) -> GraphApi:
    _, running = served
    http = PlatformHttp("meta", sleep=waits.append)
    return from_secret({"page_access_token": DEFAULT_TOKEN, "graph_url": f"{running.url}/{VERSION}"}, http)


def seed(graph: GraphStandIn, count: int, form_id: str = FORM, start: datetime = START) -> list[dict[str, Any]]:
    leads = [make_lead(form_id, start + timedelta(minutes=i)) for i in range(count)]
    graph.add_leads(leads)
    return leads


def context(*forms: str, cursor: dict[str, Any] | None = None, **kwargs: Any) -> RecordingPullContext:
    return RecordingPullContext(SourceSettings(name="meta", follow=forms), cursor=cursor, **kwargs)


def stored_leads(ctx: RecordingPullContext) -> list[dict[str, Any]]:
    return [lead for body, _ in ctx.pages.values() for lead in json.loads(body)["data"]]


# -- GraphApi ---------------------------------------------------------------------------------


def test_it_fetches_leads_by_id_and_leaves_out_an_unknown_id(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 3)

    found = api.leads([leads[0]["id"], "4040404040404040", leads[2]["id"]])

    assert set(found) == {leads[0]["id"], leads[2]["id"]}
    assert found[leads[0]["id"]]["field_data"] == leads[0]["field_data"]


def test_it_asks_for_at_most_fifty_ids_a_request(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 120)

    found = api.leads([lead["id"] for lead in leads])

    assert len(found) == 120
    assert api.http.requests == 3


def test_it_reads_a_form_page_by_page(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 5)

    first, after = api.form_leads(FORM, since=None, after=None, limit=2)
    second, after_second = api.form_leads(FORM, since=None, after=after, limit=2)
    third, end = api.form_leads(FORM, since=None, after=after_second, limit=2)

    newest_first = [lead["id"] for lead in reversed(leads)]
    assert [lead["id"] for lead in first + second + third] == newest_first
    assert end is None


def test_it_reads_only_leads_created_after_since(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 4)
    since = int((START + timedelta(minutes=1)).timestamp())

    page, after = api.form_leads(FORM, since=since, after=None)

    assert [lead["id"] for lead in page] == [leads[3]["id"], leads[2]["id"]]
    assert after is None


def test_it_honours_a_scripted_429_with_retry_after(graph: GraphStandIn, api: GraphApi, waits: list[float]) -> None:
    # GIVEN Graph answers the next request 429 with Retry-After: 7
    leads = seed(graph, 1)
    requests.post(
        f"{api.graph_url.rsplit('/', 1)[0]}/_standin/faults", json={"status": 429, "retry_after": 7}, timeout=5
    ).raise_for_status()

    # WHEN
    found = api.leads([leads[0]["id"]])

    # THEN the client waited what Graph asked for, then got the lead
    assert waits == [7.0]
    assert list(found) == [leads[0]["id"]]
    assert api.http.requests == 2


def test_graphs_rate_limit_error_is_platform_unavailable_with_the_time_to_regain_access(
    graph: GraphStandIn, api: GraphApi
) -> None:
    seed(graph, 1)
    graph.throttle(code=32, regain_minutes=3)

    with pytest.raises(PlatformUnavailable) as unavailable:
        api.form_leads(FORM, since=None, after=None)

    assert unavailable.value.retry_after == 180


def test_an_expired_token_is_platform_refused(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 1)
    graph.expire_tokens()

    with pytest.raises(PlatformRefused) as refused:
        api.leads([leads[0]["id"]])

    assert "code 190" in str(refused.value)
    assert DEFAULT_TOKEN not in str(refused.value)


def test_an_unknown_token_is_platform_refused(served: tuple[GraphStandIn, Served], graph: GraphStandIn) -> None:
    _, running = served
    seed(graph, 1)
    api = GraphApi(PlatformHttp("meta"), f"{running.url}/{VERSION}", "not-a-token")

    with pytest.raises(PlatformRefused):
        api.form_leads(FORM, since=None, after=None)


def test_an_unknown_form_is_platform_refused(graph: GraphStandIn, api: GraphApi) -> None:
    with pytest.raises(PlatformRefused):
        api.form_leads("1111111111111111", since=None, after=None)


def test_a_played_notification_verifies_and_names_a_lead_graph_serves(graph: GraphStandIn, api: GraphApi) -> None:
    # GIVEN the body and signature Meta would POST for a new lead
    lead = seed(graph, 1)[0]
    body = json.dumps(leadgen_notification(lead, page_id="153125381133")).encode()
    header = signature_header(body, "app-secret")

    # WHEN the webhook side checks it and fetches what it names
    verify_signature(body, header, "app-secret")
    changes = leadgen_changes(json.loads(body))
    found = api.leads([change.leadgen_id for change in changes])

    # THEN
    assert [(c.leadgen_id, c.form_id, c.page_id) for c in changes] == [(lead["id"], FORM, "153125381133")]
    assert found[lead["id"]]["created_time"] == lead["created_time"]


# -- MetaLeadsPull ------------------------------------------------------------------------------


def test_a_pull_stores_each_page_and_saves_a_cursor_after_each(graph: GraphStandIn, api: GraphApi) -> None:
    # GIVEN 7 leads, read 3 a page
    leads = seed(graph, 7)
    ctx = context(FORM)

    # WHEN
    result = MetaLeadsPull(api, limit=3)(ctx)

    # THEN 3 pages, 3 files, a cursor after each, every lead once
    assert (result.pages, result.records, len(result.files)) == (3, 7, 3)
    assert result.requests == 3
    assert len(ctx.saved) == 3
    assert sorted(lead["id"] for lead in stored_leads(ctx)) == sorted(lead["id"] for lead in leads)
    newest = int((START + timedelta(minutes=6)).timestamp())
    assert ctx.saved[-1]["forms"][FORM]["since"] == newest
    assert ctx.saved[-1]["forms"][FORM]["after"] is None
    assert all(extension == ".json" for _, extension in ctx.pages.values())


def test_a_second_pull_of_the_same_window_stores_nothing(graph: GraphStandIn, api: GraphApi) -> None:
    seed(graph, 7)
    first = context(FORM)
    MetaLeadsPull(api, limit=3)(first)

    again = context(FORM, cursor=first.cursor)
    result = MetaLeadsPull(api, limit=3)(again)

    assert (result.records, result.files, again.pages, again.saved) == (0, [], {}, [])


def test_a_later_pull_stores_only_the_new_leads(graph: GraphStandIn, api: GraphApi) -> None:
    # GIVEN a pull of 4 leads, then 2 more, one created in the same second as the newest pulled
    old = seed(graph, 4)
    first = context(FORM)
    MetaLeadsPull(api, limit=3)(first)
    same_second = make_lead(FORM, old[-1]["created_time"])
    later = make_lead(FORM, START + timedelta(hours=1))
    graph.add_leads([same_second, later])

    # WHEN
    second = context(FORM, cursor=first.cursor)
    result = MetaLeadsPull(api, limit=3)(second)

    # THEN
    assert sorted(lead["id"] for lead in stored_leads(second)) == sorted([same_second["id"], later["id"]])
    assert result.records == 2


def test_a_pull_that_crashed_after_a_page_resumes_at_the_next_page(graph: GraphStandIn, api: GraphApi) -> None:
    # GIVEN 8 leads of a form and a clean pull of them on the side
    seed(graph, 8)
    clean = context(FORM)
    MetaLeadsPull(api, limit=3)(clean)

    # WHEN a pull dies after its first page, and a new pull starts from its cursor
    crashed = context(FORM, fail_after_pages=1)
    with pytest.raises(CrashedMidPull):
        MetaLeadsPull(api, limit=3)(crashed)
    resumed = context(FORM, cursor=crashed.cursor)
    MetaLeadsPull(api, limit=3)(resumed)

    # THEN together they stored the clean pull's pages, none of them twice
    assert len(crashed.pages) == 1
    assert len(resumed.pages) == 2
    assert set(crashed.pages) | set(resumed.pages) == set(clean.pages)
    assert not set(crashed.pages) & set(resumed.pages)
    assert resumed.cursor == clean.cursor


def test_a_pull_follows_every_form(graph: GraphStandIn, api: GraphApi) -> None:
    seed(graph, 2)
    seed(graph, 3, form_id=OTHER_FORM)
    graph.add_forms(["7777777777777777"])  # a form with no leads yet
    ctx = context(FORM, OTHER_FORM, "7777777777777777")

    result = MetaLeadsPull(api)(ctx)

    assert result.records == 5
    assert set(ctx.saved[-1]["forms"]) == {FORM, OTHER_FORM}


def test_a_pull_stops_at_an_expired_token_keeping_the_cursor_of_the_stored_pages(
    graph: GraphStandIn, api: GraphApi
) -> None:
    seed(graph, 2)
    seed(graph, 2, form_id=OTHER_FORM)
    ctx = context(FORM)
    MetaLeadsPull(api)(ctx)
    graph.expire_tokens()

    after = context(FORM, OTHER_FORM, cursor=ctx.cursor)
    with pytest.raises(PlatformRefused):
        MetaLeadsPull(api)(after)

    assert after.saved == []


def test_stored_pages_are_read_by_the_facebook_leads_connector(graph: GraphStandIn, api: GraphApi) -> None:
    leads = seed(graph, 5)
    ctx = context(FORM)
    MetaLeadsPull(api, limit=2)(ctx)
    connector = connector_for("facebook_leads")

    records = [
        piece
        for body, _ in ctx.pages.values()
        for piece in read_file(
            io.BytesIO(body),
            "incoming/facebook_leads/2026/12/01/x.json",
            connector.file_format,
            DEFAULT_LIMITS,
            connector.record_id,
        )
    ]

    assert all(isinstance(record, RawRecord) for record in records)
    assert sorted(record.source_record_id or "" for record in records if isinstance(record, RawRecord)) == sorted(
        lead["id"] for lead in leads
    )
    draft = connector.draft(next(r for r in records if isinstance(r, RawRecord)).data)
    assert draft.email and draft.email.endswith("@example.com")
    assert draft.consent_granted is True

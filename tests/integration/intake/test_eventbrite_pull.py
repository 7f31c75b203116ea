"""Eventbrite reads and the incremental pull against a served Eventbrite stand-in."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from chalicelib.intake.eventbrite import EventbriteApi, EventbritePull, allowed, check_api_url
from chalicelib.intake.exceptions import PlatformRefused, PlatformUnavailable
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import SourceSettings
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, RawRecord
from platformstandins.base import Served
from platformstandins.eventbrite import DEFAULT_TOKEN, EventbriteStandIn, make_attendee
from sapstandin.faults import Fault
from tests.unit.intake.pull_context import CrashedMidPull, RecordingPullContext

EVENT = "912345678901"
OTHER_EVENT = "912345678902"
ORGANIZATION = "698566935713"
KEY = "incoming/eventbrite/2026/12/01/x.json"


@pytest.fixture
def standin() -> Iterator[tuple[EventbriteStandIn, str]]:
    app = EventbriteStandIn(page_size=3)
    with Served(app) as served:
        yield app, served.url + "/v3/"


def api_for(base: str, sleeps: list[float] | None = None, token: str = DEFAULT_TOKEN) -> EventbriteApi:
    http = PlatformHttp("eventbrite", sleep=(sleeps.append if sleeps is not None else lambda _: None))
    return EventbriteApi(http, base, token)


def seed(app: EventbriteStandIn, count: int, *, event: str = EVENT, first: int = 1, changed: str) -> list[str]:
    ids = [str(3100000000 + n) for n in range(first, first + count)]
    app.add_attendees([make_attendee(i, event, changed=changed) for i in ids])
    return ids


def stored_ids(context: RecordingPullContext) -> list[str]:
    return [a["id"] for body, _ in context.pages.values() for a in json.loads(body)["attendees"]]


def records_of(body: bytes) -> list[RawRecord]:
    connector = connector_for("eventbrite")
    read = list(read_file(io.BytesIO(body), KEY, connector.file_format, DEFAULT_LIMITS, connector.record_id))
    assert all(isinstance(r, RawRecord) for r in read), read
    return [r for r in read if isinstance(r, RawRecord)]


# -- fetching what a webhook names ------------------------------------------------------------


def test_it_fetches_the_attendee_an_attendee_url_names(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    app.add_attendees([make_attendee("3100000001", EVENT, changed="2026-12-01T10:00:00Z", checked_in=True)])
    app.add_organization(ORGANIZATION, [EVENT])

    found = api_for(base).fetch(check_api_url(f"{base}events/{EVENT}/attendees/3100000001/", base))

    assert [a["id"] for a in found] == ["3100000001"]
    assert found[0]["event"]["organization_id"] == ORGANIZATION  # expanded, so the organization can be checked
    assert allowed(found[0], events=(), organization=ORGANIZATION)
    [record] = records_of(json.dumps(found[0]).encode())
    assert record.source_record_id == "3100000001"


def test_it_fetches_the_attendees_of_an_order(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    app.add_attendees(
        [
            make_attendee("3100000001", EVENT, order_id="8700000001", changed="2026-12-01T10:00:00Z"),
            make_attendee("3100000002", EVENT, order_id="8700000001", changed="2026-12-01T10:00:00Z"),
            make_attendee("3100000003", EVENT, order_id="8700000002", changed="2026-12-01T10:00:00Z"),
        ]
    )

    found = api_for(base).fetch(check_api_url(f"{base}orders/8700000001/", base))

    assert [a["id"] for a in found] == ["3100000001", "3100000002"]
    assert all(a["event"]["id"] == EVENT for a in found)
    assert [allowed(a, events={OTHER_EVENT}) for a in found] == [False, False]  # dropped by the route


def test_an_object_that_is_gone_gives_nothing(standin: tuple[EventbriteStandIn, str]) -> None:
    _, base = standin
    api = api_for(base)

    assert api.fetch(check_api_url(f"{base}orders/8700000009/", base)) == []
    assert api.fetch(check_api_url(f"{base}events/{EVENT}/attendees/3100000009/", base)) == []


# -- the pull -----------------------------------------------------------------------------------


def test_it_pulls_every_page_with_continuation_and_the_pages_parse(standin: tuple[EventbriteStandIn, str]) -> None:
    # GIVEN 7 attendees, 3 to a page
    app, base = standin
    ids = seed(app, 7, changed="2026-12-01T10:00:00Z")
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))

    # WHEN it pulls
    result = EventbritePull(api_for(base))(context)

    # THEN all 3 pages are stored, each a list-attendees page the connector reads
    assert (result.pages, result.records, len(result.files), result.requests) == (3, 7, 3, 3)
    assert sorted(stored_ids(context)) == ids
    assert [records_of(body)[0].source_record_id for body, _ in context.pages.values()]
    assert all(extension == ".json" for _, extension in context.pages.values())
    assert context.cursor is not None
    [scope] = context.cursor["scopes"].values()
    assert (scope["changed_since"], sorted(scope["at_since"])) == ("2026-12-01T10:00:00Z", ids)
    assert "continuation" not in scope
    assert [bool(saved["scopes"][f"event:{EVENT}"].get("continuation")) for saved in context.saved] == [
        True,
        True,
        False,
    ]


def test_a_second_pull_of_the_same_window_stores_nothing(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    seed(app, 5, changed="2026-12-01T10:00:00Z")
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))
    pull = EventbritePull(api_for(base))
    pull(context)
    stored = dict(context.pages)

    again = pull(context)

    assert (again.records, again.files) == (0, [])
    assert context.pages == stored


def test_a_crash_after_the_first_page_resumes_where_it_stopped(standin: tuple[EventbriteStandIn, str]) -> None:
    # GIVEN a pull that dies after storing its first page
    app, base = standin
    ids = seed(app, 8, changed="2026-12-01T10:00:00Z")
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)), fail_after_pages=1)
    pull = EventbritePull(api_for(base))
    with pytest.raises(CrashedMidPull):
        pull(context)
    first = dict(context.pages)
    assert len(first) == 1

    # WHEN the next pull starts from the saved cursor
    context.fail_after_pages = None
    result = pull(context)

    # THEN it reads only the remaining pages; together they hold every attendee once
    assert (result.pages, result.records) == (2, 5)
    assert not set(result.files) & set(first)
    assert sorted(stored_ids(context)) == ids
    assert len(stored_ids(context)) == len(ids)


def test_attendees_changed_after_a_pull_come_in_the_next(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    seed(app, 4, changed="2026-12-01T10:00:00Z")
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))
    pull = EventbritePull(api_for(base))
    pull(context)
    before = set(context.pages)

    # one attendee checks in within the second the last pull ended at, one later; one is new
    app.add_attendees(
        [
            make_attendee("3100000002", EVENT, changed="2026-12-01T10:00:00Z", checked_in=True),
            make_attendee("3100000003", EVENT, changed="2026-12-01T11:30:00Z", checked_in=True),
            make_attendee("3100000009", EVENT, changed="2026-12-01T11:45:00Z"),
        ]
    )
    result = pull(context)

    new_pages = [context.pages[f] for f in set(context.pages) - before]
    assert sorted(a["id"] for body, _ in new_pages for a in json.loads(body)["attendees"]) == [
        "3100000002",  # changed again within the cursor's second: its content differs from the one stored
        "3100000003",
        "3100000009",
    ]
    assert result.records == 3
    assert context.cursor is not None
    scope = context.cursor["scopes"][f"event:{EVENT}"]
    assert (scope["changed_since"], list(scope["at_since"])) == ("2026-12-01T11:45:00Z", ["3100000009"])


def test_it_pulls_an_organization_rather_than_its_events(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    app.add_organization(ORGANIZATION, [EVENT, OTHER_EVENT])
    seed(app, 2, changed="2026-12-01T10:00:00Z")
    seed(app, 2, event=OTHER_EVENT, first=10, changed="2026-12-01T10:05:00Z")
    seed(app, 1, event="912345678999", first=20, changed="2026-12-01T10:05:00Z")
    context = RecordingPullContext(
        SourceSettings(name="eventbrite", follow=(EVENT,), organization=ORGANIZATION),
    )

    result = EventbritePull(api_for(base))(context)

    assert result.records == 4
    assert context.cursor is not None
    assert list(context.cursor["scopes"]) == [f"organization:{ORGANIZATION}"]


def test_it_pulls_each_followed_event(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    seed(app, 2, changed="2026-12-01T10:00:00Z")
    seed(app, 4, event=OTHER_EVENT, first=10, changed="2026-12-01T10:05:00Z")
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT, OTHER_EVENT)))

    result = EventbritePull(api_for(base))(context)

    assert (result.pages, result.records) == (3, 6)
    assert context.cursor is not None
    assert sorted(context.cursor["scopes"]) == [f"event:{EVENT}", f"event:{OTHER_EVENT}"]


# -- when Eventbrite says no ---------------------------------------------------------------------


def test_a_rate_limit_is_waited_out_as_retry_after_says(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    seed(app, 2, changed="2026-12-01T10:00:00Z")
    app.faults.add(Fault(kind="status", status=429, retry_after=7, count=1))
    sleeps: list[float] = []
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))

    result = EventbritePull(api_for(base, sleeps))(context)

    assert sleeps and sleeps[0] >= 7
    assert (result.records, result.requests) == (2, 2)
    assert app.stats["status_429"] == 1


def test_a_rate_limit_past_the_wait_budget_is_unavailable(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    app.faults.add(Fault(kind="status", status=429, retry_after=600, count=1))
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))

    with pytest.raises(PlatformUnavailable) as unavailable:
        EventbritePull(api_for(base, []))(context)

    assert unavailable.value.retry_after == 600
    assert context.saved == []


def test_an_expired_token_is_refused_for_good(standin: tuple[EventbriteStandIn, str]) -> None:
    app, base = standin
    seed(app, 1, changed="2026-12-01T10:00:00Z")
    app.expire_tokens()
    context = RecordingPullContext(SourceSettings(name="eventbrite", follow=(EVENT,)))

    with pytest.raises(PlatformRefused) as refused:
        EventbritePull(api_for(base))(context)
    with pytest.raises(PlatformRefused):
        api_for(base).fetch(check_api_url(f"{base}orders/8700000001/", base))

    assert refused.value.status == 401
    assert "INVALID_AUTH" in str(refused.value)
    assert context.pages == {}


def test_an_unknown_organization_is_refused(standin: tuple[EventbriteStandIn, str]) -> None:
    _, base = standin
    context = RecordingPullContext(SourceSettings(name="eventbrite", organization="111"))

    with pytest.raises(PlatformRefused) as refused:
        EventbritePull(api_for(base))(context)

    assert refused.value.status == 404

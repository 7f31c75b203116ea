"""Sources as a resource of the ops API, and pulls run by the schedule and on request,
against the platforms' stand-ins and the emulator."""

from __future__ import annotations

import json
import time
from types import ModuleType
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.intake.pulls import Pull
from chalicelib.intake.run_pulls import SourcePulls
from devstack import platforms
from devstack.emulator import LambdaContext
from devstack.events import scheduled_event
from devstack.platforms import LocalPlatforms
from platformstandins import eventbrite as eventbrite_standin
from tests.integration.on_the_emulator import RAW, RESOURCES, raw_keys, settle


@pytest.fixture
def tokens(stack: boto3.Session) -> dict[str, dict[str, str]]:
    store = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    return {
        role: {"Authorization": f"Bearer {store.create(f'{role}-1', role, 1).token}"} for role in ("operator", "admin")
    }


def call(client: Client, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    response = client.http.request(
        method,
        path,
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    return response.status_code, json.loads(response.body) if response.body else None


def wait_for_run(client: Client, link: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, run = call(client, "GET", link, headers)
        if run["status"] != "RUNNING":
            return dict(run)
        time.sleep(0.2)
    raise AssertionError("the pull did not finish")


def test_get_sources_shows_every_platform_without_secrets_or_personal_data(
    client: Client, tokens: dict[str, dict[str, str]], local_platforms: LocalPlatforms
) -> None:
    status, body = call(client, "GET", "/sources", tokens["operator"])
    assert status == 200
    kinds = {source["name"]: source["kind"] for source in body["sources"]}
    assert kinds == {"google-ads": "webhook", "meta": "webhook+pull", "eventbrite": "webhook+pull", "amazon": "pull"}
    shown = json.dumps(body)
    for secret in (platforms.GOOGLE_KEY, platforms.META_APP_SECRET, platforms.EVENTBRITE_WEBHOOK_KEY):
        assert secret not in shown
    assert client.http.get("/sources").status_code == 401
    assert call(client, "GET", "/sources/tiktok", tokens["operator"])[0] == 404


def test_only_an_admin_changes_a_source_and_bad_settings_get_a_clear_400(
    client: Client, tokens: dict[str, dict[str, str]]
) -> None:
    assert call(client, "PUT", "/sources/meta", tokens["operator"], {"enabled": False})[0] == 403
    status, body = call(
        client, "PUT", "/sources/meta", tokens["admin"], {"follow": ["111", "222"], "every_minutes": 30}
    )
    assert status == 200
    assert body["settings"]["follow"] == ["111", "222"] and body["settings"]["every_minutes"] == 30
    assert body["enabled"] is True  # kept from before
    for bad in ({"every_minutes": 1}, {"colour": "red"}, {"follow": "111"}, {"enabled": "yes"}):
        status, error = call(client, "PUT", "/sources/meta", tokens["admin"], bad)
        assert status == 400, bad
        assert error["Message"]


def test_a_pull_on_request_answers_202_runs_in_its_function_and_reports_its_files(
    stack: boto3.Session, client: Client, tokens: dict[str, dict[str, str]]
) -> None:
    # WHEN an operator asks for an Eventbrite pull
    status, started = call(client, "POST", "/sources/eventbrite/pulls", tokens["operator"])
    assert status == 202 and started["status"].startswith("/sources/eventbrite/pulls/")
    # THEN the pull_source function runs it: the followed event's attendees land as a raw file
    run = wait_for_run(client, started["status"], tokens["operator"])
    assert run["status"] == "DONE", run
    [key] = raw_keys(stack, "incoming/eventbrite/")
    assert settle(stack, key) == {"QUEUED_FOR_SAP": 3}
    _, source = call(client, "GET", "/sources/eventbrite", tokens["operator"])
    assert source["status"]["pull_records"] == 3 and source["cursor"]["scopes"]
    # AND a webhook-only source has no pull
    assert call(client, "POST", "/sources/google-ads/pulls", tokens["operator"])[0] == 400


def test_the_schedule_pulls_each_due_source_once_per_interval(stack: boto3.Session, app_module: ModuleType) -> None:
    fire = lambda: app_module.pull_sources(scheduled_event("pull-sources"), LambdaContext("pull_sources"))  # noqa: E731
    first = fire()
    assert set(first) == {"meta", "eventbrite", "amazon"}
    assert all(run["status"] == "DONE" for run in first.values()), first
    assert len(raw_keys(stack, "incoming/")) == 3  # one page or report per platform
    assert fire() == {}  # not due again before its interval


class DiedAfterAPage(Exception):
    """The pull's process died right after it saved its first cursor."""


def dying_after_a_page(pull: Pull) -> Pull:
    def run(context: Any) -> Any:
        save = context.save_cursor

        def save_then_die(cursor: dict[str, Any]) -> None:
            save(cursor)
            raise DiedAfterAPage()

        context.save_cursor = save_then_die
        return pull(context)

    return run


def test_a_pull_that_dies_mid_way_resumes_at_its_cursor_and_stores_nothing_twice(
    stack: boto3.Session, app_module: ModuleType, local_platforms: LocalPlatforms
) -> None:
    # GIVEN 5 more attendees (8 in all), in pages of 2
    local_platforms.eventbrite.add_attendees(
        [
            eventbrite_standin.make_attendee(
                str(710000000 + n), platforms.EVENTBRITE_EVENT, changed="2026-11-30T12:00:00Z"
            )
            for n in range(5)
        ]
    )
    local_platforms.eventbrite.page_size = 2
    real = wiring.platform_pulls()["eventbrite"]
    states, s3 = wiring.source_states(), stack.client("s3")
    # WHEN the pull dies right after its first page
    dying = SourcePulls(states, s3, RAW, {"eventbrite": lambda: dying_after_a_page(real())})
    failed = dying.run(dying.start("eventbrite", "test"))
    assert failed.status == "FAILED" and failed.error == "DiedAfterAPage"
    assert len(raw_keys(stack, "incoming/eventbrite/")) == 1
    # AND the next pull runs to the end
    pulls = SourcePulls(states, s3, RAW, {"eventbrite": real})
    assert pulls.run(pulls.start("eventbrite", "test")).status == "DONE"
    # THEN every attendee is in exactly one raw file
    ids: list[str] = []
    for key in raw_keys(stack, "incoming/eventbrite/"):
        ids += [a["id"] for a in json.loads(s3.get_object(Bucket=RAW, Key=key)["Body"].read())["attendees"]]
    assert len(ids) == 8 and len(set(ids)) == 8
    # AND a pull now stores nothing new
    again = pulls.run(pulls.start("eventbrite", "test"))
    assert again.status == "DONE" and again.result["files"] == []


def test_a_refused_token_fails_the_pull_with_a_code_and_no_personal_data(
    client: Client, tokens: dict[str, dict[str, str]], local_platforms: LocalPlatforms
) -> None:
    local_platforms.eventbrite.expire_tokens()
    try:
        _, started = call(client, "POST", "/sources/eventbrite/pulls", tokens["operator"])
        run = wait_for_run(client, started["status"], tokens["operator"])
    finally:
        local_platforms.eventbrite.valid_tokens.add(eventbrite_standin.DEFAULT_TOKEN)
    assert run["status"] == "FAILED" and "INVALID_AUTH" in run["error"]
    _, source = call(client, "GET", "/sources/eventbrite", tokens["operator"])
    assert source["status"]["last_pull_status"] == "FAILED" and "@" not in json.dumps(source)

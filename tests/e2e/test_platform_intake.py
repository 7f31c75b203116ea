"""The platforms deliver to the running stack as they really do: webhooks played by
`python -m devstack hook`, and pulls started over the API from the platforms' stand-ins."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.ingest.uploads import file_id_from_key
from tests.e2e.conftest import RunningStack

ROOT = Path(__file__).resolve().parents[2]
RAW = "data-engine-local-raw"
RAW_SOURCE = {
    "google-ads": "google_ads",
    "meta": "facebook_leads",
    "eventbrite": "eventbrite",
    "amazon": "amazon_orders",
}


def hook(stack: RunningStack, platform: str, *flags: str) -> int:
    played = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "hook",
            platform,
            "--api",
            stack.api_url,
            "--endpoint",
            stack.emulator_url,
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(played.stdout.strip().splitlines()[-1])


def raw_files(stack: RunningStack, raw_source: str) -> set[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=RAW, Prefix=f"incoming/{raw_source}/")  # type: ignore[attr-defined]
    return {item["Key"] for item in listed.get("Contents", [])}


def states_of(stack: RunningStack, keys: set[str], auth: dict[str, str]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key in keys:
        outcome = requests.get(f"{stack.api_url}/files/{file_id_from_key(key)}", headers=auth, timeout=30).json()
        for state, count in outcome["states"].items():
            totals[state] = totals.get(state, 0) + count
    return totals


def source(stack: RunningStack, name: str, auth: dict[str, str]) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/sources/{name}", headers=auth, timeout=30)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("platform", ["google-ads", "meta", "eventbrite"])
def test_a_played_webhook_is_accepted_and_a_wrongly_signed_one_refused(
    devstack: RunningStack, auth: dict[str, str], platform: str
) -> None:
    # GIVEN the raw files the platform has so far
    before = raw_files(devstack, RAW_SOURCE[platform])
    refused_before = source(devstack, platform, auth)["status"].get("webhooks_refused", 0)
    # WHEN the platform posts a wrongly signed delivery, then a good one
    assert hook(devstack, platform, "--bad-signature") in (401, 403)
    assert hook(devstack, platform) == 200
    devstack.wait_until_idle()
    # THEN only the good one reached the raw bucket and the State Keeper, and SAP has it
    new = raw_files(devstack, RAW_SOURCE[platform]) - before
    assert len(new) == 1
    assert states_of(devstack, new, auth) == {"DELIVERED": 1}
    status = source(devstack, platform, auth)["status"]
    assert status["webhooks_refused"] == refused_before + 1
    assert status["webhooks_accepted"] >= 1


@pytest.mark.parametrize(
    "name, final_state", [("eventbrite", "DELIVERED"), ("amazon", "NOT_FOR_SAP"), ("meta", "DELIVERED")]
)
def test_a_pull_brings_the_platforms_records_home_and_a_second_pull_nothing_new(
    devstack: RunningStack, auth: dict[str, str], name: str, final_state: str
) -> None:
    def pull() -> dict[str, Any]:
        started = requests.post(f"{devstack.api_url}/sources/{name}/pulls", headers=auth, timeout=30)
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run: dict[str, Any] = requests.get(
                f"{devstack.api_url}{started.json()['status']}", headers=auth, timeout=30
            ).json()
            if run["status"] != "RUNNING":
                return run
            time.sleep(0.5)
        raise AssertionError("the pull did not finish")

    first = pull()
    assert first["status"] == "DONE", first
    assert first["result"]["files"]
    devstack.wait_until_idle()
    keys = {key for key in raw_files(devstack, RAW_SOURCE[name]) if file_id_from_key(key) in first["result"]["files"]}
    states = states_of(devstack, keys, auth)
    assert set(states) == {final_state} and states[final_state] >= 3
    second = pull()
    assert second["status"] == "DONE" and second["result"]["files"] == []
    assert source(devstack, name, auth)["cursor"]

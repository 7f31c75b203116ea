"""Every route but /health needs a bearer token, over real HTTP through `chalice local`."""

from __future__ import annotations

import requests

from tests.e2e.conftest import RunningStack


def test_health_answers_without_a_token(devstack: RunningStack) -> None:
    response = requests.get(f"{devstack.api_url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_request_without_a_token_is_refused_with_401(devstack: RunningStack) -> None:
    assert requests.get(f"{devstack.api_url}/queues", timeout=10).status_code == 401


def test_an_unknown_token_is_refused(devstack: RunningStack) -> None:
    response = requests.get(
        f"{devstack.api_url}/queues", timeout=10, headers={"Authorization": "Bearer de_not-a-real-token"}
    )
    assert response.status_code == 403


def test_a_valid_token_reaches_an_authenticated_route(devstack: RunningStack, auth: dict[str, str]) -> None:
    response = requests.get(f"{devstack.api_url}/queues", timeout=10, headers=auth)
    assert response.status_code == 200
    names = {queue["name"] for queue in response.json()["queues"]}
    assert "data-engine-local-sap-dispatch.fifo" in names

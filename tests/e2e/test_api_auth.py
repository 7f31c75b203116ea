"""Tokens and roles over real HTTP through `chalice local`: every route but /health (and the
webhooks) needs a bearer token; tokens are made, listed and revoked by an admin, expire,
and every change is in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.conftest import ROOT, RunningStack


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


def test_an_admin_makes_lists_and_revokes_a_token_and_the_audit_log_names_each_change(
    devstack: RunningStack, auth: dict[str, str]
) -> None:
    api = devstack.api_url
    # GIVEN an admin creates a viewer token
    created = requests.post(
        f"{api}/tokens", json={"name": "e2e-viewer", "role": "viewer", "expires_in_days": 7}, headers=auth, timeout=10
    )
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["id"]
    viewer = {"Authorization": f"Bearer {token}"}
    # THEN it reads, is refused what a viewer may not do, and is listed without its secret
    assert requests.get(f"{api}/queues", headers=viewer, timeout=10).status_code == 200
    refused = requests.post(f"{api}/sap/replay", headers=viewer, timeout=10)
    assert refused.status_code == 403 and refused.json()["needed_role"] == "operator"
    listed = requests.get(f"{api}/tokens", headers=auth, timeout=10)
    assert token_id in {t["id"] for t in listed.json()["tokens"]} and token not in listed.text
    assert requests.get(f"{api}/tokens", headers=viewer, timeout=10).status_code == 403
    # WHEN it is revoked, THEN it is refused (chalice local caches no authorizer answer)
    assert requests.delete(f"{api}/tokens/{token_id}", headers=auth, timeout=10).status_code == 200
    assert requests.get(f"{api}/queues", headers=viewer, timeout=10).status_code == 403
    # AND the audit log holds the changes, newest first, without the token
    audit = requests.get(f"{api}/audit", headers=auth, timeout=10).json()["entries"]
    routes = [(entry["route"], entry["status"]) for entry in audit]
    assert routes.index(("DELETE /tokens/{token_id}", 200)) < routes.index(("POST /tokens", 201))
    assert ("POST /sap/replay", 403) in routes
    assert token not in json.dumps(audit)


def test_an_expired_token_is_refused(devstack: RunningStack) -> None:
    from chalicelib.auth.tokens import TokenStore

    store = TokenStore("data-engine-local-config", devstack.client("dynamodb"))
    expired = store.create("e2e-old", "admin", 1, now=datetime.now(UTC) - timedelta(days=2)).token
    response = requests.get(f"{devstack.api_url}/queues", headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "privacy", "admin"])
def test_the_devstack_token_command_makes_a_token_of_every_role(devstack: RunningStack, role: str) -> None:
    command = ["token", "create", f"cli-{role}", "--role", role, "--endpoint", devstack.emulator_url]
    made = subprocess.run(
        [sys.executable, "-m", "devstack", *command],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    lookup = requests.get(
        f"{devstack.api_url}/subjects", params={"email": "anna@example.com"}, headers=headers, timeout=10
    )
    assert lookup.status_code == (200 if role in ("privacy", "admin") else 403)
    assert "anna" not in lookup.text

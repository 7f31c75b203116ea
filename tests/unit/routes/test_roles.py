"""Every route × every role, from the route table: allowed, or 403 with a clear JSON error.

No AWS: the token store and the audit log are in-memory twins, and every AWS client the
views would build raises at once, so a view that runs answers something other than the
role check's 403 (mostly a 500). A route added without a line in `roles.py` fails at
import; one in the table but not in the app fails `test_the_table_is_the_apps_routes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.audit import AuditEntry
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.roles import ROLES, allows
from chalicelib.auth.tokens import Principal
from chalicelib.routes.roles import PUBLIC, ROUTE_RULES, markdown_table

README = Path(__file__).resolve().parents[3] / "README.md"
PROTECTED = [(method, path, rule) for (method, path), rule in ROUTE_RULES.items() if rule.role != PUBLIC]


class Unreachable:
    """Any AWS client: every call raises, so nothing leaves the test."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no AWS in unit tests ({name})")


class Tokens:
    def principal(self, token: str) -> Principal:
        role = token.removeprefix("de_")
        if role not in ROLES:
            raise UnknownToken("unknown")
        return Principal(f"tk-{role}", f"{role}-person", role)

    def record_use(self, principal: Principal) -> bool:
        return False


class Audit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


@pytest.fixture
def audit() -> Iterator[Audit]:
    recorded = Audit()
    wiring.reset()
    wiring.override(client=Unreachable(), token_store=Tokens(), audit_log=recorded)
    yield recorded
    wiring.reset()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


def call(client: Client, method: str, path: str, role: str, query: str = "") -> Any:
    concrete = re.sub(r"\{[^}]+\}", "x-1", path) + query
    return client.http.request(
        method, concrete, headers={"Authorization": f"Bearer de_{role}", "Content-Type": "application/json"}, body=b"{}"
    )


def refused_by_role(response: Any) -> bool:
    if response.status_code != 403:
        return False
    body = json.loads(response.body)
    return body.get("Code") == "ForbiddenError" and "needed_role" in body


def test_the_table_is_the_apps_routes() -> None:
    from app import app

    declared = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert declared == set(ROUTE_RULES)
    assert len(ROUTE_RULES) == 50


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "rule"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_route_answers_every_role_as_its_rule_says(
    client: Client, audit: Audit, method: str, path: str, rule: Any, role: str
) -> None:
    response = call(client, method, path, role)
    if allows(role, rule.role):
        assert not refused_by_role(response), f"{role} may call {method} {path}"
    else:
        assert refused_by_role(response), f"{role} may not call {method} {path}"
        body = json.loads(response.body)
        assert body["needed_role"] == rule.role
        assert body["Message"] == f"{method} {path} needs the {rule.role} role; this token has {role}"


def test_the_roles_reach_what_they_should() -> None:
    assert [role for role in ROLES if allows(role, "viewer")] == list(ROLES)
    assert [role for role in ROLES if allows(role, "operator")] == ["operator", "admin"]
    assert [role for role in ROLES if allows(role, "privacy")] == ["privacy", "admin"]
    assert [role for role in ROLES if allows(role, "admin")] == ["admin"]
    assert not allows(None, "viewer") and not allows("root", "viewer")


def test_erasure_and_email_lookups_need_privacy_and_tokens_need_admin() -> None:
    assert ROUTE_RULES[("POST", "/gdpr/erasure-requests")].role == "privacy"
    assert ROUTE_RULES[("POST", "/gdpr/erasure-jobs")].role == "privacy"
    assert ROUTE_RULES[("GET", "/subjects")].role == "privacy"
    assert {ROUTE_RULES[k].role for k in ROUTE_RULES if k[1].startswith(("/tokens", "/audit"))} == {"admin"}


@pytest.mark.parametrize(("method", "path", "rule"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_audited_route_appends_one_entry_whatever_its_outcome(
    client: Client, audit: Audit, method: str, path: str, rule: Any
) -> None:
    response = call(client, method, path, "admin")
    if not rule.audited:
        assert audit.entries == []
        return
    [entry] = audit.entries
    assert (entry.route, entry.token_id, entry.name, entry.role) == (
        f"{method} {path}",
        "tk-admin",
        "admin-person",
        "admin",
    )
    assert entry.status == response.status_code
    assert entry.request_id
    assert set(entry.targets) == set(re.findall(r"\{([^}]+)\}", path))


def test_state_changing_routes_are_audited_and_reads_are_not() -> None:
    for (method, path), rule in ROUTE_RULES.items():
        if rule.role == PUBLIC:
            continue
        changes = method != "GET" and path != "/sources/{name}/mapping/try"
        assert rule.audited == (changes or path == "/subjects"), f"{method} {path}"


def test_a_refused_call_is_audited_too(client: Client, audit: Audit) -> None:
    response = call(client, "POST", "/gdpr/erasure-requests", "operator")
    assert response.status_code == 403
    [entry] = audit.entries
    assert (entry.route, entry.role, entry.status) == ("POST /gdpr/erasure-requests", "operator", 403)


def test_an_email_lookup_records_the_subject_id_and_never_the_email(client: Client, audit: Audit) -> None:
    class Queries:
        def subject_documents(self, subject_id: str) -> dict[str, Any]:
            return {"subject_id": subject_id, "documents": []}

    wiring.override(subject_key=b"k" * 32, state_queries=Queries())
    email = "Anna.Schmidt@Example.com"
    response = call(client, "GET", "/subjects", "privacy", query=f"?email={email}")
    assert response.status_code == 200
    subject_id = json.loads(response.body)["subject_id"]
    [entry] = audit.entries
    assert entry.targets == {"subject_id": subject_id}
    assert "anna" not in repr(entry).lower() and "anna" not in response.body.decode().lower()
    assert refused_by_role(call(client, "GET", "/subjects", "viewer", query=f"?email={email}"))


def test_a_call_without_a_known_token_never_reaches_a_route(client: Client, audit: Audit) -> None:
    response = client.http.get("/queues", headers={"Authorization": "Bearer de_root"})
    assert response.status_code in (401, 403) and not refused_by_role(response)


def test_the_readme_shows_the_route_table() -> None:
    assert markdown_table() in README.read_text(), "README: paste chalicelib.routes.roles.markdown_table()"


def test_an_erasure_request_by_email_is_audited_as_its_request_and_subject_ids(client: Client, audit: Audit) -> None:
    from chalicelib.erasure.requests import InMemoryErasureRequests

    wiring.override(subject_key=b"k" * 32, erasure_requests=InMemoryErasureRequests())
    response = client.http.post(
        "/gdpr/erasure-requests",
        headers={"Authorization": "Bearer de_privacy", "Content-Type": "application/json"},
        body=json.dumps({"requests": [{"email": "Marco.Rossi@example.com"}, {"subject_id": "s" * 64}]}),
    )
    assert response.status_code == 202
    [entry] = audit.entries
    request_ids = [r["request_id"] for r in json.loads(response.body)["requests"]]
    assert entry.targets["request_ids"] == request_ids
    subject_ids = entry.targets["subject_ids"]
    assert len(subject_ids) == 2 and subject_ids[1] == "s" * 64
    assert "rossi" not in repr(entry).lower()

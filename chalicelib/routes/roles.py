"""The one table of routes: each route's least role, and whether its calls are audited.

`Routes.route` refuses to register a route missing here, so a new route cannot ship
without a declared role; the README's role table is checked against this one by a test.
PUBLIC routes have no bearer token (health, and the platforms' webhooks, which verify
deliveries their own way). Calls that change state are audited, and so are personal-data
lookups; `POST /sources/{name}/mapping/try` stores nothing and is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.auth.roles import ADMIN, OPERATOR, PRIVACY, VIEWER

PUBLIC = "public"


@dataclass(frozen=True)
class Rule:
    role: str  # PUBLIC or the least role (chalicelib/auth/roles.py)
    audited: bool = False


def _read(role: str = VIEWER) -> Rule:
    return Rule(role)


def _change(role: str) -> Rule:
    return Rule(role, audited=True)


ROUTE_RULES: dict[tuple[str, str], Rule] = {
    # operations
    ("GET", "/health"): Rule(PUBLIC),
    ("GET", "/queues"): _read(),
    # ingest
    ("POST", "/ingest/{source}"): _change(OPERATOR),
    ("POST", "/ingest/replay"): _change(OPERATOR),
    ("POST", "/async-failures/replay"): _change(OPERATOR),
    # the State Keeper
    ("GET", "/documents"): _read(),
    ("GET", "/documents/{document_id}"): _read(),
    ("POST", "/documents/{document_id}/retry"): _change(OPERATOR),
    ("GET", "/files/{file_id}"): _read(),
    ("POST", "/files/{file_id}/reprocess"): _change(OPERATOR),
    ("GET", "/subjects/{subject_id}/documents"): _read(),
    ("GET", "/subjects"): Rule(PRIVACY, audited=True),  # ?email=: a personal-data lookup
    ("GET", "/stats"): _read(),
    ("POST", "/state-changes/replay"): _change(OPERATOR),
    # SAP
    ("GET", "/sap/throttle"): _read(OPERATOR),
    ("PUT", "/sap/throttle"): _change(ADMIN),
    ("POST", "/sap/replay"): _change(OPERATOR),
    # GDPR
    ("POST", "/gdpr/erasure-requests"): _change(PRIVACY),
    ("GET", "/gdpr/erasure-requests/{request_id}"): _read(PRIVACY),
    ("POST", "/gdpr/erasure-jobs"): _change(PRIVACY),
    ("POST", "/gdpr/erasure-jobs/{job_id}/cancel"): _change(PRIVACY),
    ("GET", "/gdpr/retention-policies"): _read(),
    ("GET", "/gdpr/retention-policies/{name}"): _read(),
    ("PUT", "/gdpr/retention-policies/{name}"): _change(PRIVACY),
    ("DELETE", "/gdpr/retention-policies/{name}"): _change(PRIVACY),
    ("POST", "/gdpr/anonymization-runs"): _change(PRIVACY),
    ("GET", "/gdpr/anonymization-runs"): _read(),
    ("GET", "/gdpr/anonymization-runs/{run_id}"): _read(),
    # sources, pulls and mappings
    ("GET", "/sources"): _read(),
    ("GET", "/sources/{name}"): _read(),
    ("PUT", "/sources/{name}"): _change(ADMIN),
    ("POST", "/sources/{name}/pulls"): _change(OPERATOR),
    ("GET", "/sources/{name}/pulls/{pull_id}"): _read(),
    ("POST", "/sources/replay"): _change(OPERATOR),
    ("GET", "/sources/{name}/mapping"): _read(),
    ("PUT", "/sources/{name}/mapping"): _change(ADMIN),
    ("POST", "/sources/{name}/mapping/try"): Rule(ADMIN),
    # tokens and the audit log
    ("POST", "/tokens"): _change(ADMIN),
    ("GET", "/tokens"): _read(ADMIN),
    ("DELETE", "/tokens/{token_id}"): _change(ADMIN),
    ("GET", "/audit"): _read(ADMIN),
    # the platforms' webhooks
    ("POST", "/hooks/google-ads"): Rule(PUBLIC),
    ("GET", "/hooks/meta"): Rule(PUBLIC),
    ("POST", "/hooks/meta"): Rule(PUBLIC),
    ("POST", "/hooks/eventbrite"): Rule(PUBLIC),
    # the console's page and files (the data they show comes from the routes above)
    ("GET", "/console"): Rule(PUBLIC),
    ("GET", "/console/{name}"): Rule(PUBLIC),
    # the API's own description: the OpenAPI document and its docs page
    ("GET", "/openapi.json"): Rule(PUBLIC),
    ("GET", "/docs"): Rule(PUBLIC),
    ("GET", "/docs/{asset}"): Rule(PUBLIC),
}


class UndeclaredRoute(Exception):
    """A route registered without a line in `ROUTE_RULES`."""


def rule_of(method: str, path: str, rules: Mapping[tuple[str, str], Rule] = ROUTE_RULES) -> Rule:
    try:
        return rules[(method, path)]
    except KeyError:
        raise UndeclaredRoute(f"{method} {path} has no role in chalicelib/routes/roles.py") from None


def markdown_table() -> str:
    """The README's table of routes and roles, in the order above."""
    lines = ["| route | least role | audited |", "|---|---|---|"]
    for (method, path), rule in ROUTE_RULES.items():
        lines.append(f"| `{method} {path}` | {rule.role} | {'yes' if rule.audited else ''} |")
    return "\n".join(lines)

"""The roles a token holds and what each one may do, as data.

`viewer` reads everything but personal-data lookups; `operator` and `privacy` each add
their own actions to what a viewer may do; `admin` may do everything. A route declares the
least role it needs (`chalicelib/routes/roles.py`); `allows` says whether a token's role
reaches it. Operator and privacy are apart on purpose: replaying data is not erasing it.
"""

from __future__ import annotations

VIEWER, OPERATOR, PRIVACY, ADMIN = "viewer", "operator", "privacy", "admin"
ROLES = (VIEWER, OPERATOR, PRIVACY, ADMIN)

# role -> the roles it includes (itself too)
INCLUDES: dict[str, frozenset[str]] = {
    VIEWER: frozenset({VIEWER}),
    OPERATOR: frozenset({VIEWER, OPERATOR}),
    PRIVACY: frozenset({VIEWER, PRIVACY}),
    ADMIN: frozenset(ROLES),
}


def allows(role: str | None, needed: str) -> bool:
    """Whether a token with `role` may call a route that needs `needed`."""
    return needed in INCLUDES.get(role or "", frozenset())

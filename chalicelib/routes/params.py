"""Query parameters the routes share."""

from __future__ import annotations

from collections.abc import Mapping

from chalice import BadRequestError
from chalice.app import Request

MAX_REPLAY = 10_000


def query_params(request: Request) -> Mapping[str, str]:
    return request.query_params or {}


def replay_limit(request: Request) -> int:
    """`?limit=` of a dead-letter replay: 1 to 10000, default 1000."""
    limit = query_params(request).get("limit", "1000")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_REPLAY:
        raise BadRequestError(f"limit must be a whole number from 1 to {MAX_REPLAY}")
    return int(limit)

"""schemathesis against the running local stack: no 5xx, and every answer fits the OpenAPI document.

The stack is one of its own (generated requests change settings, policies and the throttle;
the other end-to-end tests keep theirs). Bounded and deterministic: a fixed number of examples
per operation, derandomized. Starting an erasure job is left out (it rewrites files), and so is enabling sources.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import checks

from app import app
from chalicelib.routes.openapi import build_document
from tests.e2e.conftest import RunningStack, admin_token, running_stack

EXAMPLES_PER_OPERATION = 10

# Upload bodies schemathesis cannot build from a schema: JSON Lines, gzipped or not, and bytes
# that are not gzip at all (a clear 400, never a 5xx).
_rows = st.lists(st.dictionaries(st.sampled_from(["email", "source", "id", "x"]), st.text(max_size=12)), max_size=4)
_jsonl = _rows.map(lambda rows: "".join(json.dumps(row) + "\n" for row in rows).encode())
for _media_type in ("application/jsonl", "application/x-ndjson"):
    schemathesis.openapi.media_type(_media_type, _jsonl)
for _media_type in ("application/gzip", "application/x-gzip"):
    schemathesis.openapi.media_type(_media_type, st.one_of(_jsonl.map(gzip.compress), st.binary(max_size=64)))

# left out: starting an erasure job (rewrites files); enabling sources (their pulls then keep the stack busy)
schema = (
    schemathesis.openapi.from_dict(build_document(app.routes))
    .exclude(method="POST", path="/gdpr/erasure-jobs")
    .exclude(method="PUT", path="/sources/{name}")
)
# methods a route lacks are tried too; TRACE and QUERY only reach `chalice local`'s HTTP server (501), not the app
schema.config.phases.coverage.unexpected_methods = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def conformance_stack() -> Iterator[tuple[RunningStack, str]]:
    with tempfile.TemporaryFile("w+") as log, running_stack(output=log) as stack:
        yield stack, admin_token(stack, "schemathesis")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_live_api_answers_as_its_document_says(
    case: schemathesis.Case, conformance_stack: tuple[RunningStack, str]
) -> None:
    stack, token = conformance_stack
    case.call_and_validate(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )

"""Reasons an operator can act on, on the emulator: a ticketshop export whose `Ticketnummer`
column is renamed is a mapping problem of the file, every record is INVALID for the same
field and code, and `GET /files/{id}` and `GET /documents/{id}` say so — never with a value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.ingest.messages import MISSING_COLUMNS
from chalicelib.ingest.uploads import file_id_for
from chalicelib.normalize.normalizer import document_id
from devstack.stack import load_app
from tests.integration.ingest.conftest import RESOURCES, SAMPLES, Pipeline

EXPORT = (SAMPLES / "ticketshop" / "export.csv").read_text("utf-8")
BAD_EMAIL = "lukas.muller@@example.de"  # looks like an email, is not one


@pytest.fixture
def api(stack: boto3.Session) -> Iterator[Any]:
    token = (
        TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
        .create("reasons-operator", "operator", 1)
        .token
    )
    with Client(load_app().app, stage_name="local") as client:

        def get(path: str) -> Any:
            response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.body
            return response.json_body

        yield get


def _table_text(session: boto3.Session) -> str:
    items = session.client("dynamodb").scan(TableName=RESOURCES.table("state").name)["Items"]
    return json.dumps(items, default=str)


def test_a_renamed_record_id_column_is_named_and_groups_every_record_under_one_reason(
    pipeline: Pipeline, api: Any
) -> None:
    content = EXPORT.replace("Ticketnummer", "Ticket-Nr.", 1).encode()
    pipeline.ingest("ticketshop", "export.csv", content)
    file_id = file_id_for(content)
    rows = EXPORT.strip().count("\n")

    outcome = wiring.file_outcomes().get(file_id)
    assert outcome is not None and outcome.records == rows
    assert outcome.problems[0].code == MISSING_COLUMNS and outcome.problems[0].columns == ["Ticketnummer"]

    answer = api(f"/files/{file_id}")
    assert answer["documents"] == rows and answer["states"] == {"INVALID": rows}
    assert answer["rejections"] == [{"field": "source_record_id", "code": "missing_record_id", "records": rows}]
    assert answer["summary"] == (
        f"all {rows} records: source_record_id missing_record_id; the header lacks Ticketnummer"
    )
    assert answer["split"]["problems"][0]["columns"] == ["Ticketnummer"]

    invalid = pipeline.queries.list_documents("INVALID", limit=1)["documents"][0]
    document = api(f"/documents/{invalid['document_id']}")
    assert document["reasons"] == [{"field": "source_record_id", "code": "missing_record_id"}]
    assert "@" not in _table_text(pipeline.session) + json.dumps(answer) + json.dumps(document)


def test_an_invalid_value_shows_as_its_field_and_code_and_nowhere_as_itself(pipeline: Pipeline, api: Any) -> None:
    content = EXPORT.replace("lukas.muller@example.de", BAD_EMAIL, 1).encode()
    assert BAD_EMAIL.encode() in content
    pipeline.ingest("ticketshop", "export.csv", content)
    file_id = file_id_for(content)

    answer = api(f"/files/{file_id}")
    assert answer["split"]["problems"] == [] and answer["summary"] is None
    assert {"field": "contact.email", "code": "invalid_email"} in [
        {"field": r["field"], "code": r["code"]} for r in answer["rejections"]
    ]
    document = api(f"/documents/{document_id('ticketshop', 'T7700101')}")  # the row of BAD_EMAIL
    assert document["state"] == "INVALID"
    assert document["reasons"] == [{"field": "contact.email", "code": "invalid_email"}]
    assert document["history"][-1]["reasons"] == document["reasons"]

    shown = _table_text(pipeline.session) + json.dumps(answer) + json.dumps(document)
    assert BAD_EMAIL not in shown and "lukas" not in shown.lower()

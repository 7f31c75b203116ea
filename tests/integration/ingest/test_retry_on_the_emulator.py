"""`POST /documents/{id}/retry` of a document SAP rejected, on the emulator: the record is read
again from its raw file, queued for SAP alone under a ledger reopened for it, and no other
document of the file changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.sap.ledger import PENDING, REJECTED_BY_SAP, Settlement
from chalicelib.sap.outbox import to_dispatch_record
from chalicelib.sap.payloads import DispatchMessage
from chalicelib.state_keeper.lifecycle import State, StateChange
from devstack.stack import load_app
from tests.integration.ingest.conftest import SAMPLES, SUBJECT_KEY, Pipeline

EXPORT = (SAMPLES / "ticketshop" / "export.csv").read_bytes()


@pytest.fixture
def retry(stack: boto3.Session) -> Iterator[Any]:
    wiring.override(subject_key=SUBJECT_KEY)  # the key the pipeline fixture normalized with
    tokens = TokenStore(wiring.resources().table("config").name, stack.client("dynamodb"))
    headers = {
        role: {"Authorization": f"Bearer {tokens.create(role, role, 1).token}"} for role in ("viewer", "operator")
    }
    with Client(load_app().app, stage_name="local") as client:

        def call(document_id: str, role: str = "operator") -> Any:
            return client.http.post(f"/documents/{document_id}/retry", headers=headers[role])

        yield call


def rejected_by_sap(pipeline: Pipeline, record: NormalizedRecord) -> None:
    """What the dispatcher leaves when SAP refuses a record: the ledger final (its interaction's
    entry), the state reported."""
    document_id, ledger_key = record.document_id, to_dispatch_record(record).record_id
    ledger = wiring.sap_ledger()
    ledger.claim(ledger_key, "dispatcher-1", 60)
    ledger.settle(Settlement(ledger_key, REJECTED_BY_SAP, reason="SAP_REJECTED"), "dispatcher-1")
    with wiring.state_reporter() as reporter:
        reporter.report(
            StateChange(
                document_id=document_id,
                state=State.REJECTED_BY_SAP,
                at=datetime.now(UTC),
                component="sap-dispatch",
                reason_code="SAP_REJECTED",
            )
        )
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}


def test_a_rejected_document_is_read_again_from_its_raw_file_and_sent_alone(pipeline: Pipeline, retry: Any) -> None:
    # GIVEN a ticketshop export whose records were queued for SAP, and SAP refused one of them
    pipeline.ingest("ticketshop", "export.csv", EXPORT)
    original = pipeline.outbox.records[1]
    others = {r.document_id: pipeline.queries.get_document(r.document_id)["state"] for r in pipeline.outbox.records}
    rejected_by_sap(pipeline, original)
    assert pipeline.queries.get_document(original.document_id)["state"] == "REJECTED_BY_SAP"
    # WHEN a viewer tries, then an operator retries it
    assert retry(original.document_id, role="viewer").status_code == 403
    response = retry(original.document_id)
    # THEN it is queued alone, as normalize made it, and the ledger lets the dispatcher claim it
    assert response.status_code == 202, response.body
    [message] = pipeline.drain("sap-dispatch")
    [record] = DispatchMessage.model_validate_json(message["body"]).records
    assert record == to_dispatch_record(original)
    assert wiring.sap_ledger().state(to_dispatch_record(original).record_id) == PENDING
    assert pipeline.keeper.handle(pipeline.drain("state-changes")) == {"batchItemFailures": []}
    assert pipeline.queries.get_document(original.document_id)["state"] == "QUEUED_FOR_SAP"
    # and no other document of the file changed
    for document_id, state in others.items():
        if document_id != original.document_id:
            assert pipeline.queries.get_document(document_id)["state"] == state
    # AND a document no longer rejected is not retried
    again = retry(original.document_id)
    assert again.status_code == 409 and "QUEUED_FOR_SAP" in json.loads(again.body)["Message"]
    assert retry("0" * 8 + "-0000-5000-8000-" + "0" * 12).status_code == 404

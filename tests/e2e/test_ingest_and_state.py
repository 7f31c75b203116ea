"""Files pushed over HTTPS flow through the running stack; the State Keeper answers for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import RunningStack

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FINAL = {"INVALID", "DELIVERED", "REJECTED_BY_SAP", "PARKED"}


def _get(stack: RunningStack, path: str, auth: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{stack.api_url}{path}", headers=auth, params=params, timeout=30)


def _push(
    stack: RunningStack, source: str, content: bytes, content_type: str, auth: dict[str, str]
) -> requests.Response:
    return requests.post(
        f"{stack.api_url}/ingest/{source}", data=content, timeout=30, headers={**auth, "Content-Type": content_type}
    )


def test_a_pushed_file_reaches_a_final_state_for_every_record(devstack: RunningStack, auth: dict[str, str]) -> None:
    content = (SAMPLES / "ticketshop" / "export.csv").read_bytes()
    response = _push(devstack, "ticketshop", content, "text/csv", auth)
    assert response.status_code == 202, response.text
    file_id = response.json()["file_id"]
    devstack.wait_until_idle()

    outcome = _get(devstack, f"/files/{file_id}", auth).json()
    records = content.decode("utf-8").strip().count("\n")
    assert outcome["split"]["records"] == records
    assert outcome["documents"] == records
    assert set(outcome["states"]) <= FINAL, outcome["states"]
    assert outcome["states"].get("DELIVERED", 0) > 0


def test_a_document_shows_its_whole_history(devstack: RunningStack, auth: dict[str, str]) -> None:
    record = {
        "platform": "e2e",
        "record_id": "history-1",
        "contact": {"email": "grace@example.org", "first_name": "Grace"},
        "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
    }
    response = _push(devstack, "canonical", json.dumps(record).encode(), "application/x-ndjson", auth)
    assert response.status_code == 202, response.text
    devstack.wait_until_idle()

    listed = _get(devstack, "/documents", auth, state="DELIVERED", source="canonical").json()["documents"]
    assert listed, "the record should be listed as DELIVERED"
    document = _get(devstack, f"/documents/{listed[0]['document_id']}", auth).json()
    assert [entry["state"] for entry in document["history"]][:3] == ["RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP"]
    assert document["state"] == "DELIVERED"
    assert "grace" not in json.dumps(document).lower()

    subject = document["subject_id"]
    mine = _get(devstack, f"/subjects/{subject}/documents", auth).json()["documents"]
    assert listed[0]["document_id"] in {d["document_id"] for d in mine}
    stats = _get(devstack, "/stats", auth).json()
    assert stats["counts"] and stats["transitions"]


def test_bad_requests_get_clear_errors(devstack: RunningStack, auth: dict[str, str]) -> None:
    assert _push(devstack, "myspace", b"{}", "application/json", auth).status_code == 400
    assert _push(devstack, "canonical", b"", "application/x-ndjson", auth).status_code == 400
    assert _push(devstack, "canonical", b"x", "image/png", auth).status_code in (400, 415)
    too_big = _push(devstack, "canonical", b"x" * (5 * 1024 * 1024 + 1), "application/x-ndjson", auth)
    assert too_big.status_code == 413
    bad_state = _get(devstack, "/documents", auth, state="LOST")
    assert bad_state.status_code == 400 and "state must be one of" in bad_state.json()["Message"]
    assert _get(devstack, "/documents", auth, state="DELIVERED", since="yesterday").status_code == 400
    assert _get(devstack, "/documents", auth, state="DELIVERED", next_token="forged").status_code == 400
    assert _get(devstack, "/documents/no-such-document", auth).status_code == 404
    assert _get(devstack, "/files/nosuchfile", auth).status_code == 404

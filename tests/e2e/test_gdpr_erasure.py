"""GDPR erasure on the running stack: ingest the samples, erase two people, prove they are gone.

SAP too: the stand-in's `/_standin/records` shows what SAP holds. After the job the erased
contacts hold no email, name or phone and are marked for deletion, their additional IDs
are gone; once SAP's own deletion jobs ran (the stand-in plays them on request), nothing
of them is left, consents included. Other contacts are untouched.

The samples hold the same names and phone numbers under several emails (one person per
platform account), and an erasure is per subject (one normalized email), so "no trace"
is checked record by record: no object holds the erased emails or subject ids, and no
remaining record belongs to an erased subject; every other record is exactly as before.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import requests

from chalicelib.lake_access.raw_subjects import source_of_key, subject_of_for
from chalicelib.normalize.mappings import mapped_connector, parse_mapping
from chalicelib.normalize.sources import connector_for, use_declared_sources
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import RawRecord
from devstack.samples import upload_samples
from tests.e2e.conftest import RunningStack

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BUCKETS = {key: f"data-engine-local-{key}" for key in ("raw", "lake", "quarantine")}
ERASED = ("anna.schmidt@example.com", "lukas.muller@example.org")  # eventbrite + google_ads; canonical + facebook


def _objects(stack: RunningStack) -> dict[tuple[str, str], bytes]:
    s3: Any = stack.client("s3")
    found = {}
    for bucket in BUCKETS.values():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[(bucket, item["Key"])] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def _records(bucket: str, key: str, body: bytes, subject_of: Any) -> list[tuple[str | None, Any]]:
    """(subject id, record) of every record in an object: lake rows or platform records."""
    if key.endswith(".parquet"):
        return [(row["subject_id"], row) for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    if bucket == BUCKETS["quarantine"] and not key.startswith("quarantine/"):
        return []  # reason sidecars: codes only
    if bucket == BUCKETS["raw"] and not key.startswith("incoming/"):
        return []
    who = subject_of(bucket, key)
    if bucket == BUCKETS["quarantine"]:
        return [(who(record), record) for record in map(json.loads, body.decode().splitlines()) if record]
    items = read_file(io.BytesIO(body), key, connector_for(source_of_key(key)).file_format)
    return [(who(item.data), item.data) for item in items if isinstance(item, RawRecord)]


def _state_documents(stack: RunningStack) -> dict[str, dict[str, Any]]:
    dynamodb: Any = stack.client("dynamodb")
    items = [
        item
        for page in dynamodb.get_paginator("scan").paginate(TableName="data-engine-local-state")
        for item in page["Items"]
    ]
    return {item["pk"]["S"]: item for item in items if item["pk"]["S"].startswith("doc#")}


def _sap_url(stack: RunningStack) -> str:
    secret: Any = stack.client("secretsmanager")
    return json.loads(secret.get_secret_value(SecretId="data-engine/local/sap")["SecretString"])["base_url"]


def _sap_records(stack: RunningStack) -> dict[str, Any]:
    response = requests.get(f"{_sap_url(stack)}/_standin/records", timeout=30)
    assert response.ok
    return response.json()


def _sap_rows_of(records: dict[str, Any], subjects: set[str], *, keep: bool = False) -> dict[str, list[Any]]:
    """What SAP holds of `subjects` (or, with keep, of everyone else), per kind."""

    def subject(row: dict[str, Any]) -> str | None:
        return row.get("ContactID") or row.get("InteractionContactId")

    return {
        kind: [row for row in records[kind] if (subject(row) in subjects) != keep]
        for kind in ("contacts", "additional_ids", "permissions", "interactions")
    }


def _text(key: str, body: bytes) -> str:
    return (gzip.decompress(body) if key.endswith(".gz") else body).decode("utf-8", "replace").lower()


def test_two_subjects_are_erased_from_raw_lake_quarantine_state_keeper_and_sap(
    devstack: RunningStack, auth: dict[str, str]
) -> None:
    secret: Any = devstack.client("secretsmanager")
    key = secret.get_secret_value(SecretId="data-engine/local/subject-key")["SecretString"].encode()
    subject_of = subject_of_for(key)
    # GIVEN the samples ingested, the sources declared as mappings declared first (here too)
    declared = {}
    for path in SAMPLES.glob("*/mapping.json"):
        mapping = parse_mapping(json.loads(path.read_text(encoding="utf-8")))
        put = requests.put(
            f"{devstack.api_url}/sources/{mapping.source}/mapping",
            data=path.read_bytes(),
            headers={**auth, "Content-Type": "application/json"},
            timeout=30,
        )
        assert put.status_code == 200, put.text
        declared[mapping.source] = mapped_connector(mapping)
    use_declared_sources(lambda source, version: declared.get(source))
    upload_samples(SAMPLES, BUCKETS["raw"], devstack.client("s3"))
    devstack.wait_until_idle()
    before = _objects(devstack)
    documents_before = _state_documents(devstack)
    sap_before = _sap_records(devstack)
    assert any(k.startswith("lake/") for _, k in before), "ingest wrote no lake objects"

    # WHEN both are requested by email and a job is started now
    api = f"{devstack.api_url}/gdpr"
    request_ids = [
        requests.post(f"{api}/erasure-requests", json={"email": email}, headers=auth, timeout=30).json()["request_id"]
        for email in ERASED
    ]
    started = requests.post(f"{api}/erasure-jobs", headers=auth, timeout=30)
    assert started.status_code == 202, started.text
    deadline, shown = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        shown = [requests.get(f"{api}/erasure-requests/{r}", headers=auth, timeout=30).json() for r in request_ids]
        if all(s["status"] in ("DONE", "FAILED") for s in shown):
            break
        time.sleep(0.5)
    assert [s["status"] for s in shown] == ["DONE", "DONE"], json.dumps(shown)[:3000]
    erased = {s["subject_id"] for s in shown}
    devstack.wait_until_idle()  # the State Keeper records ERASED from its queue, after the job's step
    assert all(s["report"]["rows_removed"] >= 2 and s["report"]["verification"]["clean"] for s in shown)

    # THEN a full scan finds no object holding their emails or subject ids ...
    after = _objects(devstack)
    for (bucket, object_key), body in after.items():
        text = _text(object_key, body)
        assert not any(email in text for email in ERASED), (bucket, object_key)
        assert not any(subject in text for subject in erased), (bucket, object_key)
    # ... no record (lake row, raw or quarantined record) of theirs, so no name or phone of theirs ...
    records_before = {k: _records(*k, body, subject_of) for k, body in before.items()}
    records_after = {k: _records(*k, body, subject_of) for k, body in after.items()}
    assert all(who not in erased for records in records_after.values() for who, _ in records)
    assert any(who in erased for records in records_before.values() for who, _ in records)
    # ... and nothing in the State Keeper links to them
    documents_after = _state_documents(devstack)
    assert not any(s in json.dumps(documents_after) for s in erased)

    # AND every other record is exactly as before: objects byte for byte where nothing was
    # removed, the other records of rewritten objects equal, other documents' state unchanged
    assert set(after) >= set(before)
    for object_key, records in records_before.items():
        kept = [record for who, record in records if who not in erased]
        if len(kept) == len(records):
            assert after[object_key] == before[object_key], object_key
        else:
            assert [record for _, record in records_after[object_key]] == kept, object_key
    erased_documents = {pk for pk, item in documents_before.items() if item.get("subject", {}).get("S") in erased}
    assert erased_documents
    assert {pk: item for pk, item in documents_after.items() if pk not in erased_documents} == {
        pk: item for pk, item in documents_before.items() if pk not in erased_documents
    }
    for pk in erased_documents:
        assert documents_after[pk]["st"]["S"] == "ERASED"

    # AND in SAP: the erased contacts were there, and now hold no email, name or phone ...
    theirs_before = _sap_rows_of(sap_before, erased)
    assert len(theirs_before["contacts"]) == 2 and any(c["EmailAddress"] for c in theirs_before["contacts"])
    assert all(s["report"]["sap"] == "MARKED_FOR_DELETION" for s in shown)
    # ... VerifyErasure read them back from SAP and found both clean (it reports counts only) ...
    assert all(s["report"]["verification"]["sap"] == {"verified": 2, "not_clean": 0} for s in shown)
    sap_after = _sap_records(devstack)
    theirs = _sap_rows_of(sap_after, erased)
    for contact in theirs["contacts"]:
        assert contact["IsObsolete"] is True
        assert all(
            contact.get(name) is None
            for name in ("EmailAddress", "FirstName", "LastName", "FullName", "PhoneNumber", "MobileNumber")
        )
    assert theirs["additional_ids"] == []
    assert not any(email in json.dumps([theirs["contacts"], sap_after["additional_ids"]]).lower() for email in ERASED)
    # ... after SAP's deletion jobs no trace of them at all (consents included) ...
    deleted = requests.post(f"{_sap_url(devstack)}/_standin/jobs/delete-obsolete-contacts", timeout=30).json()
    assert deleted["deleted"]["contacts"] == 2
    sap_final = _sap_records(devstack)
    assert not any(email in json.dumps(sap_final).lower() for email in ERASED)
    assert not any(subject in json.dumps(sap_final) for subject in erased)
    # ... and every other contact, ID, consent and interaction in SAP is exactly as before
    assert _sap_rows_of(sap_final, erased, keep=True) == _sap_rows_of(sap_before, erased, keep=True)

"""What a pipeline run logs and measures: counts equal the State Keeper's; no personal data anywhere.

Files go through `app.py`'s handlers on the emulator (S3 event, normalize, State Keeper,
SAP dispatch to the stand-in); every JSON line they print is read back: log lines and the
EMF documents the middleware flushes once per invocation.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import pytest

from chalicelib import observability, wiring
from tests.integration.observability.conftest import SAMPLES, LocalPipeline, emf_documents, printed_json

TICKETSHOP = (SAMPLES / "ticketshop" / "export.csv").read_bytes()
PEOPLE = [
    ("Zenobia", "Quillfeather", "zenobia.quillfeather@example.org", "+49 151 98765432"),
    ("Bartholomew", "Ashcombe", "b.ashcombe@example.net", "+44 7700 900123"),
    ("Ximena", "Oyelaran", "ximena.oyelaran@example.com", "+34 612 345 678"),
]
NOT_AN_EMAIL = "ximena.oyelaran(at)example.com"


def canonical_file() -> bytes:
    """Three people, one of them twice: the second time with an email that is not one (INVALID)."""
    records = [
        {
            "platform": "partner_shop",
            "record_id": f"obs-{number}",
            "contact": {"email": email, "first_name": first, "last_name": last, "phone": phone, "country": "DE"},
            "interaction": {"type": "registration", "occurred_at": "2026-08-01T12:00:00Z"},
        }
        for number, (first, last, email, phone) in enumerate(PEOPLE)
    ]
    records.append({**records[2], "record_id": "obs-bad", "contact": {**records[2]["contact"], "email": NOT_AN_EMAIL}})
    return "\n".join(json.dumps(record) for record in records).encode()


def ticketshop_people() -> set[str]:
    """The names, emails and phone numbers in the ticketshop sample."""
    rows = csv.DictReader(io.StringIO(TICKETSHOP.decode("utf-8")), delimiter=";")
    return {row[column] for row in rows for column in ("Vorname", "Nachname", "E-Mail", "Telefon") if row[column]}


def emitted(documents: list[dict[str, Any]]) -> Counter[tuple[str, str | None]]:
    """(metric, source) -> the sum of every value printed for it."""
    sums: Counter[tuple[str, str | None]] = Counter()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                sums[(metric["Name"], document.get("source"))] += sum(document[metric["Name"]])
    return sums


def test_the_metrics_of_a_run_equal_the_state_keepers_counts(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two sources' files, with valid and invalid records
    pipeline.deliver("ticketshop", ".csv", TICKETSHOP)
    pipeline.deliver("canonical", ".jsonl", canonical_file())

    # WHEN they go through the pipeline, SAP included
    pipeline.run_until_empty()

    # THEN the printed metrics count what the State Keeper counted, per state and source
    documents = emf_documents(printed_json(capsys.readouterr().out))
    sums = emitted(documents)
    kept: Counter[tuple[str, str | None]] = Counter()
    for row in wiring.state_queries().stats()["counts"]:
        for state, number in row["states"].items():
            kept[(state, row["source"])] += number
    for source in ("ticketshop", "canonical"):
        for state in ("RECEIVED", "NORMALIZED", "INVALID", "QUEUED_FOR_SAP"):
            metric = "Records" + "".join(part.capitalize() for part in state.split("_"))
            assert sums[(metric, source)] == kept[(state, source)], (metric, source)
    # SAP's answers come from a component that knows no source: counted without one
    delivered = sum(number for (state, _), number in kept.items() if state == "DELIVERED")
    assert delivered > 0 and sums[("RecordsDelivered", None)] == delivered
    assert sums[("Rejects", "canonical")] == kept[("INVALID", "canonical")] >= 1
    assert sums[("ChunksNormalized", "ticketshop")] >= 1 and sums[("SapRequests", None)] >= 2
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in documents} == {"data-engine/local"}
    assert all(d["function_name"] for d in documents)


def test_no_log_line_or_metric_holds_a_persons_data(
    pipeline: LocalPipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN files with known names, emails and phone numbers, one email malformed
    personal = ticketshop_people() | {value for person in PEOPLE for value in person} | {NOT_AN_EMAIL}

    # WHEN they are normalized and dispatched to SAP with every chalicelib logger at DEBUG
    with observability.log_level("DEBUG"):
        file_id = pipeline.deliver("canonical", ".jsonl", canonical_file())
        pipeline.deliver("ticketshop", ".csv", TICKETSHOP)
        pipeline.run_until_empty()

    # THEN lines were logged, with their correlation ids, and none holds any of those values
    out = capsys.readouterr().out
    lines = printed_json(out)
    logs = [line for line in lines if "_aws" not in line]
    assert logs and emf_documents(lines)
    assert any(line.get("correlation_id") == file_id for line in logs)  # the S3 event's file
    assert any(line.get("chunk_id", "").startswith(file_id) for line in logs)  # a chunk of it
    assert any(line.get("message_ids") and line.get("function_name") == "dispatch_to_sap" for line in logs)
    assert wiring.state_queries().stats()["counts"], "the run reached the State Keeper"
    lowered = out.lower()
    leaked = sorted(value for value in personal if value.lower() in lowered)
    assert leaked == []

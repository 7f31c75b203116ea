"""A known source's JSON object without page keys is one record (a webhook payload)."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.rewriter import DROP, KEEP, count_records, rewrite_records

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "google_ads" / "webhook-001.json"
KEY = "incoming/google_ads/2026/11/05/abc.json"
FORMAT = connector_for("google_ads").file_format


def _email(record: dict) -> str:
    return next(c["string_value"] for c in record["user_column_data"] if c["column_id"] == "EMAIL")


def test_a_webhook_payload_is_one_record_not_its_column_list() -> None:
    content = SAMPLE.read_bytes()
    assert count_records(content, KEY, FORMAT, lambda r: "@" in _email(r)) == (1, 1)


def test_dropping_the_one_record_empties_the_object_and_keeping_it_keeps_the_bytes() -> None:
    content = SAMPLE.read_bytes()
    assert rewrite_records(content, KEY, FORMAT, lambda r: KEEP).content == content
    dropped = rewrite_records(content, KEY, FORMAT, lambda r: DROP)
    assert dropped.dropped == 1 and dropped.content == b""
    assert count_records(dropped.content, KEY, FORMAT, lambda r: True) == (0, 0)


def test_replacing_the_one_record_writes_the_new_record() -> None:
    content = SAMPLE.read_bytes()
    replaced = rewrite_records(content, KEY, FORMAT, lambda r: {**r, "lead_id": "x"})
    assert json.loads(replaced.content)["lead_id"] == "x"

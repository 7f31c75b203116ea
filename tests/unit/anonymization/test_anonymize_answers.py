"""Answers are personal data: a retention policy naming them nulls them in the lake and the raw file."""

from __future__ import annotations

import io
import json
from datetime import date

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from chalicelib.anonymization.anonymize import FieldRule, KeyedPseudonymizer, RetentionPolicy, anonymize_value
from chalicelib.anonymization.run import AnonymizationRun
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.normalize.lake import lake_objects, lake_schema
from tests.unit.normalize.conftest import SAMPLES, raw_key, run_sample

PSEUDONYMIZE = KeyedPseudonymizer(b"pseudonym-key")
TODAY = date(2028, 1, 1)


def test_a_list_is_nulled_whole_by_null_and_by_pseudonymize() -> None:
    answers = [{"key": "q", "label": None, "values": ["a"]}]
    assert anonymize_value(answers, FieldRule(action="null"), PSEUDONYMIZE) is None
    assert anonymize_value(answers, FieldRule(action="pseudonymize"), PSEUDONYMIZE) is None


def test_answers_cannot_be_generalized() -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(days_after_event=30, fields={"answers": FieldRule(action="generalize", to="prefix", keep=2)})


@pytest.mark.parametrize("action", ["null", "pseudonymize"])
def test_a_policy_on_answers_nulls_them_in_the_lake_and_in_the_raw_file(action: str) -> None:
    # GIVEN the Graph leads sample ingested: its raw file and its lake objects
    result = run_sample("facebook_leads", "leads.json")
    store = InMemoryObjectStore()
    raw = (SAMPLES / "facebook_leads" / "leads.json").read_bytes()
    store.add("raw", raw_key("facebook_leads", "f0000000001.json"), raw)
    for lake_object in lake_objects(result.valid, "f0000000001-00000"):
        buffer = io.BytesIO()
        pq.write_table(lake_object.table, buffer)
        store.add("lake", lake_object.key, buffer.getvalue())
    policy = RetentionPolicy(days_after_event=30, fields={"answers": FieldRule(action=action)})  # type: ignore[arg-type]
    run = AnonymizationRun(store, "lake", "raw", [policy], PSEUDONYMIZE)
    # WHEN the anonymization runs
    report = run.run(today=TODAY)
    # THEN only the rows with answers changed, their answers are null, the rest is as it was
    with_answers = {r.document_id for r in result.valid if r.answers}
    assert report.documents_anonymized == len(with_answers) == 3
    for (bucket, _key), stored in store.objects.items():
        if bucket == "lake":
            table = pq.read_table(io.BytesIO(stored.body))
            assert table.schema.equals(lake_schema())
            assert set(table["answers"].to_pylist()) == {None} and None not in table["email"].to_pylist()
    # the raw file's answer values are gone, the standard questions are kept
    leads = json.loads(store.objects[("raw", raw_key("facebook_leads", "f0000000001.json"))].body)["data"]
    first = {entry["name"]: entry["values"] for entry in leads[0]["field_data"]}
    assert first["what_interests_you_most?"] == [None, None, None] and first["email"] == ["anna.schmidt@example.org"]
    assert "Un ami" not in json.dumps(leads, ensure_ascii=False)
    # AND a second run changes nothing
    again = run.run(today=TODAY)
    assert (again.lake_objects_changed, again.raw_objects_changed, again.documents_anonymized) == (0, 0, 0)

"""Custom answers: picked by the connectors, cleaned by the normalizer, kept in the lake."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chalicelib.lake_access.catalog import lake_table
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.lake_access.rewrite_object import rewrite_without_subjects
from chalicelib.normalize.connectors.eventbrite import EventbriteAttendees
from chalicelib.normalize.connectors.facebook_leads import FacebookLeadsDownload, FacebookLeadsGraph
from chalicelib.normalize.connectors.google_ads import GoogleAdsLeadWebhook
from chalicelib.normalize.lake import ANSWERS_TYPE, athena_columns, lake_key, lake_schema, to_arrow_table
from chalicelib.normalize.schema import SCHEMA_VERSION, Answer, NormalizedRecord, Rejected
from tests.unit.normalize.conftest import run, run_sample


def _lead(field_data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "1", "created_time": "2026-11-01T10:20:11+0000", "form_id": "64", "field_data": field_data}


def _answers(source: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    result = run(source, json.dumps(record).encode(), "f1.json")
    assert not result.rejected, result.rejected
    return [answer.model_dump() for answer in result.valid[0].answers]


# -- connectors -------------------------------------------------------------------------------


def test_meta_custom_questions_keep_one_or_many_values_and_standard_ones_stay_in_the_contact() -> None:
    draft = FacebookLeadsGraph().draft(
        _lead(
            [
                {"name": "email", "values": ["ada@example.org"]},
                {"name": "full_name", "values": ["Ada Lovelace"]},
                {"name": "city", "values": ["London"]},
                {"name": "preferred_day", "values": ["saturday"]},
                {"name": "interests", "values": ["workshops", "keynotes"]},
                {"name": "unanswered", "values": []},
                {"name": "no_values"},
            ]
        )
    )
    assert draft.email == "ada@example.org" and draft.full_name == "Ada Lovelace"
    assert draft.answers == [("preferred_day", None, ["saturday"]), ("interests", None, ["workshops", "keynotes"])]


def test_a_meta_lead_with_only_standard_questions_has_no_answers() -> None:
    assert FacebookLeadsGraph().draft(_lead([{"name": "email", "values": ["ada@example.org"]}])).answers is None


def test_the_meta_download_keeps_its_extra_question_columns_and_skips_empty_cells() -> None:
    row = {
        "id": "l:1",
        "created_time": "2026-11-10T00:15:42+01:00",
        "form_id": "f:64",
        "form_name": "Presale",
        "email": "ada@example.org",
        "phone_number": "p:+436641234567",
        "which_day?": "sunday",
        "budget": "",
        "lead_status": "CREATED",
    }
    draft = FacebookLeadsDownload().draft(row)
    assert draft.answers == [("which_day?", None, ["sunday"])] and draft.phone == "+436641234567"


def test_google_custom_columns_become_answers_labelled_by_their_column_name() -> None:
    draft = GoogleAdsLeadWebhook().draft(
        {
            "lead_id": "L1",
            "user_column_data": [
                {"column_name": "User Email", "string_value": "ada@example.org", "column_id": "EMAIL"},
                {"column_name": "City", "string_value": "London", "column_id": "CITY"},
                {"column_name": "Which day?", "string_value": "Saturday", "column_id": "WHICH_DAY"},
                {"column_name": "Topics", "string_value": "Privacy", "column_id": "TOPICS"},
                {"column_name": "Topics", "string_value": "Pipelines", "column_id": "TOPICS"},
                {"column_name": "Left empty", "column_id": "LEFT_EMPTY"},
                {"column_name": "Only a name", "string_value": "yes"},
            ],
        }
    )
    assert draft.email == "ada@example.org"
    assert draft.answers == [
        ("WHICH_DAY", "Which day?", ["Saturday"]),
        ("TOPICS", "Topics", ["Privacy", "Pipelines"]),
        ("Only a name", "Only a name", ["yes"]),
    ]


def test_eventbrite_answers_are_keyed_by_question_id_and_unanswered_questions_are_absent() -> None:
    draft = EventbriteAttendees().draft(
        {
            "id": "31",
            "profile": {"email": "ada@example.org"},
            "answers": [
                {"answer": "Vegan", "question": "Diet", "question_id": "41", "type": "multiple_choice"},
                {"question": "Company", "question_id": "42", "type": "text"},
                {"answer": "", "question": "Notes", "question_id": "43", "type": "text"},
            ],
        }
    )
    assert draft.answers == [("41", "Diet", ["Vegan"])]
    assert EventbriteAttendees().draft({"id": "31", "answers": []}).answers is None


def test_the_samples_carry_their_answers() -> None:
    leads = {r.lineage.source_record_id: r for r in run_sample("facebook_leads", "leads.json").valid}
    assert leads["1300000000000000"].answers == [
        Answer(key="which_day_will_you_attend?", values=["saturday"]),
        Answer(key="what_interests_you_most?", values=["workshops", "networking", "keynotes"]),
    ]
    assert [a.key for a in leads["1300000000007919"].answers] == ["what_interests_you_most?"]  # one unanswered
    google = run_sample("google_ads", "webhook-001.json").valid[0]
    assert google.answers[0] == Answer(
        key="WHICH_DAY_WILL_YOU_ATTEND", label="Which day will you attend?", values=["Saturday"]
    )
    attendees = {r.lineage.source_record_id: r for r in run_sample("eventbrite", "attendees-page-1.json").valid}
    assert attendees["3100000000"].answers == [
        Answer(key="41000001", label="Dietary requirements", values=["Vegetarian"])
    ]
    csv = run_sample("facebook_leads_csv", "leads.csv")
    assert sum(1 for r in csv.valid if r.answers) == 8 and len(csv.valid) == 14


# -- normalizer -------------------------------------------------------------------------------


def test_answers_are_cleaned_like_other_texts_and_empty_ones_dropped() -> None:
    answers = _answers(
        "facebook_leads",
        _lead(
            [
                {"name": "email", "values": ["ada@example.org"]},
                {"name": " spaced ", "values": ["  two   words ", "", "   ", None, 42, True]},
                {"name": "only_blanks", "values": ["", "  "]},
                {"name": "nested", "values": [{"odd": "shape"}]},
            ]
        ),
    )
    assert answers == [{"key": "spaced", "label": None, "values": ["two words", "42", "true"]}]


def test_an_absurdly_long_answer_rejects_the_record_without_quoting_it() -> None:
    secret = "x" * 2001
    result = run(
        "facebook_leads",
        json.dumps(
            _lead([{"name": "email", "values": ["ada@example.org"]}, {"name": "essay", "values": [secret]}])
        ).encode(),
        "f1.json",
    )
    (rejected,) = result.rejected
    assert isinstance(rejected, Rejected)
    assert [(r.field, r.code) for r in rejected.reasons] == [("answers", "too_long")]
    assert secret not in rejected.model_dump_json()


def test_a_long_answer_within_the_limit_is_kept_and_many_values_are_capped() -> None:
    answers = _answers(
        "facebook_leads",
        _lead(
            [
                {"name": "email", "values": ["ada@example.org"]},
                {"name": "essay", "values": ["y" * 2000]},
                {"name": "choices", "values": [f"c{i}" for i in range(60)]},
                {"name": "k" * 300, "values": ["v"]},
            ]
        ),
    )
    assert answers[0]["values"] == ["y" * 2000]
    assert answers[1]["values"] == [f"c{i}" for i in range(50)]
    assert answers[2]["key"] == "k" * 200


def test_control_characters_in_an_answer_reject_the_record() -> None:
    result = run(
        "facebook_leads",
        json.dumps(
            _lead([{"name": "email", "values": ["ada@example.org"]}, {"name": "q", "values": ["a\x00b"]}])
        ).encode(),
        "f1.json",
    )
    assert [(r.field, r.code) for r in result.rejected[0].reasons] == [("answers", "invalid_text")]


def test_the_schema_bounds_answers() -> None:
    with pytest.raises(ValueError):
        Answer(key="q", values=[])
    with pytest.raises(ValueError):
        Answer(key="q", values=["z" * 2001])
    with pytest.raises(ValueError):
        Answer(key="q", values=["v"] * 51)


# -- lake -------------------------------------------------------------------------------------


def _with_answers() -> list[NormalizedRecord]:
    return run_sample("facebook_leads", "leads.json").valid


def test_the_answers_column_round_trips_through_parquet() -> None:
    records = _with_answers()
    table = to_arrow_table(records)
    assert table.schema.field("answers").type == ANSWERS_TYPE
    sink = io.BytesIO()
    pq.write_table(table, sink)
    rows = {r["document_id"]: r for r in pq.read_table(io.BytesIO(sink.getvalue())).to_pylist()}
    for record in records:
        expected = [a.model_dump() for a in record.answers] or None
        assert rows[record.document_id]["answers"] == expected
        assert rows[record.document_id]["schema_version"] == SCHEMA_VERSION


def test_the_glue_table_declares_the_answers_column() -> None:
    assert ("answers", "array<struct<key:string,label:string,values:array<string>>>") in athena_columns()


def test_the_query_engine_reads_old_objects_without_the_column_beside_new_ones() -> None:
    records = _with_answers()
    store = InMemoryObjectStore()
    new, old = io.BytesIO(), io.BytesIO()
    pq.write_table(to_arrow_table(records[:3]), new)
    old_table = to_arrow_table(records[3:6])
    pq.write_table(old_table.drop_columns(["answers"]), old)  # written before schema version 2
    store.add("lake", lake_key("facebook_leads", date(2026, 11, 1), "new-00000"), new.getvalue())
    store.add("lake", lake_key("facebook_leads", date(2026, 11, 2), "old-00000"), old.getvalue())
    table = lake_table("data-engine", "local", "lake")
    engine = DuckDbQueryEngine([table], store, schemas={table.qualified_name: lake_schema()})
    result = engine.run(
        'SELECT "document_id", "answers" FROM "data_engine_local"."lake_records" WHERE "answers" IS NOT NULL ORDER BY 1'
    )
    with_answers = sorted(r.document_id for r in records[:3] if r.answers)
    assert result.column("document_id") == with_answers
    assert result.column("answers")[0]
    everything = engine.run('SELECT count(*), count("answers") FROM "data_engine_local"."lake_records"')
    assert everything.rows == [(6, len(with_answers))]


def test_erasure_drops_the_rows_with_their_answers_and_keeps_the_column() -> None:
    records = _with_answers()
    buffer = io.BytesIO()
    pq.write_table(to_arrow_table(records), buffer)
    key = lake_key("facebook_leads", date(2026, 11, 1), "abc-00000")
    store = InMemoryObjectStore()
    store.add("lake", key, buffer.getvalue())
    erased = records[0].subject_id
    assert erased and records[0].answers
    outcome = rewrite_without_subjects(store, "lake", key, {erased})
    table = pq.read_table(io.BytesIO(store.objects[("lake", key)].body))
    assert outcome.rows_removed == 1 and table.schema.equals(lake_schema())
    left = [json.dumps(v) for v in table["answers"].to_pylist()]
    assert not any("workshops" in v for v in left)  # only the erased subject gave that answer
    assert pa.types.is_list(table.schema.field("answers").type)

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from chalicelib.normalize.exceptions import InvalidLakePartition
from chalicelib.normalize.lake import (
    athena_columns,
    event_date,
    lake_key,
    lake_objects,
    lake_schema,
    partition_projection,
    subject_key,
    to_arrow_table,
)
from chalicelib.normalize.sources import SOURCES
from tests.unit.normalize.conftest import run_sample


def test_rows_are_flat_typed_and_sorted_by_subject_key() -> None:
    records = run_sample("ticketshop", "export.csv").valid
    table = to_arrow_table(records)
    assert table.schema == lake_schema() and table.num_rows == len(records)
    keys = table.column("subject_key").to_pylist()
    assert keys == sorted(keys) and None not in keys
    assert keys == [subject_key(s) for s in table.column("subject_id").to_pylist()]


def test_a_row_without_a_subject_has_no_subject_key_and_sorts_first() -> None:
    records = run_sample("ticketshop", "export.csv").valid
    anonymous = records[-1].model_copy(update={"subject_id": None})
    table = to_arrow_table([*records[:-1], anonymous])
    assert table.column("subject_key").to_pylist()[0] is None
    assert table.column("document_id").to_pylist()[0] == anonymous.document_id
    assert Decimal("1249.0000") in table.column("amount").to_pylist()
    assert "source" not in table.column_names and "event_date" not in table.column_names


def test_a_table_round_trips_through_parquet() -> None:
    table = to_arrow_table(run_sample("eventbrite", "attendees-page-1.json").valid)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    assert pq.read_table(io.BytesIO(sink.getvalue())).equals(table)


def test_the_partition_date_is_the_event_start_else_the_interaction_date() -> None:
    with_event = run_sample("eventbrite", "attendees-page-1.json").valid[0]
    assert event_date(with_event) == date(2026, 10, 1)
    lead = run_sample("google_ads", "webhook-001.json").valid[0]
    assert event_date(lead) == lead.interaction.occurred_at.date()


def test_the_same_chunk_always_gets_the_same_keys() -> None:
    records = run_sample("ticketshop", "export.csv").valid
    first = [o.key for o in lake_objects(records, "f0001-00000")]
    again = [o.key for o in lake_objects(list(reversed(records)), "f0001-00000")]
    assert first == again
    assert first == [
        "lake/source=ticketshop/event_date=2027-03-05/part-f0001-00000.parquet",
        "lake/source=ticketshop/event_date=2027-06-12/part-f0001-00000.parquet",
    ]


def test_a_key_part_that_would_break_the_layout_is_refused() -> None:
    with pytest.raises(InvalidLakePartition):
        lake_key("ticketshop", date(2026, 1, 1), "../other")


def test_the_glue_declaration_helpers_match_the_layout() -> None:
    projection = partition_projection(sorted(SOURCES), location="s3://lake-bucket/lake/")
    assert [k["name"] for k in projection["partition_keys"]] == ["source", "event_date"]
    assert (
        projection["parameters"]["storage.location.template"]
        == "s3://lake-bucket/lake/source=${source}/event_date=${event_date}/"
    )
    names = [name for name, _ in athena_columns()]
    assert {"subject_id", "raw_key", "document_id", "ingest_date"} <= set(names)
    assert not {"source", "event_date"} & set(names)

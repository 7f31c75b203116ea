"""The find's SQL is built by pure functions that quote every input."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.erasure.find_objects import (
    PartitionFilter,
    find_objects,
    find_subjects_sql,
    partitions_of,
    quote_identifier,
    quote_literal,
)
from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from tests.unit.lake_access.builders import lake_key, lake_parquet, person


def test_it_selects_the_distinct_paths_of_the_subjects_rows() -> None:
    assert find_subjects_sql("data_engine_local.lake_records", ["b2", "a1", "a1"]) == (
        'SELECT DISTINCT "$path" FROM "data_engine_local"."lake_records" WHERE "subject_id" IN (\'a1\', \'b2\')'
    )


def test_it_adds_the_lineage_column_and_every_partition_condition() -> None:
    partitions = PartitionFilter(
        sources=("eventbrite", "amazon"), event_date_from=date(2024, 1, 1), event_date_to=date(2024, 12, 31)
    )
    assert find_subjects_sql("db.t", ["s1"], partitions, lineage_column="raw_key") == (
        'SELECT DISTINCT "$path", "raw_key" FROM "db"."t" WHERE "subject_id" IN (\'s1\') '
        "AND \"source\" IN ('amazon', 'eventbrite') AND \"event_date\" >= '2024-01-01' "
        "AND \"event_date\" <= '2024-12-31'"
    )


def test_it_restricts_to_event_dates_and_paths() -> None:
    partitions = PartitionFilter(event_dates=(date(2024, 3, 1),), paths=("s3://lake/a.parquet",))
    assert find_subjects_sql("db.t", ["s1"], partitions) == (
        'SELECT DISTINCT "$path" FROM "db"."t" WHERE "subject_id" IN (\'s1\') '
        "AND \"event_date\" IN ('2024-03-01') AND \"$path\" IN ('s3://lake/a.parquet')"
    )


def test_it_doubles_quotes_so_no_input_escapes_its_literal() -> None:
    assert quote_literal("x' OR '1'='1") == "'x'' OR ''1''=''1'"
    assert quote_identifier('we"ird') == '"we""ird"'
    assert find_subjects_sql('d.t"; DROP', ["'; --"]) == (
        'SELECT DISTINCT "$path" FROM "d"."t""; DROP" WHERE "subject_id" IN (\'\'\'; --\')'
    )


def test_it_refuses_a_find_without_subjects() -> None:
    # an empty IN list would be invalid SQL; no list at all would scan everybody
    with pytest.raises(ValueError):
        find_subjects_sql("db.t", [])


def test_it_refuses_nul_characters() -> None:
    with pytest.raises(ValueError):
        quote_literal("a\x00b")


def test_partitions_of_found_keys_name_their_sources_dates_and_paths() -> None:
    table = LakeTable("db", "t", "lake", subject_key_column=None)
    keys = [lake_key("amazon", "2024-02-01"), lake_key("eventbrite", "2024-03-01")]
    assert partitions_of(keys, table) == PartitionFilter(
        sources=("amazon", "eventbrite"),
        event_dates=(date(2024, 2, 1), date(2024, 3, 1)),
        paths=tuple(f"s3://lake/{k}" for k in keys),
    )


def test_the_find_names_lake_objects_and_the_raw_files_they_came_from() -> None:
    # GIVEN two lake objects, one holding the subject
    store = InMemoryObjectStore()
    wanted = person(1, raw_key="incoming/eventbrite/2024/03/01/f1.jsonl")
    store.add("lake", lake_key("eventbrite", "2024-03-01"), lake_parquet([wanted, person(2)]))
    store.add("lake", lake_key("amazon", "2024-03-02"), lake_parquet([person(3, source="amazon")]))
    table = LakeTable("db", "lake_records", "lake", subject_key_column=None)
    # WHEN the find runs
    found = find_objects(DuckDbQueryEngine([table], store), table, [wanted["subject_id"]], raw_bucket="raw")
    # THEN it names the one lake object and the raw file, and says what it scanned
    assert found.lake_keys == [lake_key("eventbrite", "2024-03-01")]
    assert found.raw_keys == ["incoming/eventbrite/2024/03/01/f1.jsonl"]
    assert found.bytes_scanned > 0 and found.queries == 1


def test_with_a_key_column_it_finds_by_the_subjects_compact_keys() -> None:
    # subject_key = first 8 bytes of SHA-256(subject id), signed: 8 bytes a row to scan
    assert find_subjects_sql("db.t", ["a1", "b2"], key_column="subject_key") == (
        'SELECT DISTINCT "$path" FROM "db"."t" WHERE "subject_key" IN (-765627950858751136, 5194015004204763663)'
    )

"""DuckDB stands in for Athena: "$path", partitions from the key, pruning, honest bytes."""

from __future__ import annotations

from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine, partition_values
from tests.unit.lake_access.builders import lake_key, lake_parquet, person

TABLE = LakeTable("db", "lake_records", "lake", subject_key_column=None)


def _lake(count: int = 300) -> InMemoryObjectStore:
    store = InMemoryObjectStore()
    for number, (source, day) in enumerate(
        [("amazon", "2024-01-01"), ("amazon", "2024-02-01"), ("eventbrite", "2024-01-01"), ("eventbrite", "2024-02-01")]
    ):
        rows = [person(number * 10000 + i, source=source, event_date=day) for i in range(count)]
        store.add("lake", lake_key(source, day), lake_parquet(rows))
    store.add("lake", "lake/_manifest.json", b"{}")  # not Parquet: not part of the table
    return store


def test_it_exposes_the_object_uri_as_path_and_partitions_from_the_key() -> None:
    result = DuckDbQueryEngine([TABLE], _lake()).run(
        'SELECT "$path", "source", "event_date", count(*) AS n FROM "db"."lake_records" GROUP BY 1, 2, 3 ORDER BY 1'
    )
    assert result.columns == ["$path", "source", "event_date", "n"]
    assert result.rows[0] == ("s3://lake/" + lake_key("amazon", "2024-01-01"), "amazon", "2024-01-01", 300)
    assert len(result.rows) == 4


def test_a_partition_filter_reads_only_the_matching_objects() -> None:
    engine = DuckDbQueryEngine([TABLE], _lake())
    everything = engine.run('SELECT count(*) FROM "db"."lake_records" WHERE "subject_id" <> \'\'')
    pruned = engine.run(
        'SELECT count(*) FROM "db"."lake_records" WHERE "subject_id" <> \'\' '
        "AND \"source\" = 'amazon' AND \"event_date\" >= '2024-02-01'"
    )
    assert (everything.rows, pruned.rows) == ([(1200,)], [(300,)])
    assert (everything.objects_read, pruned.objects_read) == (4, 1)
    assert pruned.bytes_scanned * 3 < everything.bytes_scanned


def test_bytes_scanned_count_only_the_columns_a_query_reads() -> None:
    store = _lake(count=3000)  # objects larger than a footer read, as lake objects are
    lake_bytes = sum(len(o.body) for (_, key), o in store.objects.items() if key.endswith(".parquet"))
    engine = DuckDbQueryEngine([TABLE], store)
    one_column = engine.run('SELECT DISTINCT "$path" FROM "db"."lake_records" WHERE "subject_id" = \'x\'')
    all_columns = engine.run('SELECT * FROM "db"."lake_records"')
    assert 0 < one_column.bytes_scanned * 2 < all_columns.bytes_scanned <= lake_bytes


def test_partition_values_are_the_hive_segments_after_the_prefix() -> None:
    assert partition_values("lake/source=a/event_date=2024-01-01/x.parquet", "lake/") == {
        "source": "a",
        "event_date": "2024-01-01",
    }

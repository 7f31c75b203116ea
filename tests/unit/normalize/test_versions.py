"""Record versions: one platform record is one document; any arrival order of its versions
gives the same current view in the lake, the same current version in the State Keeper and
the same interactions in SAP, each once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.lake_access.catalog import current_view_sql, glue_view_declaration, lake_table, presto_type
from chalicelib.lake_access.object_store import InMemoryObjectStore
from chalicelib.lake_access.query_engine import DuckDbQueryEngine
from chalicelib.normalize.exceptions import InvalidMapping
from chalicelib.normalize.lake import lake_objects, lake_schema
from chalicelib.normalize.mappings import parse_mapping
from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import InteractionType, NormalizedRecord
from chalicelib.normalize.versions import (
    current_versions,
    distinct_versions,
    first_of_each_interaction,
    version_at,
    version_id,
)
from chalicelib.raw_files.records import RawRecord
from chalicelib.sap.dispatcher import QueueMessage, dispatch
from chalicelib.sap.ledger import InMemoryLedger
from chalicelib.sap.outbox import to_dispatch_record
from chalicelib.sap.payloads import DispatchMessage
from chalicelib.sap.throttle import InMemoryThrottle, ThrottleSettings
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from tests.unit.sap.fake_sap import FakeSap

KEY = b"k" * 32
FAST = ThrottleSettings(requests_per_second=1e6, records_per_second=1e9)
CREATED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TABLE = lake_table("data-engine", "local", "lake")


def attendee(hours: int, **flags: Any) -> dict[str, Any]:
    """Eventbrite attendee 3100000001 as it reads `hours` after it was created."""
    return {
        "id": "3100000001",
        "created": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "changed": (CREATED + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event_id": "71000001",
        "order_id": "5100000001",
        "ticket_class_name": "General Admission",
        "quantity": 1,
        "costs": {"gross": {"currency": "EUR", "value": 4990, "major_value": "49.90"}},
        "profile": {"email": "lena.vogel@example.com", "first_name": flags.pop("first_name", "Lena"), "last_name": "V"},
        "checked_in": False,
        "cancelled": False,
        "refunded": False,
        **flags,
    }


# a paid ticket; the buyer corrects her name; she checks in; she is refunded
VERSIONS = [
    attendee(0),
    attendee(2, first_name="Lena Marie"),
    attendee(30, first_name="Lena Marie", checked_in=True),
    attendee(50, first_name="Lena Marie", checked_in=True, refunded=True),
]


def normalized(data: dict[str, Any], arrival: int) -> NormalizedRecord:
    record = normalize(
        "eventbrite",
        RawRecord(0, None, copy.deepcopy(data)),
        f"raw/eventbrite/2026/12/01/f{arrival:010d}.json",
        datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=arrival),
        KEY,
    )
    assert isinstance(record, NormalizedRecord), record
    return record


def test_every_version_is_the_same_document_with_its_change_time_and_interaction() -> None:
    records = [normalized(data, n) for n, data in enumerate(VERSIONS)]
    assert len({r.document_id for r in records}) == 1
    assert [r.interaction.type for r in records] == [
        InteractionType.TICKET_PURCHASE,
        InteractionType.TICKET_PURCHASE,
        InteractionType.CHECK_IN,
        InteractionType.REFUND,
    ]
    assert [version_at(r) for r in records] == [CREATED + timedelta(hours=h) for h in (0, 2, 30, 50)]
    assert len({version_id(r) for r in records}) == 4
    assert current_versions(reversed(records))[records[0].document_id] == records[3]


def test_the_same_version_from_two_files_is_one_version_and_repeats_in_a_file_collapse() -> None:
    first, again = normalized(VERSIONS[2], 1), normalized(VERSIONS[2], 9)
    assert first.lineage != again.lineage and version_id(first) == version_id(again)
    assert distinct_versions([first, again, normalized(VERSIONS[3], 2)]) == [first, normalized(VERSIONS[3], 2)]


def test_a_version_without_a_change_time_is_dated_by_its_arrival() -> None:
    data = attendee(0)
    del data["changed"], data["created"]
    record = normalize("eventbrite", RawRecord(0, None, data), "raw/x.json", CREATED, KEY)
    # an attendee needs its created time for the interaction: rejected, not mis-dated
    assert not isinstance(record, NormalizedRecord)
    lead = normalize(
        "google_ads",
        RawRecord(0, None, {"lead_id": "L1", "user_column_data": [{"column_id": "EMAIL", "string_value": "a@b.de"}]}),
        "raw/g.json",
        CREATED,
        KEY,
    )
    assert isinstance(lead, NormalizedRecord) and version_at(lead) == CREATED


def test_a_mapping_may_not_put_the_status_into_the_record_id() -> None:
    with pytest.raises(InvalidMapping, match="not its status"):
        parse_mapping(
            {
                "source": "shop",
                "format": "delimited",
                "extensions": ["csv"],
                "record_id": ["Ticket", "{interaction_type}"],
                "fields": {"email": {"column": "Email"}},
            }
        )


def test_the_glue_view_is_an_athena_view_of_the_current_versions() -> None:
    view = glue_view_declaration(TABLE)
    assert view["table_type"] == "VIRTUAL_VIEW" and view["view_original_text"].startswith("/* Presto View: ")
    assert "row_number() OVER (PARTITION BY document_id" in current_view_sql(TABLE)
    assert (
        presto_type("array<struct<key:string,values:array<string>>>")
        == "array(row(key varchar, values array(varchar)))"
    )
    assert presto_type("decimal(18,4)") == "decimal(18,4)" and presto_type("timestamp") == "timestamp(3)"


class Pipeline:
    """The pieces a chunk goes through, in memory: lake, State Keeper, SAP outbox and dispatcher."""

    def __init__(self) -> None:
        self.store = InMemoryObjectStore()
        self.state = InMemoryStateStore()
        self.sap = FakeSap()
        self.ledger = InMemoryLedger()
        self.chunks = 0

    def chunk(self, records: list[NormalizedRecord]) -> None:
        """One chunk: what `ingest/normalize_chunk.py` and the SAP handler do with it."""
        import io

        import pyarrow.parquet as pq

        self.chunks += 1
        records = distinct_versions(records)
        for lake_object in lake_objects(records, f"c{self.chunks:04d}-00000"):
            buffer = io.BytesIO()
            pq.write_table(lake_object.table, buffer)
            self.store.add("lake", lake_object.key, buffer.getvalue())
        at = datetime(2026, 12, 2, tzinfo=UTC) + timedelta(seconds=self.chunks)
        self.state.apply(
            [
                StateChange(
                    document_id=r.document_id,
                    state=State.NORMALIZED,
                    at=at,
                    component="normalize",
                    version_id=version_id(r),
                    version_at=version_at(r),
                    interaction=r.interaction.type.value,
                )
                for r in records
            ]
        )
        body = DispatchMessage(records=[to_dispatch_record(r) for r in first_of_each_interaction(records)])
        message = QueueMessage(f"m{self.chunks}", f"r{self.chunks}", body.model_dump_json(), 1, "g1")
        dispatch([message], self.sap, InMemoryThrottle(FAST), self.ledger)

    def current_view(self) -> list[tuple[Any, ...]]:
        engine = DuckDbQueryEngine([TABLE], self.store, schemas={TABLE.qualified_name: lake_schema()})
        return engine.run(
            f"SELECT document_id, interaction_type, version_id, first_name, amount FROM {TABLE.qualified_view}"
        ).rows

    def summed_amount(self) -> Any:
        engine = DuckDbQueryEngine([TABLE], self.store, schemas={TABLE.qualified_name: lake_schema()})
        return engine.run(f"SELECT sum(amount), count(*) FROM {TABLE.qualified_view}").rows[0]


def run_in(order: list[list[int]]) -> Pipeline:
    pipeline = Pipeline()
    arrival = 0
    for chunk in order:
        records = []
        for index in chunk:
            arrival += 1
            records.append(normalized(VERSIONS[index], arrival))
        pipeline.chunk(records)
    return pipeline


IN_ORDER = run_in([[0], [1], [2], [3]])


def test_in_order_the_lake_sums_the_current_version_and_sap_gets_each_interaction_once() -> None:
    (row,) = IN_ORDER.current_view()
    assert row[1:2] == ("refund",) and row[3] == "Lena Marie"
    assert IN_ORDER.summed_amount()[1] == 1  # four version rows, one current row
    assert sorted(key[3] for key in IN_ORDER.sap.interactions) == ["EVENT_ATTENDANCE", "REFUND", "TICKET_PURCHASE"]
    assert set(IN_ORDER.sap.interactions.values()) == {1}
    (document_id,) = {key[2] for key in IN_ORDER.sap.interactions}
    record = IN_ORDER.state.get(document_id)
    assert record is not None and [v.interaction for v in record.versions] == [
        "refund",
        "check_in",
        "ticket_purchase",
        "ticket_purchase",
    ]


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[int]]:
    """Every version at least once, some twice, in any order, in chunks of one to three."""
    indexes = list(range(len(VERSIONS))) + draw(st.lists(st.integers(0, len(VERSIONS) - 1), max_size=3))
    order = draw(st.permutations(indexes))
    chunks, position = [], 0
    while position < len(order):
        size = draw(st.integers(1, 3))
        chunks.append(list(order[position : position + size]))
        position += size
    return chunks


@settings(max_examples=40, deadline=None)
@given(arrivals())
def test_any_arrival_order_gives_the_same_current_view_state_and_sap_content(order: list[list[int]]) -> None:
    pipeline = run_in(order)
    assert pipeline.current_view() == IN_ORDER.current_view()
    assert pipeline.summed_amount() == IN_ORDER.summed_amount()
    assert pipeline.sap.interactions == IN_ORDER.sap.interactions  # every interaction exactly once
    assert pipeline.sap.bodies == IN_ORDER.sap.bodies
    (document_id,) = {key[2] for key in pipeline.sap.interactions}
    assert pipeline.state.get(document_id).current_version == IN_ORDER.state.get(document_id).current_version

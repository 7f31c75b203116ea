"""Sources declared as data: mappings are validated, and a mapped source reads like code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.ingest.mapping_trial import try_mapping
from chalicelib.normalize.exceptions import InvalidMapping
from chalicelib.normalize.mappings import parse_mapping

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
PRETIX = json.loads((SAMPLES / "pretix" / "mapping.json").read_text(encoding="utf-8"))


def with_changes(**changes: Any) -> dict[str, Any]:
    return {**PRETIX, **changes}


@pytest.mark.parametrize(
    "body, names",
    [
        (with_changes(fields={**PRETIX["fields"], "shoe_size": {"column": "Size"}}), "shoe_size"),
        (with_changes(datetime_formats=["dd.mm.yyyy"]), "no strptime directive"),
        (with_changes(timezone="Europe/Atlantis"), "unknown time zone"),
        (
            with_changes(
                fields={**PRETIX["fields"], "interaction_type": {"column": "S", "vocabulary": {"x": "party"}}}
            ),
            "party",
        ),
        (with_changes(fields={**PRETIX["fields"], "email": {"path": "a.b"}}), "JSON paths"),
        (with_changes(fields={**PRETIX["fields"], "email": {"column": "E", "value": "x"}}), "exactly one"),
        (with_changes(record_id=[]), "record_id"),
        (with_changes(source="Pretix!"), "source"),
    ],
)
def test_a_mapping_that_cannot_be_used_is_refused_with_the_reason(body: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidMapping, match=names):
        parse_mapping(body)


def test_a_second_ticketing_layout_is_read_by_its_mapping_alone() -> None:
    # GIVEN pretix's order positions export, whose headers differ from the ticketshop's in all but one
    sample = (SAMPLES / "pretix" / "orders.csv").read_bytes()
    header = sample.decode().splitlines()[0].split(",")
    shop = (SAMPLES / "ticketshop" / "export.csv").read_text(encoding="utf-8").splitlines()[0].split(";")
    assert set(header) & set(shop) == {"Status"}
    # WHEN it is tried with its mapping
    result = try_mapping(parse_mapping(PRETIX), sample)
    # THEN every position is a record; the one without an email is invalid for that reason only
    by_position = {record["position"]: record for record in result["records"]}
    assert len(by_position) == 5 and result["missing_columns"] == []
    first = by_position[2]["record"]  # positions are line numbers: the header is line 1
    assert first["contact"]["email"] == "lena.vogel@example.com"
    assert first["interaction"]["type"] == "ticket_purchase"
    assert first["interaction"]["occurred_at"] == "2026-11-20T08:15:00Z"  # 09:15 in Berlin
    assert first["interaction"]["amount"] == "149.00" and first["interaction"]["currency"] == "EUR"
    assert by_position[3]["record"]["contact"]["country"] == "DE"  # written "Deutschland"
    assert by_position[4]["record"]["interaction"]["type"] == "registration"
    assert by_position[5]["record"]["interaction"]["type"] == "cancellation"
    assert by_position[6]["reasons"] == [{"field": "contact.email", "code": "missing"}]


def test_trying_a_mapping_names_the_record_id_columns_the_sample_lacks() -> None:
    sample = (SAMPLES / "pretix" / "orders.csv").read_text(encoding="utf-8").replace("Position ID", "Pos")
    result = try_mapping(parse_mapping(PRETIX), sample.encode())
    assert result["missing_columns"] == ["Position ID"]
    assert result["valid"] == 0

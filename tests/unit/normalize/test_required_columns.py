"""The columns a delimited connector needs: every sample header has them, a header lacking
one names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.normalize.sources import SOURCES, connector_for

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _header(path: Path, delimiter: str) -> list[str]:
    return [c.strip() for c in path.read_text("utf-8").splitlines()[0].split(delimiter)]


@pytest.mark.parametrize(
    "source, sample, delimiter",
    [
        ("ticketshop", "ticketshop/export.csv", ";"),
        ("facebook_leads_csv", "facebook_leads_csv/leads.csv", ","),
        ("amazon_orders", "amazon_orders/orders.txt", "\t"),
        ("amazon_orders", "amazon_orders/orders-actionable.txt", "\t"),
    ],
)
def test_every_sample_header_has_the_columns_its_connector_needs(source: str, sample: str, delimiter: str) -> None:
    assert connector_for(source).missing_columns(_header(SAMPLES / sample, delimiter)) == []


def test_only_delimited_connectors_declare_columns() -> None:
    declaring = {name for name, c in SOURCES.items() if c.required_columns}
    assert declaring == {"ticketshop", "facebook_leads_csv", "amazon_orders"}
    assert all(SOURCES[name].file_format.kind == "delimited" for name in declaring)


def test_a_ticketshop_header_without_the_ticket_number_or_the_email_names_them() -> None:
    header = _header(SAMPLES / "ticketshop/export.csv", ";")
    renamed = ["Ticket-Nr." if c == "Ticketnummer" else c for c in header]
    assert connector_for("ticketshop").missing_columns(renamed) == ["Ticketnummer"]
    assert connector_for("ticketshop").missing_columns(["Bestellnummer", "Status"]) == ["Ticketnummer", "E-Mail"]


def test_an_amazon_report_needs_an_order_id_and_a_line_item_of_either_family() -> None:
    connector = connector_for("amazon_orders")
    assert connector.missing_columns(["order-id", "order-item-id", "purchase-date"]) == []
    assert connector.missing_columns(["merchant-order-id", "sku"]) == ["amazon-order-id or order-id"]


def test_a_facebook_download_reads_questions_in_any_case_but_the_lead_id_exactly() -> None:
    connector = connector_for("facebook_leads_csv")
    assert connector.missing_columns(["id", "created_time", "Email"]) == []
    assert connector.missing_columns(["ID", "work_email"]) == ["id"]
    assert connector.missing_columns(["id", "full_name"]) == ["email or work_email"]

"""Each connector on the realistic sample files and on hand-made edge cases."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.normalize.normalizer import document_id
from chalicelib.normalize.schema import InteractionType
from chalicelib.subjects.pseudonyms import subject_id
from tests.unit.normalize.conftest import SUBJECT_KEY, run, run_sample


def codes(rejected) -> set[tuple[str, str]]:
    return {(reason.field, reason.code) for item in rejected for reason in item.reasons}


# -- Eventbrite ---------------------------------------------------------------------------


def test_eventbrite_page_maps_attendees_with_their_event(by_record_id) -> None:
    result = run_sample("eventbrite", "attendees-page-1.json")
    assert (len(result.valid), len(result.rejected), result.problems) == (16, 2, [])
    paid = by_record_id(result)["3100000001"]
    assert paid.contact.email == "lukas.muller@example.com"
    assert paid.contact.last_name == "Müller" and paid.contact.phone == "+491701234567"
    assert (paid.interaction.amount, paid.interaction.currency) == (Decimal("51.50"), "EUR")
    assert paid.event.name == "Berlin Data Summit 2026"
    assert paid.event.start == datetime(2026, 10, 1, 7, 0, tzinfo=UTC)
    assert paid.event.venue == "Station Berlin" and paid.event.country == "DE"


def test_eventbrite_flags_become_the_interaction_type(by_record_id) -> None:
    types = {
        r.lineage.source_record_id: r.interaction.type for r in run_sample("eventbrite", "attendees-page-1.json").valid
    }
    assert types["3100000000"] == InteractionType.REGISTRATION  # free ticket
    assert types["3100000004"] == InteractionType.CHECK_IN
    assert types["3100000007"] == InteractionType.CANCELLATION
    assert types["3100000008"] == InteractionType.REFUND


def test_eventbrite_single_attendee_as_fetched_after_a_webhook() -> None:
    result = run_sample("eventbrite", "attendee-webhook-fetch.json")
    assert len(result.valid) == 1 and result.valid[0].interaction.type == InteractionType.CHECK_IN


def test_eventbrite_rejects_a_malformed_email_and_keeps_the_rest_of_the_page() -> None:
    result = run_sample("eventbrite", "attendees-page-1.json")
    assert ("contact.email", "invalid_email") in codes(result.rejected)
    assert ("contact.phone", "invalid_phone") in codes(result.rejected)


# -- Facebook -----------------------------------------------------------------------------


def test_facebook_graph_leads_read_field_data_and_consent(by_record_id) -> None:
    result = run_sample("facebook_leads", "leads.json")
    assert (len(result.valid), len(result.rejected)) == (13, 2)
    lead = by_record_id(result)["1300000000007919"]
    assert lead.contact.first_name == "Lukas" and lead.contact.last_name == "Müller"
    assert lead.contact.phone == "+491701234567" and lead.contact.country == "DE"
    assert lead.interaction.type == InteractionType.LEAD_FORM
    assert lead.interaction.occurred_at == datetime(2026, 11, 2, 11, 21, 11, tzinfo=UTC)
    assert lead.contact.marketing_consent.granted is True
    assert lead.contact.marketing_consent.source == "facebook_lead_form:640000000000001"


def test_facebook_graph_lead_without_created_time_is_rejected() -> None:
    result = run_sample("facebook_leads", "leads.json")
    assert ("interaction.occurred_at", "missing") in codes(result.rejected)


def test_facebook_download_strips_the_id_and_phone_prefixes(by_record_id) -> None:
    result = run_sample("facebook_leads_csv", "leads.csv")
    assert (len(result.valid), len(result.rejected)) == (14, 1)
    lead = by_record_id(result)["1400000000000000"]
    assert lead.contact.phone == "+436641234567"
    assert lead.interaction.occurred_at == datetime(2026, 11, 9, 23, 15, 42, tzinfo=UTC)


def test_the_same_facebook_lead_from_api_and_download_is_one_document() -> None:
    assert document_id("facebook_leads", "1400000000000000") == document_id("facebook_leads_csv", "1400000000000000")


def test_facebook_download_in_utf16_tab_separated_is_read() -> None:
    text = (
        "id\tcreated_time\tform_id\temail\tfull_name\n"
        "l:99\t2026-11-10T08:15:42+01:00\tf:1\tzoe@example.org\tZoë Jansen\n"
    )
    result = run("facebook_leads_csv", text.encode("utf-16"), "x.csv")
    assert [r.contact.last_name for r in result.valid] == ["Jansen"]
    assert result.valid[0].contact.first_name == "Zoë"
    assert result.problem_codes == ["bom"]


# -- Google Ads ---------------------------------------------------------------------------


def test_google_ads_webhook_maps_user_column_data() -> None:
    result = run_sample("google_ads", "webhook-002.json")
    lead = result.valid[0]
    assert lead.contact.email == "lukas.muller@example.com"
    assert (lead.contact.first_name, lead.contact.last_name) == ("Lukas", "Müller")
    assert lead.interaction.occurred_at == datetime(2026, 11, 6, 8, 4, tzinfo=UTC)
    assert lead.lineage.source_record_id == "TeSter-001-Q2lZ4001"


def test_google_ads_test_leads_are_rejected_as_tests() -> None:
    assert codes(run_sample("google_ads", "webhook-012.json").rejected) == {("record", "test_record")}


def test_google_ads_lead_without_submit_time_takes_the_ingest_time() -> None:
    payload = {
        "lead_id": "L1",
        "api_version": "1.0",
        "form_id": 1,
        "campaign_id": 2,
        "google_key": "k",
        "is_test": False,
        "user_column_data": [{"column_id": "EMAIL", "string_value": "a@example.com"}],
    }
    result = run("google_ads", json.dumps(payload).encode(), "x.json")
    assert result.valid[0].interaction.occurred_at == datetime(2026, 11, 28, 12, tzinfo=UTC)


# -- Amazon -------------------------------------------------------------------------------


def test_amazon_all_orders_report_reads_items_without_a_contact(by_record_id) -> None:
    result = run_sample("amazon_orders", "orders.txt")
    assert (len(result.valid), len(result.rejected)) == (23, 1)
    assert result.problem_codes == ["wrong_column_count"]
    ticket = by_record_id(result)["302-1000000-2000000:TKT-BDS26-GA"]
    assert ticket.subject_id is None and ticket.contact.email is None
    assert (ticket.interaction.amount, ticket.interaction.quantity) == (Decimal("298.00"), 2)
    merch = by_record_id(result)["302-1000074-2000182:MRC-HOODIE-L"]
    assert merch.interaction.type == InteractionType.ORDER and merch.contact.country == "AT"


def test_amazon_cancelled_lines_are_cancellations() -> None:
    types = [r.interaction.type for r in run_sample("amazon_orders", "orders.txt").valid]
    assert types.count(InteractionType.CANCELLATION) == 2


def test_amazon_actionable_report_carries_the_buyer() -> None:
    result = run_sample("amazon_orders", "orders-actionable.txt")
    assert len(result.valid) == 10
    first = result.valid[0]
    assert first.subject_id is not None and first.contact.email.endswith("@marketplace.amazon.example")


# -- ticket shop --------------------------------------------------------------------------


def test_ticketshop_export_reads_german_dates_and_decimal_commas(by_record_id) -> None:
    result = run_sample("ticketshop", "export.csv")
    assert (len(result.valid), len(result.rejected)) == (19, 2)
    vip = by_record_id(result)["T7700101"]
    assert vip.interaction.amount == Decimal("1249.00")
    assert vip.interaction.occurred_at == datetime(2026, 10, 2, 8, 3, tzinfo=UTC)  # 10:03 CEST
    assert vip.event.start == datetime(2027, 6, 12, 16, 0, tzinfo=UTC)
    assert vip.event.venue == "Seebühne Konstanz"
    assert vip.contact.marketing_consent.granted is True


def test_ticketshop_status_and_national_phone_numbers(by_record_id) -> None:
    records = by_record_id(run_sample("ticketshop", "export.csv"))
    assert records["T7700102"].contact.phone == "+4915123456789"  # 0151... in the shop's country
    assert records["T7700104"].interaction.type == InteractionType.CANCELLATION
    assert records["T7700105"].interaction.occurred_at == datetime(2026, 11, 10, 11, tzinfo=UTC)


def test_ticketshop_row_with_impossible_date_and_price_is_rejected_with_all_reasons() -> None:
    rejected = run_sample("ticketshop", "export.csv").rejected
    assert {("interaction.occurred_at", "invalid_datetime"), ("interaction.amount", "invalid_amount")} <= codes(
        rejected
    )


# -- canonical ----------------------------------------------------------------------------


def test_canonical_gzip_jsonl_keeps_valid_lines_around_a_broken_one() -> None:
    result = run_sample("canonical", "interactions.jsonl.gz")
    assert (len(result.valid), len(result.rejected)) == (15, 1)
    assert result.problem_codes == ["invalid_json"]
    assert codes(result.rejected) == {("interaction.type", "unknown_interaction_type")}


def test_canonical_normalizes_case_and_language_tags() -> None:
    records = {r.lineage.source_record_id: r for r in run_sample("canonical", "interactions.jsonl.gz").valid}
    upper = records["meetup:rec-5003"]
    assert upper.contact.email == "marco.rossi@example.org"
    assert upper.subject_id == subject_id("marco.rossi@example.org", SUBJECT_KEY)
    assert records["partner_shop:rec-5004"].contact.language == "nl"


def test_canonical_from_a_plain_file() -> None:
    line = {
        "platform": "p",
        "record_id": "1",
        "contact": {"email": "x@example.com"},
        "interaction": {"type": "order", "occurred_at": "2026-01-01T00:00:00Z", "amount": 12.5, "currency": "eur"},
    }
    result = run("canonical", gzip.decompress(gzip.compress(json.dumps(line).encode())), "x.jsonl")
    assert (result.valid[0].interaction.amount, result.valid[0].interaction.currency) == (Decimal("12.5"), "EUR")

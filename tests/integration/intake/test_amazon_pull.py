"""The Amazon report pull against a served Selling Partner API stand-in."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.intake.amazon import AmazonReportPull, LoginWithAmazon, SpApiReports
from chalicelib.intake.exceptions import PlatformRefused
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import SourceSettings
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import RawRecord
from platformstandins.base import Served
from platformstandins.spapi import SellingPartnerStandIn, make_order_row
from sapstandin.faults import Fault
from tests.unit.intake.pull_context import CrashedMidPull, RecordingPullContext

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GERMANY = "A1PA6795UKMFR9"
ACTIONABLE = "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING"


class Waits(list[float]):
    """An injected `sleep`: remembers the waits, sleeps none, may act on a wait."""

    def __init__(self, on_wait: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.on_wait = on_wait

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.on_wait is not None:
            self.on_wait(len(self))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SellingPartnerStandIn, Served]]:
    standin = SellingPartnerStandIn(polls_to_done=3)
    with Served(standin) as server:
        yield standin, server


@pytest.fixture
def standin(served: tuple[SellingPartnerStandIn, Served]) -> SellingPartnerStandIn:
    served[0].reset()
    return served[0]


@pytest.fixture
def http_waits() -> Waits:
    return Waits()


@pytest.fixture
def api(
    standin: SellingPartnerStandIn, served: tuple[SellingPartnerStandIn, Served], http_waits: Waits
) -> SpApiReports:
    url = served[1].url
    http = PlatformHttp("amazon", sleep=http_waits)
    lwa = LoginWithAmazon(http, f"{url}/auth/o2/token", standin.client_id, standin.client_secret, standin.refresh_token)
    return SpApiReports(http, url, lwa)


def pull(api: SpApiReports, sleep: Waits | None = None, **kwargs: Any) -> AmazonReportPull:
    return AmazonReportPull(
        api, poll_seconds=15, sleep=sleep if sleep is not None else Waits(), clock=lambda: NOW, **kwargs
    )


def context(cursor: dict[str, Any] | None = None, **options: Any) -> RecordingPullContext:
    settings = SourceSettings(name="amazon_orders", follow=(GERMANY,), options=options)
    return RecordingPullContext(settings=settings, cursor=cursor)


def records(body: bytes, extension: str) -> list[RawRecord]:
    connector = connector_for("amazon_orders")
    key = f"incoming/amazon_orders/2026/12/01/x{extension}"
    found = read_file(io.BytesIO(body), key, connector.file_format, record_id=connector.record_id)
    return [item for item in found if isinstance(item, RawRecord)]


def seed(standin: SellingPartnerStandIn) -> list[dict[str, str]]:
    rows = [
        make_order_row(purchase_date="2026-12-01T08:00:00+00:00", sku="TKT-BDS26-GA"),
        make_order_row(purchase_date="2026-11-30T20:15:00+00:00", sku="MRC-TSHIRT-M", item_price="24.90"),
        # outside the window (too old, and too recent for the 5-minute lag)
        make_order_row(purchase_date="2026-11-20T10:00:00+00:00"),
        make_order_row(purchase_date="2026-12-01T11:58:00+00:00"),
        # another marketplace
        make_order_row(purchase_date="2026-12-01T09:00:00+00:00", sales_channel="Amazon.fr"),
    ]
    standin.add_orders(rows)
    return rows


def test_a_pull_polls_the_report_and_stores_one_gzip_document_the_connector_reads(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    # GIVEN orders in and out of the first window
    rows = seed(standin)
    ctx, waits = context(), Waits()
    # WHEN the first pull runs
    result = pull(api, waits)(ctx)
    # THEN one .txt.gz holding the two orders of the window is stored
    assert len(ctx.pages) == 1
    ((body, extension),) = ctx.pages.values()
    assert extension == ".txt.gz" and body[:2] == b"\x1f\x8b"
    found = records(body, extension)
    assert sorted(r.data["amazon-order-id"] for r in found) == sorted(r["amazon-order-id"] for r in rows[:2])
    assert {r.source_record_id for r in found} == {
        f"{rows[0]['amazon-order-id']}:TKT-BDS26-GA",
        f"{rows[1]['amazon-order-id']}:MRC-TSHIRT-M",
    }
    # AND the report was polled IN_QUEUE, IN_PROGRESS, DONE with a wait between polls
    assert waits == [15, 15]
    assert standin.stats["get_report"] == 3
    # AND the cursor points past the window, nothing pending
    assert ctx.cursor == {"window_end": "2026-12-01T11:55:00Z"}
    assert ctx.saved[0]["pending"]["start"] == "2026-11-30T12:00:00Z"
    assert (result.pages, result.records, result.files) == (1, 2, list(ctx.pages))
    assert result.requests == standin.stats["requests"]


def test_a_second_pull_right_after_creates_no_report_and_stores_nothing(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    first = context()
    pull(api)(first)
    # WHEN the next run comes right after
    again = context(cursor=first.cursor)
    result = pull(api)(again)
    # THEN the window is empty: no report, no file, no request
    assert again.pages == {} and again.saved == []
    assert standin.stats["create_report"] == 1
    assert (result.pages, result.files, result.requests) == (0, [], 0)


def test_a_pull_out_of_polls_leaves_the_report_pending_and_the_next_run_resumes_it(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    # GIVEN a run that gives up after one poll
    first = context()
    pull(api, max_polls=1)(first)
    assert first.pages == {}
    assert first.cursor is not None and "pending" in first.cursor
    # WHEN the next run comes
    second = context(cursor=first.cursor)
    pull(api)(second)
    # THEN it finishes that report rather than creating a second one
    assert standin.stats["create_report"] == 1
    assert len(second.pages) == 1
    assert second.cursor == {"window_end": first.cursor["pending"]["end"]}


def test_a_pull_that_died_after_creating_the_report_resumes_the_same_report(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    # GIVEN a run that dies right after saving the pending report
    crashed = context()
    crashed.fail_after_pages = 1
    with pytest.raises(CrashedMidPull):
        pull(api)(crashed)
    # WHEN the pull runs again from the saved cursor
    resumed = context(cursor=crashed.cursor)
    pull(api)(resumed)
    # THEN one report in all, one document stored
    assert standin.stats["create_report"] == 1
    assert len(resumed.pages) == 1
    assert [r["reportId"] for r in standin.reports()] == [crashed.saved[0]["pending"]["report_id"]]


def test_an_access_token_that_expires_mid_pull_is_renewed_and_the_pull_completes(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    # GIVEN Amazon expires every token during the first wait between polls
    waits = Waits(on_wait=lambda n: standin.expire_tokens() if n == 1 else None)
    ctx = context()
    pull(api, waits)(ctx)
    # THEN the next call got a 403, a new token was fetched, and the pull finished
    assert standin.stats["status_403"] == 1
    assert standin.stats["token_exchange"] == 2
    assert len(ctx.pages) == 1


def test_a_429_with_retry_after_is_waited_out(
    standin: SellingPartnerStandIn, api: SpApiReports, http_waits: Waits
) -> None:
    seed(standin)
    # GIVEN createReport answers 429 once, asking for 3 seconds
    standin.faults.add(
        Fault(kind="status", status=429, retry_after=3, count=1, path_contains="/reports/2021-06-30/reports")
    )
    ctx = context()
    pull(api)(ctx)
    # THEN the client waited what Amazon asked and the pull completed
    assert http_waits == [3]
    assert standin.stats["status_429"] == 1
    assert len(ctx.pages) == 1


def test_a_fatal_report_is_a_refusal_and_the_window_does_not_move(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    standin.fail_next_reports(1)
    ctx = context(cursor={"window_end": "2026-12-01T06:00:00Z"})
    with pytest.raises(PlatformRefused, match="FATAL"):
        pull(api)(ctx)
    # THEN nothing stored, the window is where it was, and no report is pending
    assert ctx.pages == {}
    assert ctx.cursor == {"window_end": "2026-12-01T06:00:00Z"}
    # AND the next run asks for the same window again
    retry = context(cursor=ctx.cursor)
    pull(api)(retry)
    assert standin.reports()[-1]["dataStartTime"] == "2026-12-01T06:00:00Z"
    assert len(retry.pages) == 1


def test_a_window_without_orders_is_cancelled_by_amazon_and_passed(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    ctx = context()
    result = pull(api)(ctx)
    assert standin.reports()[0]["processingStatus"] == "CANCELLED"
    assert ctx.pages == {} and result.files == []
    assert ctx.cursor == {"window_end": "2026-12-01T11:55:00Z"}


def test_a_restricted_report_type_reads_its_document_with_a_restricted_data_token(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    rows = seed(standin)
    ctx = context(report_type=ACTIONABLE)
    pull(api)(ctx)
    assert standin.stats["restricted_data_token"] == 1
    assert standin.stats["restricted_without_rdt"] == 0
    ((body, extension),) = ctx.pages.values()
    found = records(body, extension)
    assert {r.data["order-id"] for r in found} == {r["order-id"] for r in rows[:2]}
    assert {r.data["buyer-email"] for r in found} == {rows[0]["buyer-email"]}
    assert ctx.saved[0]["pending"]["report_type"] == ACTIONABLE


def test_a_restricted_document_without_an_rdt_is_refused_after_one_renewal(
    standin: SellingPartnerStandIn, api: SpApiReports
) -> None:
    seed(standin)
    ctx = context(report_type=ACTIONABLE)
    pull(api, max_polls=3)(ctx)
    document_id = standin.reports()[0]["reportDocumentId"]
    exchanges = standin.stats["token_exchange"]
    with pytest.raises(PlatformRefused) as refused:
        api.report_document(document_id, restricted=False)
    assert refused.value.status == 403
    assert "Unauthorized" in str(refused.value)
    assert standin.stats["token_exchange"] == exchanges + 1


def test_an_unknown_marketplace_is_a_refusal(standin: SellingPartnerStandIn, api: SpApiReports) -> None:
    settings = SourceSettings(name="amazon_orders", follow=("NOT-A-MARKETPLACE",))
    with pytest.raises(PlatformRefused) as refused:
        pull(api)(RecordingPullContext(settings=settings))
    assert refused.value.status == 400
    assert standin.stats["create_report"] == 0

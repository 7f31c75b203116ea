"""Amazon Selling Partner API order reports, pulled incrementally.

Login with Amazon swaps the refresh token for an hour-long access token; the Reports API
(2021-06-30) builds a tab-separated order report for a time window, which we poll and then
download (gzip, as delivered) into one raw file of the `amazon_orders` source. Restricted
report types (buyer name, email, phone) need a Restricted Data Token for their document.
"""

from __future__ import annotations

import gzip
import io
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from chalicelib.intake.exceptions import InvalidSourceSettings, PlatformRefused, PlatformUnavailable
from chalicelib.intake.platform_http import PlatformHttp
from chalicelib.intake.pulls import PullContext, PullResult

log = logging.getLogger(__name__)

PLATFORM = "amazon"
DEFAULT_ENDPOINT = "https://sellingpartnerapi-eu.amazon.com"
DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"

DEFAULT_REPORT_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
# Report types whose document holds buyer PII: getReportDocument needs an RDT for them.
RESTRICTED_REPORT_TYPES = frozenset(
    {
        "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING",
        "GET_ORDER_REPORT_DATA_INVOICING",
        "GET_ORDER_REPORT_DATA_TAX",
        "GET_ORDER_REPORT_DATA_SHIPPING",
        "GET_FLAT_FILE_ORDER_REPORT_DATA_INVOICING",
        "GET_FLAT_FILE_ORDER_REPORT_DATA_TAX",
        "GET_FLAT_FILE_ORDER_REPORT_DATA_SHIPPING",
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_INVOICING",
        "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_TAX",
    }
)

# processingStatus values of the Reports API.
IN_QUEUE, IN_PROGRESS, DONE, CANCELLED, FATAL = "IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL"
FINISHED = frozenset({DONE, CANCELLED, FATAL})

REPORTS = "/reports/2021-06-30"
RESTRICTED_DATA_TOKEN = "/tokens/2021-03-01/restrictedDataToken"

TOKEN_EARLY_SECONDS = 60.0  # renew an access token this long before Amazon says it expires
MIN_WINDOW = timedelta(minutes=1)  # a shorter window is not worth a report
MAX_WINDOW = timedelta(days=30)  # one report per month at most; a long gap is caught up run by run
DEFAULT_WINDOW_DAYS = 1
DEFAULT_LAG_MINUTES = 5  # Amazon's order data settles for a few minutes before reports see it


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The ISO 8601 UTC form SP-API takes (`2026-12-01T00:00:00Z`), to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_codes(response: requests.Response) -> list[str]:
    """The `code`s of an SP-API error body (`{"errors": [{"code", "message", "details"}]}`)."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(error.get("code")) for error in errors if isinstance(error, dict) and error.get("code")]


class LoginWithAmazon:
    """Access tokens from a refresh token (LWA), kept until shortly before they expire."""

    def __init__(
        self,
        http: PlatformHttp,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.exchanges = 0  # token exchanges made

    def access_token(self) -> str:
        if self._token is not None and self.clock() < self._expires_at:
            return self._token
        response = self.http.post(
            self.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        self.exchanges += 1
        if response.status_code != 200:
            raise PlatformRefused(PLATFORM, response.status_code, f"token exchange refused ({_lwa_error(response)})")
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PlatformUnavailable(PLATFORM, "token exchange answered without an access token") from error
        self._token = token
        self._expires_at = self.clock() + max(0.0, expires_in - TOKEN_EARLY_SECONDS)
        return token

    def invalidate(self) -> None:
        """Forget the cached token (Amazon said it expired)."""
        self._token = None
        self._expires_at = 0.0


def _lwa_error(response: requests.Response) -> str:
    """LWA's OAuth error code (`invalid_grant`, `invalid_client`...), never its description."""
    try:
        body = response.json()
    except ValueError:
        return "no error code"
    code = body.get("error") if isinstance(body, dict) else None
    return str(code)[:64] if code else "no error code"


class SpApiReports:
    """The Reports API operations a pull needs, with an access token on each call."""

    def __init__(self, http: PlatformHttp, endpoint: str, lwa: LoginWithAmazon) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")
        self.lwa = lwa

    def create_report(self, report_type: str, marketplace_ids: list[str], start: datetime, end: datetime) -> str:
        body = {
            "reportType": report_type,
            "marketplaceIds": list(marketplace_ids),
            "dataStartTime": iso(start),
            "dataEndTime": iso(end),
        }
        answer = self._call("POST", f"{REPORTS}/reports", "createReport", json=body)
        return str(answer["reportId"])

    def report(self, report_id: str) -> dict[str, Any]:
        return self._call("GET", f"{REPORTS}/reports/{report_id}", "getReport")

    def report_document(self, document_id: str, restricted: bool) -> dict[str, Any]:
        path = f"{REPORTS}/documents/{document_id}"
        if not restricted:
            return self._call("GET", path, "getReportDocument")
        return self._call("GET", path, "getReportDocument", token=lambda: self._restricted_data_token(path))

    def download(self, document: Mapping[str, Any]) -> tuple[bytes, bool]:
        """The document's bytes as delivered and whether they are gzip. The URL is presigned:
        it gets no SP-API headers."""
        response = self.http.get(str(document["url"]))
        if response.status_code != 200:
            raise PlatformRefused(PLATFORM, response.status_code, "report document download refused")
        return response.content, document.get("compressionAlgorithm") == "GZIP"

    # -- calls -------------------------------------------------------------------------

    def _restricted_data_token(self, path: str) -> str:
        body = {"restrictedResources": [{"method": "GET", "path": path}]}
        answer = self._call("POST", RESTRICTED_DATA_TOKEN, "createRestrictedDataToken", json=body)
        return str(answer["restrictedDataToken"])

    def _call(
        self, method: str, path: str, operation: str, *, json: Any = None, token: Callable[[], str] | None = None
    ) -> dict[str, Any]:
        """One operation's JSON answer. An access token Amazon calls unauthorized (expired)
        is renewed once; any other 4xx is a refusal; 429 and 5xx are `PlatformHttp`'s."""
        token_source = token or self.lwa.access_token
        for renewed in (False, True):
            headers = {"x-amz-access-token": token_source(), "accept": "application/json"}
            response = self.http.request(method, f"{self.endpoint}{path}", headers=headers, json=json)
            if response.status_code == 403 and "Unauthorized" in _error_codes(response) and not renewed:
                log.info("%s: access token refused for %s; renewing it once", PLATFORM, operation)
                self.lwa.invalidate()
                continue
            break
        if response.status_code >= 400:
            codes = ",".join(_error_codes(response)) or "no error code"
            raise PlatformRefused(PLATFORM, response.status_code, f"{operation} refused ({codes[:120]})")
        try:
            answer = response.json()
        except ValueError as error:
            raise PlatformUnavailable(PLATFORM, f"{operation} answered without JSON") from error
        if not isinstance(answer, dict):
            raise PlatformUnavailable(PLATFORM, f"{operation} answered an unexpected shape")
        return answer


def from_secret(values: Mapping[str, Any], http: PlatformHttp) -> SpApiReports:
    """The Reports API client for a secret holding `client_id`, `client_secret`,
    `refresh_token` and optionally `endpoint` and `token_url`."""
    try:
        client_id, client_secret, refresh_token = (
            str(values["client_id"]),
            str(values["client_secret"]),
            str(values["refresh_token"]),
        )
    except KeyError as error:
        raise InvalidSourceSettings(f"the Amazon secret lacks {error.args[0]}") from None
    lwa = LoginWithAmazon(
        http, str(values.get("token_url") or DEFAULT_TOKEN_URL), client_id, client_secret, refresh_token
    )
    return SpApiReports(http, str(values.get("endpoint") or DEFAULT_ENDPOINT), lwa)


def report_window(
    cursor: Mapping[str, Any] | None, options: Mapping[str, Any], now: datetime
) -> tuple[datetime, datetime]:
    """The next report's window: from where the last one ended (first pull: `window_days`
    back) to `lag_minutes` ago, at most `MAX_WINDOW` long, whole seconds."""
    end = (now - timedelta(minutes=float(options.get("lag_minutes", DEFAULT_LAG_MINUTES)))).replace(microsecond=0)
    if cursor and cursor.get("window_end"):
        start = datetime.fromisoformat(str(cursor["window_end"]))
    else:
        start = (now - timedelta(days=float(options.get("window_days", DEFAULT_WINDOW_DAYS)))).replace(microsecond=0)
    return start, min(end, start + MAX_WINDOW)


def count_lines(body: bytes, compressed: bool) -> int:
    """Data lines of a flat-file report (the header line not counted)."""
    stream: Any = gzip.GzipFile(fileobj=io.BytesIO(body)) if compressed else io.BytesIO(body)
    lines, last = 0, b"\n"
    with stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # a last line without its newline
    return max(0, lines - 1)


class AmazonReportPull:
    """One pull: the order report for the window since the last one, polled until done.

    The cursor is `{"window_end": iso}` plus, while a report is being built,
    `"pending": {"report_id", "report_type", "start", "end"}` — saved before polling, so a
    pull that died or ran out of polls resumes that report rather than asking for another.
    """

    def __init__(
        self,
        api: SpApiReports,
        *,
        poll_seconds: float = 15,
        max_polls: int = 40,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.api = api
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.sleep = sleep
        self.clock = clock

    def __call__(self, context: PullContext) -> PullResult:
        requests_before = self.api.http.requests
        result = PullResult()
        try:
            self._pull(context, result)
        finally:
            result.requests = self.api.http.requests - requests_before
        return result

    def _pull(self, context: PullContext, result: PullResult) -> None:
        cursor = dict(context.cursor or {})
        pending = cursor.get("pending")
        if not pending:
            pending = self._create(context, cursor)
            if pending is None:
                return
        report = self._poll(str(pending["report_id"]))
        status = report.get("processingStatus")
        if status == DONE:
            restricted = pending.get("report_type") in RESTRICTED_REPORT_TYPES
            document = self.api.report_document(str(report["reportDocumentId"]), restricted)
            body, compressed = self.api.download(document)
            result.files.append(context.store(body, ".txt.gz" if compressed else ".txt"))
            result.pages, result.records = 1, count_lines(body, compressed)
            context.save_cursor({"window_end": pending["end"]})
        elif status == CANCELLED:  # Amazon cancels a report whose window holds no data
            context.save_cursor({"window_end": pending["end"]})
        elif status == FATAL:
            cursor.pop("pending", None)
            context.save_cursor(cursor)
            raise PlatformRefused(PLATFORM, 200, f"report {pending['report_id']} ended FATAL")
        else:
            log.info("%s: report %s still %s; the next run resumes it", PLATFORM, pending["report_id"], status)

    def _create(self, context: PullContext, cursor: dict[str, Any]) -> dict[str, Any] | None:
        settings = context.settings
        marketplaces = list(settings.follow)
        if not marketplaces:
            raise InvalidSourceSettings(f"source {settings.name} follows no Amazon marketplace id")
        start, end = report_window(cursor, settings.options, self.clock())
        if end - start < MIN_WINDOW:
            return None
        report_type = str(settings.options.get("report_type") or DEFAULT_REPORT_TYPE)
        report_id = self.api.create_report(report_type, marketplaces, start, end)
        pending = {"report_id": report_id, "report_type": report_type, "start": iso(start), "end": iso(end)}
        context.save_cursor({**cursor, "pending": pending})
        return pending

    def _poll(self, report_id: str) -> dict[str, Any]:
        report: dict[str, Any] = {}
        for poll in range(1, self.max_polls + 1):
            report = self.api.report(report_id)
            if report.get("processingStatus") in FINISHED or poll == self.max_polls:
                break
            self.sleep(self.poll_seconds)
        return report

"""A stand-in for Amazon's Selling Partner API: the Login with Amazon token endpoint, the
Reports API 2021-06-30, the Tokens API's restricted data tokens and the presigned document
download, on one server.

Reports go IN_QUEUE → IN_PROGRESS → DONE over `polls_to_done` polls (CANCELLED when the
window holds no order, FATAL when scripted). A document is the report type's documented
tab-separated header and the seeded order rows whose `last-updated-date` (BY_LAST_UPDATE)
or `purchase-date` (the others) falls in the window, gzip-compressed.

Seeding: `add_orders(rows)` (dicts of report columns; `make_order_row` builds one),
`expire_tokens()`, `fail_next_reports(n)`; over HTTP: POST `/_standin/orders`,
POST `/_standin/tokens/expire`, POST `/_standin/reports/fatal`, GET `/_standin/reports`.
"""

from __future__ import annotations

import gzip
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from platformstandins.base import PlatformApp, json_response

# The documented headers (SP-API "Order Tracking reports attributes", "Order reports attributes").
ALL_ORDERS_COLUMNS = [
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
]
ACTIONABLE_COLUMNS = [
    "order-id",
    "order-item-id",
    "purchase-date",
    "payments-date",
    "reporting-date",
    "promise-date",
    "days-past-promise",
    "buyer-email",
    "buyer-phone-number",
    "sku",
    "product-name",
    "quantity-purchased",
    "quantity-shipped",
    "quantity-to-ship",
    "ship-service-level",
    "recipient-name",
    "ship-address-1",
    "ship-address-2",
    "ship-address-3",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
    "is-prime",
]


def _with_cpf(columns: list[str]) -> list[str]:
    """The BY_ORDER_DATE header: Brazil's `cpf` column after `promotion-ids`."""
    at = columns.index("promotion-ids") + 1
    return [*columns[:at], "cpf", *columns[at:]]


# report type -> (columns, the date column the window selects on)
REPORT_TYPES: dict[str, tuple[list[str], str]] = {
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": (ALL_ORDERS_COLUMNS, "last-updated-date"),
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL": (
        _with_cpf(ALL_ORDERS_COLUMNS),
        "purchase-date",
    ),
    "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING": (ACTIONABLE_COLUMNS, "purchase-date"),
}
RESTRICTED = frozenset({"GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING"})

# EU marketplace ids and the sales channel of their orders.
MARKETPLACES = {
    "A1PA6795UKMFR9": "Amazon.de",
    "A13V1IB3VIYZZH": "Amazon.fr",
    "A1F83G8C2ARO7P": "Amazon.co.uk",
    "APJ6JRA9NG5V4": "Amazon.it",
    "A1RKKUPIHCS9HS": "Amazon.es",
    "A1805IZSGTT6HS": "Amazon.nl",
}

DOCUMENT = re.compile(r"^/reports/2021-06-30/documents/(?P<id>[^/]+)$")
REPORT = re.compile(r"^/reports/2021-06-30/reports/(?P<id>[^/]+)$")
DOWNLOAD = re.compile(r"^/report-documents/(?P<id>[^/]+)$")

_order_numbers = itertools.count(1)


def make_order_row(
    *,
    purchase_date: str = "2026-12-01T10:00:00+00:00",
    last_updated_date: str | None = None,
    sku: str = "TKT-BDS26-GA",
    product_name: str = "Berlin Data Summit 2026 - Day Ticket",
    quantity: int = 1,
    item_price: str = "149.00",
    order_status: str = "Unshipped",
    buyer_email: str = "0a1b2c3d4e5f@marketplace.amazon.de",
    recipient_name: str = "Erika Mustermann",
    ship_country: str = "DE",
    sales_channel: str = "Amazon.de",
    order_id: str | None = None,
) -> dict[str, str]:
    """One order line holding the columns of every report type (each report picks its own)."""
    n = next(_order_numbers)
    order = order_id or f"302-{1000000 + n:07d}-{2000000 + n * 7:07d}"
    return {
        "amazon-order-id": order,
        "order-id": order,
        "order-item-id": f"{51000000000000 + n}",
        "merchant-order-id": "",
        "purchase-date": purchase_date,
        "last-updated-date": last_updated_date or purchase_date,
        "payments-date": purchase_date,
        "reporting-date": purchase_date,
        "promise-date": purchase_date,
        "days-past-promise": "0",
        "order-status": order_status,
        "fulfillment-channel": "Merchant",
        "sales-channel": sales_channel,
        "order-channel": "",
        "ship-service-level": "Standard",
        "product-name": product_name,
        "sku": sku,
        "asin": f"B0{n:08d}",
        "item-status": order_status,
        "quantity": str(quantity),
        "quantity-purchased": str(quantity),
        "quantity-shipped": "0",
        "quantity-to-ship": str(quantity),
        "currency": "EUR",
        "item-price": item_price,
        "item-tax": "0.00",
        "shipping-price": "0.00",
        "shipping-tax": "0.00",
        "buyer-email": buyer_email,
        "buyer-phone-number": "+49 151 23456789",
        "recipient-name": recipient_name,
        "ship-address-1": "Musterstraße 1",
        "ship-city": "Berlin",
        "ship-state": "Berlin",
        "ship-postal-code": "10115",
        "ship-country": ship_country,
        "is-business-order": "false",
        "is-prime": "false",
    }


def _errors(status: int, code: str, message: str, details: str = "") -> Response:
    return json_response(status, {"errors": [{"code": code, "message": message, "details": details}]})


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class _Token:
    expires_at: float
    paths: frozenset[str] | None = None  # a restricted data token's resources; None for LWA
    expired: bool = False


@dataclass
class _Report:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    start: str
    end: str
    created: str
    rows: list[dict[str, str]]
    fatal: bool = False
    polls: int = 0
    document_id: str | None = None
    processing: dict[str, str] = field(default_factory=dict)


class SellingPartnerStandIn(PlatformApp):
    platform = "spapi"

    def __init__(
        self,
        client_id: str = "amzn1.application-oa2-client.standin",
        client_secret: str = "amzn1.oa2-cs.v1.standin-secret",
        refresh_token: str = "Atzr|standin-refresh-token",
        *,
        expires_in: int = 3600,
        polls_to_done: int = 3,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.expires_in = expires_in
        self.polls_to_done = polls_to_done
        self._orders: list[dict[str, str]] = []
        self._tokens: dict[str, _Token] = {}
        self._reports: dict[str, _Report] = {}
        self._documents: dict[str, bytes] = {}
        self._fatal_next = 0
        self._ids = itertools.count(50001019000)
        self._data_lock = threading.Lock()

    # -- seeding -------------------------------------------------------------------------

    def add_orders(self, rows: list[dict[str, Any]]) -> None:
        with self._data_lock:
            self._orders.extend({str(k): str(v) for k, v in row.items()} for row in rows)

    def expire_tokens(self) -> None:
        """Every access token and RDT issued so far is expired from now on."""
        with self._data_lock:
            for token in self._tokens.values():
                token.expired = True

    def fail_next_reports(self, count: int = 1) -> None:
        with self._data_lock:
            self._fatal_next += count

    def reports(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [self._report_json(report) for report in self._reports.values()]

    def reset(self) -> None:
        super().reset()
        with self._data_lock:
            self._orders.clear()
            self._tokens.clear()
            self._reports.clear()
            self._documents.clear()
            self._fatal_next = 0

    def control_route(self, request: Request, action: str, body: Any) -> Response | None:
        if action == "orders" and request.method == "POST":
            rows = body.get("orders") if isinstance(body, dict) else body
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                return json_response(400, {"error": 'a list of order rows, or {"orders": [...]}'})
            self.add_orders(rows)
            return json_response(201, {"orders": len(rows)})
        if action == "tokens/expire" and request.method == "POST":
            self.expire_tokens()
            return json_response(200, {"expired": True})
        if action == "reports/fatal" and request.method == "POST":
            self.fail_next_reports(int((body or {}).get("count", 1)))
            return json_response(200, {"fatal_next": self._fatal_next})
        if action == "reports" and request.method == "GET":
            return json_response(200, {"reports": self.reports()})
        return None

    # -- the API ---------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        if status == 429:
            return _errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
        return _errors(status, "InternalFailure", "We encountered an internal error. Please try again.")

    def serve(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/auth/o2/token" and method == "POST":
            return self._token_exchange(request)
        if (match := DOWNLOAD.match(path)) and method == "GET":
            return self._download(request, match.group("id"))
        if path == "/tokens/2021-03-01/restrictedDataToken" and method == "POST":
            return self._authorized(request, None) or self._restricted_data_token(request)
        if path == "/reports/2021-06-30/reports" and method == "POST":
            return self._authorized(request, None) or self._create_report(request)
        if (match := REPORT.match(path)) and method == "GET":
            return self._authorized(request, None) or self._get_report(match.group("id"))
        if (match := DOCUMENT.match(path)) and method == "GET":
            return self._get_document(request, match.group("id"))
        return _errors(404, "NotFound", "The requested resource does not exist.")

    def _token_exchange(self, request: Request) -> Response:
        form = request.form
        self.count("token_exchange")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_response(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant type"})
        if form.get("refresh_token") != self.refresh_token:
            return json_response(
                400,
                {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter"},
            )
        token = f"Atza|standin-{uuid.uuid4().hex}"
        with self._data_lock:
            self._tokens[token] = _Token(expires_at=time.monotonic() + self.expires_in)
        return json_response(
            200,
            {
                "access_token": token,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": self.expires_in,
            },
        )

    def _authorized(self, request: Request, resource: str | None) -> Response | None:
        """None when the request's `x-amz-access-token` is a live LWA token (or, for a
        restricted `resource`, an RDT naming it); otherwise SP-API's 403."""
        value = request.headers.get("x-amz-access-token")
        denied = "Access to requested resource is denied."
        if not value:
            return _errors(403, "Unauthorized", denied, "Access token is missing in the request header.")
        with self._data_lock:
            token = self._tokens.get(value)
        if token is None:
            return _errors(
                403, "Unauthorized", denied, "The access token you provided is revoked, malformed or invalid."
            )
        if token.expired or time.monotonic() >= token.expires_at:
            return _errors(403, "Unauthorized", denied, "The access token you provided has expired.")
        if resource is not None and (token.paths is None or resource not in token.paths):
            self.count("restricted_without_rdt")
            return _errors(403, "Unauthorized", denied, "A Restricted Data Token is required for this resource.")
        return None

    def _restricted_data_token(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        resources = body.get("restrictedResources") if isinstance(body, dict) else None
        if not isinstance(resources, list) or not resources:
            return _errors(400, "InvalidInput", "restrictedResources is required.")
        paths = []
        for resource in resources:
            path = resource.get("path") if isinstance(resource, dict) else None
            if not isinstance(resource, dict) or resource.get("method") != "GET" or not isinstance(path, str):
                return _errors(400, "InvalidInput", "Each restricted resource needs a method and a path.")
            match = DOCUMENT.match(path)
            if match is None or "{" in path:
                return _errors(400, "InvalidInput", "The restricted resource must be a specific report document path.")
            paths.append(path)
        self.count("restricted_data_token")
        token = f"Atz.sprdt|standin-{uuid.uuid4().hex}"
        with self._data_lock:
            self._tokens[token] = _Token(expires_at=time.monotonic() + 3600, paths=frozenset(paths))
        return json_response(200, {"restrictedDataToken": token, "expiresIn": 3600})

    def _create_report(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _errors(400, "InvalidInput", "The request body is not JSON.")
        report_type = body.get("reportType")
        marketplaces = body.get("marketplaceIds")
        if report_type not in REPORT_TYPES:
            return _errors(400, "InvalidInput", "Invalid reportType.")
        if not isinstance(marketplaces, list) or not marketplaces or any(m not in MARKETPLACES for m in marketplaces):
            return _errors(400, "InvalidInput", "Invalid marketplaceIds.")
        try:
            start, end = _moment(str(body["dataStartTime"])), _moment(str(body["dataEndTime"]))
        except (KeyError, ValueError):
            return _errors(400, "InvalidInput", "dataStartTime and dataEndTime must be ISO 8601 date-times.")
        if end < start:
            return _errors(400, "InvalidInput", "dataEndTime must not be before dataStartTime.")
        date_column = REPORT_TYPES[report_type][1]
        channels = {MARKETPLACES[m] for m in marketplaces}
        with self._data_lock:
            rows = [
                row
                for row in self._orders
                if row.get("sales-channel", "Amazon.de") in channels
                and row.get(date_column)
                and start <= _moment(row[date_column]) < end
                and (report_type not in RESTRICTED or row.get("order-status") not in ("Shipped", "Cancelled"))
            ]
            fatal = self._fatal_next > 0
            self._fatal_next -= 1 if fatal else 0
            report = _Report(
                report_id=str(next(self._ids)),
                report_type=report_type,
                marketplace_ids=list(marketplaces),
                start=str(body["dataStartTime"]),
                end=str(body["dataEndTime"]),
                created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                rows=rows,
                fatal=fatal,
            )
            self._reports[report.report_id] = report
        self.count("create_report")
        return json_response(202, {"reportId": report.report_id}, {"x-amzn-RateLimit-Limit": "0.0167"})

    def _get_report(self, report_id: str) -> Response:
        with self._data_lock:
            report = self._reports.get(report_id)
            if report is None:
                return _errors(404, "NotFound", "The report does not exist.")
            report.polls += 1
            if report.polls >= self.polls_to_done and report.document_id is None and not report.processing:
                self._finish(report)
            answer = self._report_json(report)
        self.count("get_report")
        return json_response(200, answer, {"x-amzn-RateLimit-Limit": "2.0"})

    def _finish(self, report: _Report) -> None:
        """Build the report's document (holding the data lock)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        report.processing = {"processingStartTime": report.created, "processingEndTime": now}
        if report.fatal or not report.rows:
            return
        columns, _ = REPORT_TYPES[report.report_type]
        lines = ["\t".join(columns)] + ["\t".join(row.get(c, "") for c in columns) for row in report.rows]
        report.document_id = f"amzn1.spdoc.1.4.eu.{uuid.uuid4()}"
        self._documents[report.document_id] = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)

    def _report_json(self, report: _Report) -> dict[str, Any]:
        if not report.processing:
            status = "IN_QUEUE" if report.polls <= 1 else "IN_PROGRESS"
        elif report.fatal:
            status = "FATAL"
        else:
            status = "DONE" if report.document_id else "CANCELLED"
        answer: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": report.marketplace_ids,
            "dataStartTime": report.start,
            "dataEndTime": report.end,
            "createdTime": report.created,
            "processingStatus": status,
            **report.processing,
        }
        if report.document_id:
            answer["reportDocumentId"] = report.document_id
        return answer

    def _get_document(self, request: Request, document_id: str) -> Response:
        with self._data_lock:
            report = next((r for r in self._reports.values() if r.document_id == document_id), None)
        if report is None:
            return self._authorized(request, None) or _errors(404, "NotFound", "The report document does not exist.")
        restricted = report.report_type in RESTRICTED
        refused = self._authorized(request, request.path if restricted else None)
        if refused is not None:
            return refused
        self.count("get_report_document")
        url = f"{request.host_url.rstrip('/')}/report-documents/{document_id}?X-Amz-Expires=300&X-Amz-Signature=standin"
        return json_response(
            200,
            {"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"},
            {"x-amzn-RateLimit-Limit": "0.0167"},
        )

    def _download(self, request: Request, document_id: str) -> Response:
        """The presigned URL: S3 serves the bytes as stored; SP-API headers have no place here."""
        if request.headers.get("x-amz-access-token"):
            self.count("download_with_sp_api_token")
            return Response("AccessDenied", status=403, content_type="application/xml")
        with self._data_lock:
            body = self._documents.get(document_id)
        if body is None:
            return Response("NoSuchKey", status=404, content_type="application/xml")
        self.count("download")
        return Response(body, status=200, content_type="application/octet-stream")

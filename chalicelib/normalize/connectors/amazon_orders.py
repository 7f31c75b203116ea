"""Amazon Selling Partner API order reports: tab-separated flat files, one line per order item.

Two documented report families are read, told apart by their header:

* `GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL` (and `..._BY_LAST_UPDATE_GENERAL`):
  `amazon-order-id`, `merchant-order-id`, `purchase-date`, `last-updated-date`,
  `order-status`, `product-name`, `sku`, `asin`, `item-status`, `quantity`, `currency`,
  `item-price`, `ship-city`, `ship-postal-code`, `ship-country`... This report carries no
  buyer email, name or phone: its records have an empty contact and no subject id.
* `GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING` (restricted, needs a Restricted Data
  Token): `order-id`, `order-item-id`, `purchase-date`, `buyer-email`,
  `buyer-phone-number`, `recipient-name`, `sku`, `product-name`, `quantity-purchased`,
  `ship-country`... (no prices).

The record id is `{order id}:{sku}`, the same line item in both reports; a cancelled order
line (`order-status` or `item-status` `Cancelled`) is a cancellation, a new version of the
line's document dated by `last-updated-date`.
Ticket and merchandise orders are told apart by our own SKU convention (`TICKET_SKU_PREFIXES`).
"""

from __future__ import annotations

from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat

TICKET_SKU_PREFIXES = ("TKT-", "TICKET-")


def _order_id(data: dict[str, Any]) -> str | None:
    return scalar(data.get("amazon-order-id")) or scalar(data.get("order-id"))


def interaction_type(data: dict[str, Any]) -> InteractionType:
    statuses = {str(data.get(column) or "").strip().lower() for column in ("order-status", "item-status")}
    if "cancelled" in statuses or "canceled" in statuses:
        return InteractionType.CANCELLATION
    sku = str(data.get("sku") or "").strip().upper()
    return InteractionType.TICKET_PURCHASE if sku.startswith(TICKET_SKU_PREFIXES) else InteractionType.ORDER


class AmazonOrderReport(Connector):
    name = "amazon_orders"
    file_format = FileFormat(kind="delimited", extensions=("txt", "tsv", "tab"), delimiter="\t")
    requires_email = False
    # the record id: an order id and a line item, named differently by the two report families
    required_columns = (("amazon-order-id", "order-id"), ("sku", "order-item-id"))

    def record_id(self, data: dict[str, Any]) -> str | None:
        order = _order_id(data)
        sku = scalar(data.get("sku")) or scalar(data.get("order-item-id"))
        if not order or not sku:
            return None
        return f"{order}:{sku}"

    def draft(self, data: dict[str, Any]) -> Draft:
        return Draft(
            interaction_type=interaction_type(data),
            occurred_at=data.get("purchase-date"),
            version_at=data.get("last-updated-date") or None,
            email=data.get("buyer-email") or None,
            full_name=data.get("recipient-name") or data.get("buyer-name") or None,
            phone=data.get("buyer-phone-number") or None,
            country=data.get("ship-country") or None,
            amount=data.get("item-price") or None,
            currency=data.get("currency") or None,
            order_id=_order_id(data),
            item=data.get("product-name") or None,
            quantity=data.get("quantity") or data.get("quantity-purchased") or None,
        )


CONNECTORS = [AmazonOrderReport()]

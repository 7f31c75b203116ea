"""Google Ads lead form webhook payloads, one `WebhookLead` JSON object per file.

Documented fields: `lead_id`, `user_column_data` (a list of `column_name`, `string_value`,
`column_id`), `api_version`, `form_id`, `campaign_id`, `google_key`, `is_test`, `gcl_id`,
`adgroup_id`, `creative_id`, `asset_group_id`, `lead_stage`, `lead_submit_time` (ISO 8601).
Column ids used: `EMAIL`/`WORK_EMAIL`, `FULL_NAME`, `FIRST_NAME`, `LAST_NAME`,
`PHONE_NUMBER`/`WORK_PHONE`, `COUNTRY`.

Test leads (`is_test: true`, sent from the Google Ads form editor) are rejected with
`test_record`. Checking `google_key` belongs to the push route, before the file is stored.
Older payloads lack `lead_submit_time`; the ingest time stands in (webhooks are real time).
"""

from __future__ import annotations

from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    entries = data.get("user_column_data")
    if not isinstance(entries, list):
        return columns
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("column_id"), str):
            columns.setdefault(entry["column_id"].strip().upper(), entry.get("string_value"))
    return columns


class GoogleAdsLeadWebhook(Connector):
    name = "google_ads"
    file_format = FileFormat(kind="json", extensions=("json",))
    ingest_time_stands_in = True

    def record_id(self, data: dict[str, Any]) -> str | None:
        return scalar(data.get("lead_id"))

    def draft(self, data: dict[str, Any]) -> Draft:
        columns = _columns(data)
        form = scalar(data.get("form_id"))
        return Draft(
            interaction_type=InteractionType.LEAD_FORM,
            occurred_at=data.get("lead_submit_time"),
            email=columns.get("EMAIL") or columns.get("WORK_EMAIL"),
            first_name=columns.get("FIRST_NAME"),
            last_name=columns.get("LAST_NAME"),
            full_name=columns.get("FULL_NAME"),
            phone=columns.get("PHONE_NUMBER") or columns.get("WORK_PHONE"),
            country=columns.get("COUNTRY"),
            item=f"form:{form}" if form else None,
            is_test=data.get("is_test") is True,
        )


CONNECTORS = [GoogleAdsLeadWebhook()]

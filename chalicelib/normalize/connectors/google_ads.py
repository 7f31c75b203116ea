"""Google Ads lead form webhook payloads, one `WebhookLead` JSON object per file.

Documented fields: `lead_id`, `user_column_data` (a list of `column_name`, `string_value`,
`column_id`), `api_version`, `form_id`, `campaign_id`, `google_key`, `is_test`, `gcl_id`,
`adgroup_id`, `creative_id`, `asset_group_id`, `lead_stage`, `lead_submit_time` (ISO 8601).
Column ids used: `EMAIL`/`WORK_EMAIL`, `FULL_NAME`, `FIRST_NAME`, `LAST_NAME`,
`PHONE_NUMBER`/`WORK_PHONE`, `COUNTRY`. Any column whose id is not one of Google's
contact-information ids (`STANDARD_COLUMNS`) answers a qualifying or custom question: it
becomes an answer keyed by its `column_id` (its `column_name` when the id is missing),
labelled by its `column_name` (the question text, "not always populated"); columns of one
id give one answer with several values. A column without a `string_value` is unanswered.

Test leads (`is_test: true`, sent from the Google Ads form editor) are rejected with
`test_record`. Checking `google_key` belongs to the push route, before the file is stored.
Older payloads lack `lead_submit_time`; the ingest time stands in (webhooks are real time).
"""

from __future__ import annotations

from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat

# Google's user-information column ids: mapped onto the contact or not kept, never answers
STANDARD_COLUMNS = frozenset(
    {
        "FULL_NAME",
        "FIRST_NAME",
        "LAST_NAME",
        "EMAIL",
        "WORK_EMAIL",
        "PHONE_NUMBER",
        "WORK_PHONE",
        "POSTAL_CODE",
        "STREET_ADDRESS",
        "CITY",
        "REGION",
        "COUNTRY",
        "COMPANY_NAME",
        "JOB_TITLE",
    }
)


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    entries = data.get("user_column_data")
    if not isinstance(entries, list):
        return columns
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("column_id"), str):
            columns.setdefault(entry["column_id"].strip().upper(), entry.get("string_value"))
    return columns


def _custom_answers(data: dict[str, Any]) -> list[tuple[Any, Any, list[Any]]]:
    """The non-standard columns as answers, in payload order, values of one key together."""
    found: dict[str, tuple[Any, list[Any]]] = {}
    entries = data.get("user_column_data")
    if not isinstance(entries, list):
        return []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("string_value") in (None, ""):
            continue
        column_id, label = entry.get("column_id"), entry.get("column_name")
        key = column_id.strip() if isinstance(column_id, str) and column_id.strip() else None
        if key is None:
            key = label.strip() if isinstance(label, str) and label.strip() else None
        if key is None or key.upper() in STANDARD_COLUMNS:
            continue
        found.setdefault(key, (label, []))[1].append(entry["string_value"])
    return [(key, label, values) for key, (label, values) in found.items()]


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
            answers=_custom_answers(data) or None,
            is_test=data.get("is_test") is True,
        )


CONNECTORS = [GoogleAdsLeadWebhook()]

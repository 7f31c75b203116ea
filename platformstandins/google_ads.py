"""What Google Ads sends a lead form webhook: a `WebhookLead` JSON body keyed with `google_key`.

Google has no API to fetch a lead from, so there is no server here: only the body as the
documented webhook sends it, for the webhook player and the tests.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

_numbers = itertools.count(1)


def make_lead(
    google_key: str,
    *,
    lead_id: str | None = None,
    email: str | None = None,
    full_name: str = "Kim Example",
    phone: str = "+49 151 98765432",
    country: str = "DE",
    form_id: int = 40000000001,
    is_test: bool = False,
    submitted: datetime | None = None,
) -> dict[str, Any]:
    number = next(_numbers)
    submitted = submitted or datetime.now(UTC)
    return {
        "lead_id": lead_id or f"Lead-{submitted:%Y%m%d%H%M%S}-{number:04d}",
        "api_version": "1.0",
        "form_id": form_id,
        "campaign_id": 21000000007,
        "google_key": google_key,
        "is_test": is_test,
        "gcl_id": f"EAIaIQobChMI{number:08d}",
        "adgroup_id": 150000000003,
        "creative_id": 680000000000,
        "lead_stage": "NEW",
        "lead_submit_time": submitted.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_column_data": [
            {"column_name": "Full Name", "string_value": full_name, "column_id": "FULL_NAME"},
            {
                "column_name": "User Email",
                "string_value": email or f"google.lead{number}@example.com",
                "column_id": "EMAIL",
            },
            {"column_name": "User Phone", "string_value": phone, "column_id": "PHONE_NUMBER"},
            {"column_name": "Country", "string_value": country, "column_id": "COUNTRY"},
        ],
    }

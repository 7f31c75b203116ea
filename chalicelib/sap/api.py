"""The operations API's SAP part: the shared throttle's rates, read and changed at runtime."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.sap.exceptions import InvalidThrottleSettings
from chalicelib.sap.throttle import DynamoDbThrottle


class ThrottleChange(BaseModel):
    """`PUT /sap/throttle`: SAP's budget for this stage, for all dispatchers together."""

    model_config = ConfigDict(extra="forbid")

    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    records_per_second: float | None = Field(default=None, gt=0, le=1_000_000)


def throttle_view(throttle: DynamoDbThrottle) -> dict[str, Any]:
    settings = throttle.settings()
    requests, records = throttle.effective_rate()
    return {
        "settings": asdict(settings),
        "effective": {"requests_per_second": round(requests, 3), "records_per_second": round(records, 3)},
    }


def change_throttle(body: Any, throttle: DynamoDbThrottle) -> dict[str, Any]:
    try:
        change = ThrottleChange.model_validate(body if body is not None else {})
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in error.errors()})
        raise InvalidThrottleSettings(f"invalid throttle settings: {', '.join(fields)}") from None
    values = change.model_dump(exclude_none=True)
    if not values:
        raise InvalidThrottleSettings("give requests_per_second and/or records_per_second")
    throttle.configure(**values)
    return throttle_view(throttle)

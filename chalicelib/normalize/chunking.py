"""Grouping records into chunks, one chunk per SQS message.

SQS takes at most 256 KiB per message, and bills every started 64 KiB as one request.
`chunks` fills each chunk up to `max_records` items and `max_bytes` of serialized items,
leaving the rest of the 256 KiB for the message envelope (file id, raw key, source...).
It is a pure generator: it holds one chunk at a time, whatever the input's length.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from chalicelib.normalize.exceptions import ChunkItemTooLarge
from chalicelib.queues import packed

SQS_MAX_MESSAGE_BYTES = 256 * 1024
DEFAULT_MAX_BYTES = 200 * 1024  # ~56 KiB headroom for the envelope and JSON list syntax
DEFAULT_MAX_RECORDS = 1000

T = TypeVar("T")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def serialized_size(item: Any) -> int:
    """Bytes of the item as compact UTF-8 JSON (how it travels in the message body), plus a comma."""
    if isinstance(item, BaseModel):
        return len(item.model_dump_json().encode("utf-8")) + 1
    payload = dataclasses.asdict(item) if dataclasses.is_dataclass(item) and not isinstance(item, type) else item
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return len(text.encode("utf-8")) + 1


def chunks(
    items: Iterable[T],
    max_records: int = DEFAULT_MAX_RECORDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    size: Callable[[T], int] = serialized_size,
) -> Iterator[list[T]]:
    """Consecutive lists of items, each at most `max_records` long and `max_bytes` in size.
    An item bigger than `max_bytes` on its own raises `ChunkItemTooLarge` (the reader's
    record limit keeps that from happening)."""
    if max_records < 1 or max_bytes < 1:
        raise ValueError("max_records and max_bytes must be positive")

    def checked(item: T) -> int:
        item_size = size(item)
        if item_size > max_bytes:
            raise ChunkItemTooLarge(f"one item is {item_size} bytes, over the chunk budget of {max_bytes}")
        return item_size

    return packed(items, max_records, max_bytes, checked)

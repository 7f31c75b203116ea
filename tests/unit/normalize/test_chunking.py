from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.normalize.chunking import SQS_MAX_MESSAGE_BYTES, chunks, serialized_size
from chalicelib.normalize.exceptions import ChunkItemTooLarge
from chalicelib.raw_files.records import RawRecord


def test_chunks_stay_under_the_byte_budget_with_headroom_for_the_envelope() -> None:
    records = [RawRecord(position=n, source_record_id=str(n), data={"note": "ü" * 900}) for n in range(2_000)]
    grouped = list(chunks(records))
    assert sum(len(c) for c in grouped) == 2_000
    for chunk in grouped:
        body = json.dumps({"records": [r.__dict__ for r in chunk]}, ensure_ascii=False).encode()
        assert len(body) < SQS_MAX_MESSAGE_BYTES - 32 * 1024


def test_chunks_respect_the_record_count() -> None:
    assert [len(c) for c in chunks(range(25), max_records=10, size=lambda _: 1)] == [10, 10, 5]


def test_chunking_is_lazy() -> None:
    def endless():
        n = 0
        while True:
            yield n
            n += 1

    first = next(chunks(endless(), max_records=3, size=lambda _: 1))
    assert first == [0, 1, 2]


def test_an_item_over_the_budget_alone_is_refused() -> None:
    with pytest.raises(ChunkItemTooLarge):
        list(chunks([{"x": "y" * 500}], max_bytes=100))


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=100), max_size=200),
    max_records=st.integers(min_value=1, max_value=20),
    max_bytes=st.integers(min_value=100, max_value=1000),
)
def test_chunks_keep_order_and_bounds(sizes: list[int], max_records: int, max_bytes: int) -> None:
    grouped = list(chunks(sizes, max_records=max_records, max_bytes=max_bytes, size=lambda s: s))
    assert [s for chunk in grouped for s in chunk] == sizes
    assert all(0 < len(c) <= max_records and sum(c) <= max_bytes for c in grouped)


def test_serialized_size_counts_utf8_bytes() -> None:
    assert serialized_size({"a": "é"}) == len('{"a":"é"}'.encode()) + 1

"""An INVALID document's reasons: (field, code) pairs on its change, its record and its item,
and a file's rejections grouped by them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.state_keeper import table_layout as layout
from chalicelib.state_keeper.document_record import merge
from chalicelib.state_keeper.lifecycle import MAX_REASONS, State, StateChange, field_reasons
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from chalicelib.state_keeper.queries import StateQueries, rejection_summary, rejections
from tests.unit.state_keeper.changes import change

EMAIL = (("contact.email", "invalid_email"),)
NO_ID = (("source_record_id", "missing_record_id"),)


def _invalid(
    document_id: str, reasons: tuple[tuple[str, str], ...], file_id: str = "file-1", chunk_id: str = "file-1-00001"
) -> list[StateChange]:
    """RECEIVED and INVALID, as normalize reports them in one message."""
    code = reasons[0][1].upper()
    return [
        change(document_id, State.RECEIVED, 0, file_id=file_id, chunk_id=chunk_id),
        change(document_id, State.INVALID, 1, file_id=file_id, chunk_id=chunk_id, reason_code=code, reasons=reasons),
    ]


def _item_size(item: dict[str, object]) -> int:
    """DynamoDB's item size, near enough: attribute names plus string and number values."""

    def value_size(value: object) -> int:
        assert isinstance(value, dict)
        (kind, inner), *_ = value.items()
        if kind == "M":
            return sum(len(k) + value_size(v) for k, v in inner.items())
        return len(str(inner).encode())

    return sum(len(name) + value_size(value) for name, value in item.items())


def test_field_reasons_keep_distinct_pairs_in_order_and_at_most_ten() -> None:
    pairs = [("contact.email", "invalid_email"), ("contact.email", "INVALID_EMAIL")] + [
        (f"field{i}", "missing") for i in range(20)
    ]
    kept = field_reasons(pairs)
    assert kept[0] == ("contact.email", "invalid_email") and len(kept) == MAX_REASONS
    assert len(set(kept)) == len(kept)


def test_field_reasons_never_pass_on_what_is_not_a_field_name_or_a_code() -> None:
    assert field_reasons([("contact.email", "jane@example.com"), ("jane@example.com", "missing")]) == (
        ("record", "missing"),
    )


@pytest.mark.parametrize(
    "reasons",
    [
        (("contact.email", "jane@example.com"),),
        (("Jane Doe", "missing"),),
        (),
        tuple((f"f{i}", "missing") for i in range(MAX_REASONS + 1)),
    ],
)
def test_a_change_refuses_reasons_that_could_carry_a_value(reasons: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValidationError):
        change(state=State.INVALID, reasons=reasons)


def test_reasons_survive_the_item_and_older_items_read_as_before() -> None:
    record = merge(None, [(c, "m1") for c in _invalid("doc-1", EMAIL + NO_ID)])
    item = layout.document_item(record)
    assert layout.record_from_item(item).reasons == EMAIL + NO_ID
    assert record.reasons == EMAIL + NO_ID
    received = record.history[0]
    assert layout.encode_entry(received).count("|") == 7  # no reasons: the entry as it always was
    assert layout.decode_entry(layout.encode_entry(received)) == received


def test_an_invalid_document_with_the_most_reasons_stays_one_write_unit() -> None:
    longest = tuple((f"contact.marketing_consent.granted{i}", "unknown_interaction_type") for i in range(MAX_REASONS))
    document_id = "6f1c7a52-3f0e-5d7b-9a51-0c2b8e4d7a10"
    file_id = "0123456789abcdef0123"  # a content hash's first 20 hex digits
    changes = _invalid(document_id, longest, file_id=file_id, chunk_id=f"{file_id}-00001")
    record = merge(None, [(c, "0123456789ab") for c in changes])
    erased = merge(record, [(change(document_id, State.ERASED, 9, component="erasure", chunk_id=None), "ba9876543210")])
    assert _item_size(layout.document_item(erased)) <= 1024


def test_the_same_invalid_change_with_other_reasons_merges_to_one_record_whatever_the_order() -> None:
    a, b = change(state=State.INVALID, reasons=EMAIL), change(state=State.INVALID, reasons=NO_ID)
    assert merge(merge(None, [(a, "m")]), [(b, "m")]) == merge(merge(None, [(b, "m")]), [(a, "m")])
    assert merge(None, [(a, "m"), (b, "m")]).reasons == min(EMAIL, NO_ID)


def test_a_file_groups_the_reasons_of_its_invalid_documents_most_first() -> None:
    store = InMemoryStateStore()
    for i in range(3):
        store.apply(_invalid(f"doc-{i}", NO_ID + EMAIL if i == 0 else NO_ID))
    store.apply(_invalid("doc-9", EMAIL, file_id="file-2"))
    answer = StateQueries(store).file_outcome("file-1")
    assert answer["rejections"] == [
        {"field": "source_record_id", "code": "missing_record_id", "records": 3},
        {"field": "contact.email", "code": "invalid_email", "records": 1},
    ]
    assert answer["summary"] == "all 3 records: source_record_id missing_record_id"
    view = StateQueries(store).get_document("doc-0")
    assert view["reasons"] == [
        {"field": "source_record_id", "code": "missing_record_id"},
        {"field": "contact.email", "code": "invalid_email"},
    ]
    assert view["history"][-1]["reasons"] == view["reasons"] and view["history"][0]["reasons"] == []


def test_a_document_no_longer_invalid_is_no_rejection_and_mixed_failures_have_no_summary() -> None:
    valid_again = merge(
        None, [(c, "m") for c in _invalid("doc-1", NO_ID)] + [(change("doc-1", State.RECEIVED, 5), "m")]
    )
    still = merge(None, [(c, "m") for c in _invalid("doc-2", EMAIL)])
    assert valid_again.reasons == ()
    grouped = rejections([valid_again, still])
    assert grouped == [{"field": "contact.email", "code": "invalid_email", "records": 1}]
    assert rejection_summary(2, grouped) is None
    assert rejection_summary(0, []) is None

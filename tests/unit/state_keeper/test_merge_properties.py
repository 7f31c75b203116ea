"""At-least-once, out-of-order delivery: any interleaving and duplication of a document's
state changes gives the same record — in the merge function and in the in-memory store."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.state_keeper.document_record import entry_from_change, merge
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.memory_store import InMemoryStateStore
from chalicelib.state_keeper.queries import document_view
from chalicelib.state_keeper.reporter import encode_changes, message_origin
from tests.unit.state_keeper.changes import T0, change

DOCUMENTS = ("doc-a", "doc-b")

changes_strategy = st.builds(
    change,
    document_id=st.sampled_from(DOCUMENTS),
    state=st.sampled_from(list(State)),
    seconds=st.integers(min_value=0, max_value=5).map(float),  # collisions in time are wanted
    component=st.sampled_from(["normalize", "sap-dispatch"]),
    attempt=st.integers(min_value=1, max_value=2),
    reason_code=st.sampled_from([None, "SAP_400", "SCHEMA"]),
    reasons=st.sampled_from(
        [None, (("contact.email", "invalid_email"),), (("record", "missing"), ("a.b", "too_long"))]
    ),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[StateChange], list[list[StateChange]], list[int]]:
    """Unique changes, the messages carrying them (each change at least once, some in several
    messages), and a delivery order in which some messages come more than once."""
    unique = draw(st.lists(changes_strategy, min_size=1, max_size=12, unique=True))
    count = draw(st.integers(min_value=1, max_value=4))
    messages: list[list[StateChange]] = [[] for _ in range(count)]
    for item in unique:
        for target in draw(st.sets(st.integers(0, count - 1), min_size=1, max_size=count)):
            messages[target].append(item)
    messages = [m for m in messages if m]
    order = draw(st.permutations(list(range(len(messages))) * 2))
    redelivered = draw(st.lists(st.sampled_from(order), max_size=3))
    return unique, messages, list(order[: len(messages) + draw(st.integers(0, len(messages)))]) + redelivered


def _by_document(changes: list[StateChange]) -> dict[str, list[StateChange]]:
    grouped: dict[str, list[StateChange]] = {}
    for item in changes:
        grouped.setdefault(item.document_id, []).append(item)
    return grouped


@settings(max_examples=300, deadline=None)
@given(deliveries(), st.randoms())
def test_the_merge_gives_one_record_for_any_interleaving_and_duplication(
    delivery: tuple[list[StateChange], list[list[StateChange]], list[int]], random: object
) -> None:
    unique, messages, _order = delivery
    for document_id, changes in _by_document(unique).items():
        expected = document_view(merge(None, [(c, "m") for c in changes]))
        shuffled = [c for m in messages for c in m if c.document_id == document_id] * 2
        random.shuffle(shuffled)  # type: ignore[attr-defined]
        record = None
        for item in shuffled:  # one change per merge: the finest interleaving there is
            record = merge(record, [(item, "m")])
        assert record is not None
        assert document_view(record) == expected


@settings(max_examples=200, deadline=None)
@given(deliveries())
def test_the_store_keeps_the_same_records_and_counts_whatever_the_delivery(
    delivery: tuple[list[StateChange], list[list[StateChange]], list[int]],
) -> None:
    unique, messages, order = delivery
    bodies = [encode_changes(m) for m in messages]
    in_order = InMemoryStateStore(history_retention=timedelta(days=3650), clock=lambda: T0)
    in_order.apply_batch([(message_origin(b), m) for b, m in zip(bodies, messages)])
    every_message_at_least_once = order + list(range(len(messages)))
    shuffled = InMemoryStateStore(history_retention=timedelta(days=3650), clock=lambda: T0)
    for index in every_message_at_least_once:
        shuffled.apply_batch([(message_origin(bodies[index]), messages[index])])

    # the same messages, however delivered: the very same stored records, origins included
    assert shuffled.records == in_order.records
    assert all(r.history == in_order.records[d].history for d, r in shuffled.records.items())
    # and what any delivery shows equals the merge of the unique changes
    for document_id, changes in _by_document(unique).items():
        assert document_view(shuffled.records[document_id]) == document_view(merge(None, [(c, "m") for c in changes]))
    # every distinct change is counted once in /stats
    counted: Counter[str] = Counter()
    for counters in shuffled.hourly.values():
        counted.update(counters.states)
    distinct = {
        (c.document_id, entry_from_change(c, "").entry_id) for c in unique
    }  # same (state, at, component, attempt)
    assert sum(counted.values()) == len(distinct)

"""Hourly counters for /stats: documents per state and source, and transition times.

Each message's counter deltas per (hour, source) are stored once and summed when read.
Transition times go into a logarithmic histogram (four buckets per doubling, so p95 is
exact to within ~19 %) plus a sum for the average; both are mergeable by addition, so
messages and hours add up.

Which message counts an entry: the one that first stored it (the least of them when
several store it in one batch; on re-delivery after a crash, the one that stored it
before). Each message's deltas are stored once (`dynamo_store`: its home item). Transitions are
those of adjacent history entries, and a message counts the change its entries make to
them: an entry arriving between two counted ones adds two transitions and takes back the
one they made (negative deltas), so the counts are the histories' transitions whatever
the arrival order (a document that came in two files, whose runs interleave).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord, HistoryEntry
from chalicelib.state_keeper.lifecycle import RANK, STATE_CODES, STATES_BY_CODE
from chalicelib.state_keeper.table_layout import utc_hour

BUCKETS_PER_DOUBLING = 4


def histogram_bucket(milliseconds: int) -> int:
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(max(milliseconds, 0) + 1))


def bucket_upper_bound(bucket: int) -> float:
    return 2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING) - 1


@dataclass
class HourlyCounters:
    """Counter deltas for one (hour, source): state counts and transition figures."""

    states: Counter[str] = field(default_factory=Counter)  # state code -> documents
    # (from code, to code) -> count, sum of ms, histogram bucket -> count
    transition_count: Counter[tuple[str, str]] = field(default_factory=Counter)
    transition_sum_ms: Counter[tuple[str, str]] = field(default_factory=Counter)
    transition_buckets: dict[tuple[str, str], Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def attributes(self) -> dict[str, int]:
        """The counter attributes to ADD (DynamoDB top-level attribute name -> increment)."""
        values: dict[str, int] = {f"n{code}": n for code, n in self.states.items()}
        for (a, b), n in self.transition_count.items():
            values[f"t{a}{b}n"] = n
            values[f"t{a}{b}s"] = self.transition_sum_ms[(a, b)]
            for bucket, count in self.transition_buckets[(a, b)].items():
                values[f"t{a}{b}b{bucket}"] = count
        # a transition taken back as another is added can leave a zero: nothing to add
        return {name: value for name, value in values.items() if value}


def counted_entries(old: DocumentRecord | None, new: DocumentRecord, change_ids: set[str], origin: str) -> set[str]:
    """Entry ids that the message `origin` (carrying `change_ids` for this document) counts."""
    before = {e.entry_id: e for e in (old.history if old else ())}
    return {
        e.entry_id
        for e in new.history
        if e.entry_id in change_ids
        and e.origin == origin
        and (e.entry_id not in before or before[e.entry_id].origin == origin)
    }


Deltas = dict[tuple[str, str | None], HourlyCounters]  # (hour, source) -> counter deltas


def counter_deltas(new: DocumentRecord, counted_by: dict[str, set[str]]) -> dict[str, Deltas]:
    """origin -> its deltas, for the entries each origin counts (`counted_by`) of the merged
    record `new` (its item and outcome page entries together).

    Every entry of `new` that no origin here counts was counted before. Origins are taken
    in order; each adds its entries' states and the difference its entries make to the
    transitions of the history counted so far, so the sum over any delivery is the
    transitions of the final history.
    """
    pending = set().union(*counted_by.values())
    counted_so_far = [e for e in new.history if e.entry_id not in pending]
    per_origin: dict[str, Deltas] = {}
    for origin in sorted(counted_by):
        deltas: Deltas = defaultdict(HourlyCounters)
        mine = counted_by[origin]
        for entry in new.history:
            if entry.entry_id in mine:
                deltas[(utc_hour(entry.at_ms), new.source)].states[STATE_CODES[entry.state]] += 1
        pending -= mine
        after = [e for e in new.history if e.entry_id not in pending]
        change = Counter(itertools.pairwise(after))
        change.subtract(itertools.pairwise(counted_so_far))
        for (first, second), n in change.items():
            if n:
                _add_transition(deltas[(utc_hour(second.at_ms), new.source)], first, second, n)
        counted_so_far = after
        per_origin[origin] = deltas
    return per_origin


def _add_transition(counters: HourlyCounters, before: HistoryEntry, after: HistoryEntry, n: int = 1) -> None:
    key = (STATE_CODES[before.state], STATE_CODES[after.state])
    elapsed = max(after.at_ms - before.at_ms, 0)
    counters.transition_count[key] += n
    counters.transition_sum_ms[key] += n * elapsed
    counters.transition_buckets[key][histogram_bucket(elapsed)] += n


def merge_deltas(into: dict[Any, HourlyCounters], more: dict[Any, HourlyCounters]) -> None:
    for key, counters in more.items():
        target = into.setdefault(key, HourlyCounters())
        target.states.update(counters.states)
        target.transition_count.update(counters.transition_count)
        target.transition_sum_ms.update(counters.transition_sum_ms)
        for pair, buckets in counters.transition_buckets.items():
            target.transition_buckets[pair].update(buckets)


def summarize(rows: Iterable[tuple[str, str | None, dict[str, int]]]) -> dict[str, Any]:
    """/stats from counter attribute maps: per (hour, source) counts and per-transition times."""
    per_hour: dict[tuple[str, str | None], Counter[str]] = defaultdict(Counter)
    count: Counter[tuple[str, str]] = Counter()
    total_ms: Counter[tuple[str, str]] = Counter()
    buckets: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for hour, source, attributes in rows:
        for name, value in attributes.items():
            if name.startswith("n") and name[1:] in STATES_BY_CODE:
                per_hour[(hour, source)][STATES_BY_CODE[name[1:]].value] += value
            elif name.startswith("t") and len(name) >= 4:
                pair = (name[1], name[2])
                kind, rest = name[3], name[4:]
                if kind == "n":
                    count[pair] += value
                elif kind == "s":
                    total_ms[pair] += value
                elif kind == "b":
                    buckets[pair][int(rest)] += value
    transitions = []
    # a pair whose transitions were all taken back again (an entry arrived between) adds up to 0
    shown = [pair for pair in count if count[pair]]
    for pair in sorted(shown, key=lambda p: (RANK[STATES_BY_CODE[p[0]]], RANK[STATES_BY_CODE[p[1]]])):
        transitions.append(
            {
                "from": STATES_BY_CODE[pair[0]].value,
                "to": STATES_BY_CODE[pair[1]].value,
                "count": count[pair],
                "avg_ms": round(total_ms[pair] / count[pair], 1) if count[pair] else None,
                "p95_ms": _percentile(buckets[pair], 0.95),
            }
        )
    return {
        "counts": [
            {"hour": hour, "source": source, "states": dict(sorted(states.items()))}
            for (hour, source), states in sorted(per_hour.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ],
        "transitions": transitions,
    }


def _percentile(buckets: Counter[int], fraction: float) -> float | None:
    total = sum(buckets.values())
    if not total:
        return None
    threshold = math.ceil(fraction * total)
    running = 0
    for bucket in sorted(buckets):
        running += buckets[bucket]
        if running >= threshold:
            return round(bucket_upper_bound(bucket), 1)
    return None

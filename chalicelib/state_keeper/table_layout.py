"""The state table's items: keys and attribute encodings, as pure functions.

One table, these kinds of item (the README explains why):

| item            | pk                         | sk                               |
|-----------------|----------------------------|----------------------------------|
| document        | `doc#{document_id}`        | `doc`                            |
| outcome page    | `out#{chunk_id}.{shard}`   | `out`                            |
| state page      | `list#{STATE}#{YYYY-MM-DD}`| `{epoch second:010d}#{origin}#{source}` |
| file page       | `file#{file_id}`           | `m#{origin}`                     |
| counter deltas  | `stats#{YYYY-MM-DDTHH}`    | `{origin}`                       |

Attribute names are short on purpose: every byte of a document item is paid on every
write, and the whole item must stay under 1 KB (one write unit). A history entry is one
`|`-separated string (`encode_entry`), in a document item's history map and in the lines
of an outcome page, whose contents `outcome_pages` encodes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.state_keeper.document_record import DocumentRecord, HistoryEntry, Version, chronological_order
from chalicelib.state_keeper.lifecycle import STATE_CODES, STATES_BY_CODE, State, from_epoch_millis

DOCUMENT_SK = "doc"
SUBJECT_INDEX = "by_subject"
SUBJECT_ATTRIBUTE = "subject"
OUTCOME_PAGE_ATTRIBUTE = "op"
VERSIONS_ATTRIBUTE = "vs"  # version id -> `{version time ms}|{interaction type}`
TTL_ATTRIBUTE = "expires_at"
COUNTERS_ATTRIBUTE = "c"  # source -> `name:value,…` of a counter-delta item
NO_SOURCE = "-"


def document_key(document_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"doc#{document_id}"}, "sk": {"S": DOCUMENT_SK}}


def document_id_of(item: dict[str, Any]) -> str:
    return item["pk"]["S"].removeprefix("doc#")


def encode_entry(entry: HistoryEntry) -> str:
    """`entry` as stored: its fields joined by `|` (ids never hold one); an entry with
    reasons adds them as a ninth field, `field:code` pairs joined by `,`."""
    fields = [
        STATE_CODES[entry.state],
        str(entry.at_ms),
        entry.component,
        str(entry.attempt),
        entry.reason_code or "",
        entry.chunk_id or "",
        entry.sap_batch_id or "",
        entry.origin,
    ]
    if entry.reasons:
        fields.append(",".join(f"{field}:{code}" for field, code in entry.reasons))
    return "|".join(fields)


def _decode_reasons(text: str) -> tuple[tuple[str, str], ...]:
    pairs = (pair.rpartition(":") for pair in text.split(",")) if text else ()
    return tuple((field, code) for field, _, code in pairs)


def decode_entry(text: str) -> HistoryEntry:
    """The entry `encode_entry` stored as `text`."""
    code, at_ms, component, attempt, reason, chunk, batch, origin, *reasons = text.split("|")
    return HistoryEntry(
        state=STATES_BY_CODE[code],
        at_ms=int(at_ms),
        component=component,
        attempt=int(attempt),
        reason_code=reason or None,
        chunk_id=chunk or None,
        sap_batch_id=batch or None,
        origin=origin,
        reasons=_decode_reasons(reasons[0]) if reasons else (),
    )


def document_item(record: DocumentRecord) -> dict[str, Any]:
    current = record.current
    item: dict[str, Any] = {
        **document_key(record.document_id),
        "st": {"S": current.state.value},
        "sa": {"N": str(current.at_ms)},
        "co": {"S": current.origin},
        "h": {"M": {e.entry_id: {"S": encode_entry(e)} for e in record.history}},
        "v": {"N": str(record.version + 1)},
    }
    if record.source:
        item["src"] = {"S": record.source}
    if record.file_id:
        item["fid"] = {"S": record.file_id}
    if record.subject_id:
        item[SUBJECT_ATTRIBUTE] = {"S": record.subject_id}
    if record.outcome_page:
        item[OUTCOME_PAGE_ATTRIBUTE] = {"S": record.outcome_page}
    if record.versions:
        item[VERSIONS_ATTRIBUTE] = {
            "M": {v.version_id: {"S": f"{v.at_ms}|{v.interaction or ''}"} for v in record.versions}
        }
    return item


def _versions(item: dict[str, Any]) -> tuple[Version, ...]:
    versions = []
    for version_id, value in item.get(VERSIONS_ATTRIBUTE, {}).get("M", {}).items():
        at_ms, _, interaction = value["S"].partition("|")
        versions.append(Version(version_id, int(at_ms), interaction or None))
    return tuple(sorted(versions, key=lambda v: v.order, reverse=True))


def record_from_item(item: dict[str, Any]) -> DocumentRecord:
    history = sorted((decode_entry(v["S"]) for v in item["h"]["M"].values()), key=chronological_order)
    return DocumentRecord(
        document_id=document_id_of(item),
        history=tuple(history),
        source=item.get("src", {}).get("S"),
        file_id=item.get("fid", {}).get("S"),
        subject_id=item.get(SUBJECT_ATTRIBUTE, {}).get("S"),
        versions=_versions(item),
        version=int(item["v"]["N"]),
        outcome_page=item.get(OUTCOME_PAGE_ATTRIBUTE, {}).get("S"),
    )


def outcome_page_key(page_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"out#{page_id}"}, "sk": {"S": "out"}}


def outcome_page_id(item: dict[str, Any]) -> str:
    return item["pk"]["S"].removeprefix("out#")


def utc_day(at_ms: int) -> str:
    return from_epoch_millis(at_ms).strftime("%Y-%m-%d")


def utc_hour(at_ms: int) -> str:
    return from_epoch_millis(at_ms).strftime("%Y-%m-%dT%H")


def state_page_pk(state: State, day: str) -> str:
    return f"list#{state.value}#{day}"


def state_page_sk(at_ms: int, origin: str, source: str | None) -> str:
    return f"{at_ms // 1000:010d}#{origin}#{source or NO_SOURCE}"


def state_page_key(state: State, at_ms: int, origin: str, source: str | None) -> dict[str, Any]:
    return {"pk": {"S": state_page_pk(state, utc_day(at_ms))}, "sk": {"S": state_page_sk(at_ms, origin, source)}}


def state_page_entry(document_id: str, at_ms: int) -> str:
    return f"{document_id}|{at_ms}"


def parse_state_page_entry(text: str) -> tuple[str, int]:
    document_id, _, at_ms = text.rpartition("|")
    return document_id, int(at_ms)


def file_page_key(file_id: str, origin: str) -> dict[str, Any]:
    return {"pk": {"S": f"file#{file_id}"}, "sk": {"S": f"m#{origin}"}}


def stats_pk(hour: str) -> dict[str, str]:
    return {"S": f"stats#{hour}"}


def stats_key(hour: str, origin: str) -> dict[str, Any]:
    """One message's counter deltas for one hour."""
    return {"pk": stats_pk(hour), "sk": {"S": origin}}


def encode_counters(attributes: dict[str, int]) -> str:
    """Counter attributes (`HourlyCounters.attributes`) as one string: `name:value,…`."""
    return ",".join(f"{name}:{value}" for name, value in sorted(attributes.items()))


def decode_counters(text: str) -> dict[str, int]:
    pairs = (pair.partition(":") for pair in text.split(",")) if text else ()
    return {name: int(value) for name, _, value in pairs}


def stats_item(hour: str, origin: str, by_source: dict[str | None, dict[str, int]]) -> dict[str, Any]:
    """The deltas of one message for one hour: one `name:value,…` string per source."""
    return {
        **stats_key(hour, origin),
        COUNTERS_ATTRIBUTE: {
            "M": {(source or NO_SOURCE): {"S": encode_counters(values)} for source, values in by_source.items()}
        },
    }


def counters_of(item: dict[str, Any]) -> dict[str | None, dict[str, int]]:
    """source -> counter attributes, of an item `stats_item` wrote."""
    return {
        (None if source == NO_SOURCE else source): decode_counters(value["S"])
        for source, value in item.get(COUNTERS_ATTRIBUTE, {}).get("M", {}).items()
    }


def expires_at(now: datetime, seconds: int) -> dict[str, str]:
    return {"N": str(int(now.astimezone(UTC).timestamp()) + seconds)}

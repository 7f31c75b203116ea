"""The `StateStore` adapter for the state table in DynamoDB (layout in `table_layout`).

`apply_batch` reads the current records (BatchGetItem, items and their outcome pages),
merges, and writes each changed document with a condition on its version (optimistic
locking); a lost race re-reads and re-merges. Unchanged documents are not written at all,
so a re-delivered message costs reads only. SAP's answers for a queued document go to its
outcome page instead of its item (`outcome_pages`). State pages list the documents that
entered a state, for the "stuck documents" queries; each message's counter deltas are
items of their own (no transaction), summed when read.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.state_keeper import table_layout as layout
from chalicelib.state_keeper.document_record import DocumentRecord, HistoryEntry, merge, visible
from chalicelib.state_keeper.exceptions import CountersNotWritten
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.outcome_pages import (
    additions_by_page,
    goes_to_outcome_page,
    outcome_page_entries,
    outcome_page_item,
    page_union,
    records_with_pages,
    with_outcome_page,
)
from chalicelib.state_keeper.statistics import Deltas
from chalicelib.state_keeper.store import (
    DEFAULT_HISTORY_RETENTION,
    Batch,
    Clock,
    Outcome,
    StateStore,
    file_members,
    stats_deltas,
)

log = logging.getLogger(__name__)

MARKER_TTL_SECONDS = 14 * 24 * 3600  # longer than any queue keeps a message
WRITE_ATTEMPTS = 6


@dataclass
class ListingPage:
    """Documents that entered one state in one second, from one message and source."""

    state: State
    at_ms: int  # any time within the page's second
    origin: str
    source: str | None
    entries: list[tuple[str, int]]  # (document id, entered at ms), newest first


def listing_pages(outcomes: Iterable[Outcome]) -> tuple[list[ListingPage], list[ListingPage]]:
    """Pages to add (documents whose current entry came from a message of this batch) and
    entries to remove (documents that left the entry they were listed under)."""
    added: dict[tuple[Any, ...], ListingPage] = {}
    removed: dict[tuple[Any, ...], ListingPage] = {}
    for outcome in outcomes:
        new, old = outcome.new.current, outcome.old.current if outcome.old else None
        if new.origin in outcome.origins:
            _page(added, new.state, new.at_ms, new.origin, outcome.new.source).entries.append(
                (outcome.new.document_id, new.at_ms)
            )
        if (
            outcome.old is not None
            and old is not None
            and ((old.entry_id, old.origin, outcome.old.source) != (new.entry_id, new.origin, outcome.new.source))
        ):
            _page(removed, old.state, old.at_ms, old.origin, outcome.old.source).entries.append(
                (outcome.old.document_id, old.at_ms)
            )
    for page in (*added.values(), *removed.values()):
        page.entries.sort(key=lambda e: (e[1], e[0]), reverse=True)
    return list(added.values()), list(removed.values())


def _page(
    pages: dict[tuple[Any, ...], ListingPage], state: State, at_ms: int, origin: str, source: str | None
) -> ListingPage:
    key = (state, at_ms // 1000, origin, source)
    if key not in pages:
        pages[key] = ListingPage(state, at_ms, origin, source, [])
    return pages[key]


class DynamoStateStore(StateStore):
    """The state table in DynamoDB (layout in `table_layout`, explained in the README)."""

    def __init__(
        self,
        table_name: str,
        client: Any,
        history_retention: timedelta = DEFAULT_HISTORY_RETENTION,
        clock: Clock | None = None,
        workers: int = 16,
    ) -> None:
        super().__init__(history_retention, clock)
        self.table_name = table_name
        self.client = client
        self.workers = workers

    # -- writes ---------------------------------------------------------------------------

    def apply_batch(self, batches: Sequence[Batch]) -> set[str]:
        document_ids = {c.document_id for _, changes in batches for c in changes}
        if not document_ids:
            return set()
        pages_read: dict[str, dict[str, Any]] = {}
        current = self._read_records(document_ids, pages_read=pages_read)
        outcomes = self._merge_all(batches, current)
        to_pages: list[Outcome] = []
        to_items: list[Outcome] = []
        for outcome in outcomes.values():
            (to_pages if goes_to_outcome_page(outcome) else to_items).append(outcome)
        failed_documents: set[str] = set()
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(self._write_document, to_items))
            pages = additions_by_page(to_pages)
            written = list(
                pool.map(
                    lambda page_id: self._add_to_outcome_page(page_id, pages[page_id], stored=pages_read.get(page_id)),
                    pages,
                )
            )
        for page_id, page_written in zip(pages, written):
            if not page_written:
                failed_documents.update(pages[page_id])
        for outcome, result in zip(to_items, results):
            if result is None:
                failed_documents.add(outcome.new.document_id)
            else:
                outcomes[outcome.new.document_id] = result
        failed = {origin for d in failed_documents for origin in outcomes[d].origins}
        settled = [o for d, o in outcomes.items() if d not in failed_documents]
        healthy = [(origin, changes) for origin, changes in batches if origin not in failed]
        homes = {origin: home_hour(changes) for origin, changes in healthy if changes}
        try:
            # A message whose counters were written got its pages written before them.
            counted = self._counted_before(homes)
            self._write_listing(settled, skip=counted)
            self._write_file_members([(origin, changes) for origin, changes in healthy if origin not in counted])
        except ClientError:
            log.exception("state pages could not be written")
            return {origin for origin, _ in batches}
        try:
            fresh = {origin: hour for origin, hour in homes.items() if origin not in counted}
            self._count(fresh, stats_deltas(settled, counted))
        except (ClientError, CountersNotWritten):
            log.exception("hourly counters could not be written")
            failed.update(homes)
        return failed

    def _read_records(
        self, document_ids: Iterable[str], consistent: bool = True, pages_read: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, DocumentRecord]:
        """The documents' records (item and outcome page); the page items read are added to
        `pages_read` (page id -> item) when given."""
        items = self._batch_get([layout.document_key(i) for i in document_ids], consistent)
        records = {layout.document_id_of(item): layout.record_from_item(item) for item in items}
        page_ids = {r.outcome_page for r in records.values() if r.outcome_page}
        if not page_ids:
            return records
        pages = {
            layout.outcome_page_id(item): item
            for item in self._batch_get([layout.outcome_page_key(p) for p in page_ids], consistent)
        }
        if pages_read is not None:
            pages_read.update(pages)
        return records_with_pages(records, pages.values())

    def _add_to_outcome_page(
        self, page_id: str, entries: dict[str, list[HistoryEntry]], stored: dict[str, Any] | None
    ) -> bool:
        """Add entries to an outcome page: union with the page as read (`stored`, None when
        there was none), put on its version, and on a lost race read again. False when it
        could not be written (the message will be re-delivered)."""
        for attempt in range(WRITE_ATTEMPTS):
            held = outcome_page_entries(stored) if stored else {}
            union = page_union(held, entries)
            if stored and union == page_union(held, {}):
                return True  # a re-delivered answer
            version = int(stored["v"]["N"]) if stored else 0
            request: dict[str, Any] = {"TableName": self.table_name, "Item": outcome_page_item(page_id, union, version)}
            if stored:
                request["ConditionExpression"] = "v = :seen"
                request["ExpressionAttributeValues"] = {":seen": {"N": str(version)}}
            else:
                request["ConditionExpression"] = "attribute_not_exists(pk)"
            try:
                self.client.put_item(**request)
                return True
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    log.warning("outcome page write failed: %s", error.response["Error"]["Code"])
                    return False
            time.sleep(0.005 * 2**attempt)
            stored = self.client.get_item(
                TableName=self.table_name, Key=layout.outcome_page_key(page_id), ConsistentRead=True
            ).get("Item")
        log.warning("outcome page write kept losing races")
        return False

    def _write_document(self, outcome: Outcome) -> Outcome | None:
        """Write the merged record under a version condition; the outcome as written, or
        None when it could not be written (the message will be re-delivered)."""
        for attempt in range(WRITE_ATTEMPTS):
            if not outcome.written:
                return outcome
            old = outcome.old
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "Item": layout.document_item(with_outcome_page(outcome.new)),
            }
            if old is None:
                request["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                request["ConditionExpression"] = "v = :seen"
                request["ExpressionAttributeValues"] = {":seen": {"N": str(old.version)}}
            try:
                self.client.put_item(**request)
                return outcome
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code != "ConditionalCheckFailedException":
                    log.warning("document write failed: %s", code)
                    return None
            # Lost a race: merge our changes into what is stored now.
            stored = self._read_records([outcome.new.document_id])
            latest = stored.get(outcome.new.document_id)
            merged = merge(latest, outcome.pairs, expire_before_ms=self.expire_before_ms())
            outcome = Outcome(latest, merged, outcome.pairs)
            time.sleep(0.005 * 2**attempt)
        log.warning("document write kept losing races")
        return None

    # A record's `version` is the `v` its item was read with; `document_item` writes
    # version + 1, so the condition `v = :seen` fails exactly when someone wrote in between.

    def _write_listing(self, outcomes: list[Outcome], skip: Collection[str] = ()) -> None:
        """Add and remove state page entries; the pages of the origins in `skip` (written
        before) are not put again."""
        added, removed = listing_pages(outcomes)
        for page in (p for p in added if p.origin not in skip):
            item = {
                **layout.state_page_key(page.state, page.at_ms, page.origin, page.source),
                "o": {"S": page.origin},
                "e": {"SS": [layout.state_page_entry(d, at) for d, at in page.entries]},
            }
            if page.source:
                item["src"] = {"S": page.source}
            self._put_once(item)
        for page in removed:
            key = layout.state_page_key(page.state, page.at_ms, page.origin, page.source)
            try:
                left = self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="DELETE e :gone",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={
                        ":gone": {"SS": [layout.state_page_entry(d, at) for d, at in page.entries]}
                    },
                    ReturnValues="UPDATED_NEW",
                ).get("Attributes", {})
                if "e" not in left:
                    # Every document moved on: drop the page so "stuck" queries never read it.
                    self.client.delete_item(
                        TableName=self.table_name, Key=key, ConditionExpression="attribute_not_exists(e)"
                    )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def _write_file_members(self, batches: Sequence[Batch]) -> None:
        for (file_id, origin), documents in file_members(batches).items():
            self._put_once({**layout.file_page_key(file_id, origin), "d": {"SS": sorted(documents)}})

    def _put_once(self, item: dict[str, Any]) -> None:
        """Pages are immutable once written: a re-delivered message must not resurrect
        entries removed since, so only the first put counts."""
        try:
            self.client.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _counted_before(self, homes: dict[str, str]) -> set[str]:
        """The origins whose counter deltas were written before (their home item exists):
        transitions are counted against what they counted."""
        items = self._batch_get([layout.stats_key(hour, origin) for origin, hour in homes.items()])
        return {item["sk"]["S"] for item in items}

    def _count(self, homes: dict[str, str], deltas_by_origin: dict[str, Deltas]) -> None:
        """Write each message's counter deltas: one item per (hour, message), plain puts.

        A message's home item (the hour of its earliest change, known from the message
        alone) is written last and is what `_counted_before` looks for, so a re-delivered
        message writes nothing; a message that counts nothing still writes it (were it
        re-delivered after its entries' origin moved to it, it must not count them then).
        The other hours' items go first: a crash between leaves them to be written again."""
        expires = layout.expires_at(self.clock(), max(int(self.history_retention.total_seconds()), MARKER_TTL_SECONDS))
        first: list[dict[str, Any]] = []
        last: list[dict[str, Any]] = []
        for origin, home in sorted(homes.items()):
            by_hour: dict[str, dict[str | None, dict[str, int]]] = {home: {}}
            for (hour, source), counters in deltas_by_origin.get(origin, {}).items():
                if values := counters.attributes():
                    by_hour.setdefault(hour, {})[source] = values
            for hour, by_source in by_hour.items():
                item = {**layout.stats_item(hour, origin, by_source), layout.TTL_ATTRIBUTE: expires}
                (last if hour == home else first).append(item)
        self._batch_put(first)
        self._batch_put(last)

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):
            request = {self.table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
            for attempt in range(WRITE_ATTEMPTS):
                request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
            else:
                raise CountersNotWritten("counter deltas kept coming back unprocessed")

    # -- reads ----------------------------------------------------------------------------

    def _batch_get(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        unique = list({(k["pk"]["S"], k["sk"]["S"]): k for k in keys}.values())
        for start in range(0, len(unique), 100):
            request = {self.table_name: {"Keys": unique[start : start + 100], "ConsistentRead": consistent}}
            for attempt in range(10):
                response = self.client.batch_get_item(RequestItems=request)
                items.extend(response["Responses"].get(self.table_name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
        return items

    def get(self, document_id: str) -> DocumentRecord | None:
        """One read of the item; one more of its outcome page once it was queued for SAP."""
        record = self._read_records([document_id], consistent=False).get(document_id)
        return visible(record, self.expire_before_ms()) if record else None

    def get_many(self, document_ids: Iterable[str]) -> dict[str, DocumentRecord]:
        expire = self.expire_before_ms()
        return {
            document_id: visible(record, expire)
            for document_id, record in self._read_records(document_ids, consistent=False).items()
        }

    def list_in_state(
        self, state: State, source: str | None, since_ms: int, until_ms: int, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[DocumentRecord], dict[str, Any] | None]:
        """Walk the state pages newest first, day by day, checking each listed document
        against its record (a page entry is only a hint: the record is the truth)."""
        days = _days_between(since_ms, until_ms)
        found: list[DocumentRecord] = []
        day_index = days.index(cursor["d"]) if cursor else 0
        resume_sk: str | None = cursor.get("k") if cursor else None
        skip = int(cursor.get("o", 0)) if cursor else 0
        low = f"{since_ms // 1000:010d}"
        for day in days[day_index:]:
            high = resume_sk or f"{until_ms // 1000:010d}~"
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": {"S": layout.state_page_pk(state, day)},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
                "ScanIndexForward": False,
                "Limit": 20,
            }
            if source is not None:
                request["FilterExpression"] = "src = :src"
                request["ExpressionAttributeValues"][":src"] = {"S": source}
            while True:
                response = self.client.query(**request)
                for page in response.get("Items", []):
                    sk = page["sk"]["S"]
                    entries = sorted(
                        (layout.parse_state_page_entry(e) for e in page.get("e", {}).get("SS", [])),
                        key=lambda e: (e[1], e[0]),
                        reverse=True,
                    )
                    offset = skip if sk == resume_sk else 0
                    candidates = [
                        (i, d, at) for i, (d, at) in enumerate(entries) if i >= offset and since_ms <= at <= until_ms
                    ]
                    for i, record in self._confirmed(candidates, state, page["o"]["S"]):
                        found.append(record)
                        if len(found) == limit:
                            if i + 1 < len(entries) or not _is_last(response, page):
                                return found, {"d": day, "k": sk, "o": i + 1}
                            following = days.index(day) + 1
                            more = following < len(days)
                            return found, {"d": days[following], "k": None, "o": 0} if more else None
                    resume_sk = None
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            resume_sk, skip = None, 0
        return found, None

    def _confirmed(
        self, candidates: list[tuple[int, str, int]], state: State, origin: str
    ) -> list[tuple[int, DocumentRecord]]:
        if not candidates:
            return []
        records = self.get_many(d for _, d, _ in candidates)
        confirmed = []
        for index, document_id, at_ms in candidates:
            record = records.get(document_id)
            if (
                record is not None
                and record.state is state
                and record.current.at_ms == at_ms
                and record.current.origin == origin
            ):
                confirmed.append((index, record))
        return confirmed

    def file_document_ids(self, file_id: str) -> set[str]:
        documents: set[str] = set()
        for page in self._query_all({":pk": {"S": layout.file_page_key(file_id, "")["pk"]["S"]}}):
            documents.update(page.get("d", {}).get("SS", []))
        return documents

    def subject_document_ids(self, subject_id: str) -> set[str]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": layout.SUBJECT_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": layout.SUBJECT_ATTRIBUTE},
            "ExpressionAttributeValues": {":s": {"S": subject_id}},
        }
        documents: set[str] = set()
        while True:
            response = self.client.query(**request)
            documents.update(layout.document_id_of(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return documents
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def counters(self, hours: Sequence[str]) -> list[tuple[str, str | None, dict[str, int]]]:
        """The counter deltas of the hours, summed per (hour, source): a Query per hour."""
        with ThreadPoolExecutor(min(self.workers, max(len(hours), 1))) as pool:
            items_by_hour = list(pool.map(lambda hour: self._query_all({":pk": layout.stats_pk(hour)}), hours))
        rows = []
        for hour, items in zip(hours, items_by_hour):
            sums: dict[str | None, Counter[str]] = defaultdict(Counter)
            for item in items:
                for source, values in layout.counters_of(item).items():
                    sums[source].update(values)
            rows += [(hour, source, dict(values)) for source, values in sums.items()]
        return rows

    def _query_all(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": values,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self.client.query(**request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def home_hour(changes: Sequence[StateChange]) -> str:
    """The hour of a message's home counter item: that of its earliest change, so the
    same on every delivery of the message."""
    return layout.utc_hour(min(change.at_ms for change in changes))


def _is_last(response: dict[str, Any], page: dict[str, Any]) -> bool:
    return page is response["Items"][-1] and "LastEvaluatedKey" not in response


def _days_between(since_ms: int, until_ms: int) -> list[str]:
    """UTC days from `until` back to `since`, newest first."""
    days = []
    day = datetime.fromtimestamp(until_ms / 1000, tz=UTC).date()
    first = datetime.fromtimestamp(since_ms / 1000, tz=UTC).date()
    while day >= first:
        days.append(day.isoformat())
        day -= timedelta(days=1)
    return days

"""The dispatch ledger: which records SAP holds, guarded by conditional writes.

A dispatcher *claims* a record before sending it (a lease), and *settles* it with what
SAP answered. The states and transitions, per record, are data:

    (none) ──claim──► SENDING ──settle──► DELIVERED | REJECTED_BY_SAP   (final)
                        │  ▲ └──settle──► PENDING  (SAP definitely did not apply it)
                        │  └───claim─────────┘
                        └─ lease expires (crash) or settled IN_DOUBT ──claim──► SENDING, in doubt
    (none) | PENDING | SENDING with its lease expired ──withdraw──► WITHDRAWN   (final)

In the sap-ledger table (`DynamoDbLedger`) a message's attempt is claimed and settled as
one item, and each record has one small item that another message can find:
- a *claim item* per message and attempt (`pk=claim#<owner>#<message id>`): the lease, the
  message, and per record its state, contact progress and SAP's reason. It is written by
  BatchWriteItem with no condition (only its owner writes it): once at the claim, once at
  the settle, whatever the number of records;
- a *record item* (`pk=record#<record_id>`) *pointing* at the claim item that holds it:
  the claim moves the pointer with one conditional PutItem (the item is still as it was
  read: the same pointer and parked mark), so two dispatchers never both hold a record,
  and a second message finds the first one's claim (its lease, its message:
  HELD_ELSEWHERE) or its final answer there. Withdrawn and reopened states and the
  parked mark live on this item.
A claim reads both with two consistent BatchGetItems. Per record that is one write unit
(the pointer), plus two claim-item writes per message (see bench/README.md).

A claim over an expired SENDING lease is *in doubt*: the previous holder may have
died after SAP applied the record. The dispatcher then asks SAP before sending again,
so nothing is created twice. Final states are never claimed again.

A record of an erased subject (an erasure tombstone covers it) is *withdrawn*: never sent,
and final, so no redelivery or replay sends it either. A record another dispatcher holds
(a live lease) comes back busy, naming the message it was claimed for (`holder`); one SAP
already holds keeps its final state.

A record SAP rejected may be *reopened* by an operator's retry (REJECTED_BY_SAP → PENDING,
`POST /documents/{id}/retry`), after whatever made SAP refuse it was fixed on SAP's side.

A record whose message ended in the dead-letter queue is *parked*: `parked_at` is set
once (the time the State Keeper hears PARKED, the same on every watch) and removed on
replay. Parking never touches a final record, and never leaves an item that cannot be
claimed (a record item without a pointer is claimable).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

SENDING = "SENDING"
PENDING = "PENDING"
DELIVERED = "DELIVERED"
REJECTED_BY_SAP = "REJECTED_BY_SAP"
WITHDRAWN = "WITHDRAWN"  # its subject was erased: never to be sent
FINAL_STATES = frozenset({DELIVERED, REJECTED_BY_SAP, WITHDRAWN})
SETTLE_STATES = frozenset({PENDING, DELIVERED, REJECTED_BY_SAP})
IN_DOUBT = "IN_DOUBT"  # a settle outcome, not a state: SENDING with the lease given up

# Final entries must outlive every redelivery and replay (SQS 4 days + DLQ 14 days + slack).
RETENTION_SECONDS = 35 * 24 * 3600


@dataclass(frozen=True)
class Claim:
    record_id: str
    status: Literal["claimed", "final", "busy"]
    in_doubt: bool = False
    contact_done: bool = False
    final_state: str | None = None
    reason: str | None = None
    busy_until: float = 0.0
    holder: str | None = None  # busy: the SQS message the record was claimed for


@dataclass(frozen=True)
class Settlement:
    record_id: str
    outcome: str  # one of SETTLE_STATES or IN_DOUBT
    contact_done: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Withdrawal:
    record_id: str
    status: Literal["withdrawn", "final", "busy"]  # final: SAP's answer came first
    final_state: str | None = None
    busy_until: float = 0.0


def _withdrawal_from(record_id: str, withdrawn: bool, old: dict[str, Any], now: float) -> Withdrawal:
    state = old.get("state")
    if withdrawn or state == WITHDRAWN:
        return Withdrawal(record_id, "withdrawn")
    if state in FINAL_STATES:
        return Withdrawal(record_id, "final", final_state=state)
    return Withdrawal(record_id, "busy", busy_until=float(old.get("lease_until", now)))


class DispatchLedger(Protocol):
    def claim_many(
        self, record_ids: Iterable[str], owner: str, lease_seconds: float, messages: dict[str, str] | None = None
    ) -> dict[str, Claim]:
        """Claim each record (for its SQS message in `messages`); a record another live
        dispatcher holds comes back `busy`, with the message it holds it for."""

    def settle_many(self, settlements: Iterable[Settlement], owner: str) -> dict[str, bool]:
        """Record SAP's answers; False where the lease was lost (another dispatcher took over)."""

    def withdraw_many(self, record_ids: Iterable[str], reason: str) -> dict[str, Withdrawal]:
        """Make records of erased subjects final without sending them (see the module doc)."""

    def park_many(self, record_ids: Iterable[str]) -> dict[str, float]:
        """Mark dead-lettered records parked; their first parked time, for those not final."""

    def unpark_many(self, record_ids: Iterable[str]) -> set[str]:
        """Forget the parked mark (a replay); returns the records that are not final."""

    def reopen(self, record_id: str) -> bool:
        """A REJECTED_BY_SAP record made claimable again (PENDING); False in any other state."""


def _claim_from(record_id: str, claimed: bool, old: dict[str, Any], now: float) -> Claim:
    state = old.get("state")
    if claimed:
        return Claim(record_id, "claimed", in_doubt=state == SENDING, contact_done=bool(old.get("contact_done")))
    if state in FINAL_STATES:
        return Claim(record_id, "final", final_state=state, reason=old.get("reason"))
    return Claim(record_id, "busy", busy_until=float(old.get("lease_until", now)), holder=old.get("message") or None)


class InMemoryLedger:
    def __init__(self, clock: Any = time.time) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.clock = clock
        self._lock = threading.Lock()

    def claim_many(
        self, record_ids: Iterable[str], owner: str, lease_seconds: float, messages: dict[str, str] | None = None
    ) -> dict[str, Claim]:
        now = self.clock()
        claims = {}
        with self._lock:
            for record_id in record_ids:
                old = dict(self.items.get(record_id, {}))
                state = old.get("state")
                claimable = state is None or state == PENDING or (state == SENDING and old["lease_until"] < now)
                if claimable:
                    self.items[record_id] = {
                        **old,
                        "state": SENDING,
                        "owner": owner,
                        "message": (messages or {}).get(record_id),
                        "lease_until": now + lease_seconds,
                        "attempts": old.get("attempts", 0) + 1,
                    }
                claims[record_id] = _claim_from(record_id, claimable, old, now)
        return claims

    def settle_many(self, settlements: Iterable[Settlement], owner: str) -> dict[str, bool]:
        settled = {}
        with self._lock:
            for settlement in settlements:
                item = self.items.get(settlement.record_id)
                ok = item is not None and item["state"] == SENDING and item.get("owner") == owner
                if item is not None and ok:
                    item["lease_until"] = 0.0
                    item["contact_done"] = settlement.contact_done or item.get("contact_done", False)
                    if settlement.outcome != IN_DOUBT:
                        item.update(state=settlement.outcome, reason=settlement.reason, owner=None)
                settled[settlement.record_id] = ok
        return settled

    def state(self, record_id: str) -> str | None:
        return self.items.get(record_id, {}).get("state")

    def withdraw_many(self, record_ids: Iterable[str], reason: str) -> dict[str, Withdrawal]:
        now = self.clock()
        withdrawals = {}
        with self._lock:
            for record_id in record_ids:
                old = dict(self.items.get(record_id, {}))
                state = old.get("state")
                withdrawable = state is None or state == PENDING or (state == SENDING and old["lease_until"] < now)
                if withdrawable:
                    self.items[record_id] = {
                        **old,
                        "state": WITHDRAWN,
                        "reason": reason,
                        "owner": None,
                        "lease_until": 0.0,
                    }
                withdrawals[record_id] = _withdrawal_from(record_id, withdrawable, old, now)
        return withdrawals

    def park_many(self, record_ids: Iterable[str]) -> dict[str, float]:
        now = self.clock()
        parked = {}
        with self._lock:
            for record_id in record_ids:
                item = self.items.setdefault(record_id, {"state": PENDING})
                if item["state"] not in FINAL_STATES:
                    parked[record_id] = item.setdefault("parked_at", now)
        return parked

    def unpark_many(self, record_ids: Iterable[str]) -> set[str]:
        unparked = set()
        with self._lock:
            for record_id in record_ids:
                item = self.items.get(record_id, {})
                if item.get("state") not in FINAL_STATES:
                    item.pop("parked_at", None)
                    unparked.add(record_id)
        return unparked

    def reopen(self, record_id: str) -> bool:
        with self._lock:
            item = self.items.get(record_id, {})
            if item.get("state") != REJECTED_BY_SAP:
                return False
            item.update(state=PENDING, reason=None)
        return True


class DynamoDbLedger:
    """The ledger in the sap-ledger table: a claim item per message attempt, a pointer per record.

    See the module doc for the layout. The claim items a dispatcher created are remembered
    here (per owner) until it settles them, so `settle_many` knows which items to rewrite.
    """

    def __init__(self, table_name: str, client: Any, *, clock: Any = time.time, workers: int = 8) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock
        self.workers = workers
        self._held: dict[tuple[str, str], _ClaimItem] = {}  # (owner, record id) -> its claim item
        self._lock = threading.Lock()

    # -- claim and settle ----------------------------------------------------------------

    def claim_many(
        self, record_ids: Iterable[str], owner: str, lease_seconds: float, messages: dict[str, str] | None = None
    ) -> dict[str, Claim]:
        now = self.clock()
        held_for = messages or {}
        ids = list(dict.fromkeys(record_ids))
        views = self._views(ids)
        claimable = [rid for rid in ids if _claimable(views[rid].old, now)]
        claims = {rid: _claim_from(rid, False, views[rid].old, now) for rid in ids if rid not in claimable}
        by_message: dict[str, list[str]] = {}
        for rid in claimable:
            by_message.setdefault(held_for.get(rid, ""), []).append(rid)
        items = [
            _ClaimItem(
                f"{owner}#{message}",
                owner,
                message,
                now + lease_seconds,
                {rid: {"state": SENDING, "contact_done": bool(views[rid].old.get("contact_done"))} for rid in rids},
            )
            for message, rids in by_message.items()
        ]
        self._put_claims(items, now)  # before the pointers: a pointer always finds its claim
        item_of = {rid: item for item in items for rid in item.records}

        def point(rid: str) -> Claim:
            view = views[rid]
            if self._point(rid, view.item, item_of[rid].key, now):
                with self._lock:
                    self._held[(owner, rid)] = item_of[rid]
                return _claim_from(rid, True, view.old, now)
            taken = self._views([rid])[rid]  # another dispatcher came first: its state now
            if _claimable(taken.old, now):
                return Claim(rid, "busy", busy_until=now + 1.0)
            return _claim_from(rid, False, taken.old, now)

        claims.update(zip(claimable, self._parallel(point, claimable)))
        return claims

    def claim(self, record_id: str, owner: str, lease_seconds: float, message: str | None = None) -> Claim:
        messages = {record_id: message} if message else None
        return self.claim_many([record_id], owner, lease_seconds, messages)[record_id]

    def settle_many(self, settlements: Iterable[Settlement], owner: str) -> dict[str, bool]:
        """Rewrite each claim item with SAP's answers (BatchWriteItem: only its owner writes it).

        False where the lease had run out: another dispatcher may have moved the pointer to
        its own claim, and then this answer (written all the same) is no longer read."""
        now = self.clock()
        settled: dict[str, bool] = {}
        touched: dict[str, _ClaimItem] = {}
        with self._lock:
            for settlement in settlements:
                item = self._held.pop((owner, settlement.record_id), None)
                settled[settlement.record_id] = item is not None and now <= item.leased_until
                if item is None:
                    continue
                entry = item.records[settlement.record_id]
                entry["contact_done"] = settlement.contact_done or entry.get("contact_done", False)
                entry["state"] = settlement.outcome
                if settlement.reason and settlement.outcome != IN_DOUBT:
                    entry["reason"] = settlement.reason
                else:
                    entry.pop("reason", None)
                item.lease_until = 0.0
                touched[item.key] = item
        self._put_claims(list(touched.values()), now)
        return settled

    def settle(self, settlement: Settlement, owner: str) -> bool:
        return self.settle_many([settlement], owner)[settlement.record_id]

    def state(self, record_id: str) -> str | None:
        return self._views([record_id])[record_id].state

    # -- withdraw, park, unpark, reopen: rare, one record at a time --------------------------

    def withdraw_many(self, record_ids: Iterable[str], reason: str) -> dict[str, Withdrawal]:
        ids = list(dict.fromkeys(record_ids))
        return dict(zip(ids, self._parallel(lambda rid: self.withdraw(rid, reason), ids)))

    def withdraw(self, record_id: str, reason: str) -> Withdrawal:
        for _ in range(_RACES):
            now = self.clock()
            view = self._views([record_id])[record_id]
            if not _claimable(view.old, now):
                return _withdrawal_from(record_id, False, view.old, now)
            changed = self._update(
                record_id,
                view.claim_key,
                "SET #state = :withdrawn, #reason = :reason, #expires_at = :expires REMOVE #claim",
                {":withdrawn": {"S": WITHDRAWN}, ":reason": {"S": reason}, ":expires": _expiry(now)},
            )
            if changed is not None:
                return Withdrawal(record_id, "withdrawn")
        return Withdrawal(record_id, "busy", busy_until=self.clock() + 1.0)

    def park_many(self, record_ids: Iterable[str]) -> dict[str, float]:
        ids = list(dict.fromkeys(record_ids))
        parked = dict(zip(ids, self._parallel(self.park, ids)))
        return {record_id: at for record_id, at in parked.items() if at is not None}

    def park(self, record_id: str) -> float | None:
        """Mark a dead-lettered record parked; its parked time (the first one), None if final."""
        for _ in range(_RACES):
            now = self.clock()
            view = self._views([record_id])[record_id]
            if view.state in FINAL_STATES:
                return None
            if "parked_at" in view.item:
                return float(view.item["parked_at"])
            changed = self._update(
                record_id,
                view.claim_key,
                "SET #parked_at = if_not_exists(#parked_at, :now), #expires_at = if_not_exists(#expires_at, :expires)",
                {":now": {"N": _number(now)}, ":expires": _expiry(now)},
            )
            if changed is not None:
                return float(changed["parked_at"])
        return None

    def unpark_many(self, record_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(record_ids))
        return {record_id for record_id, ok in zip(ids, self._parallel(self.unpark, ids)) if ok}

    def unpark(self, record_id: str) -> bool:
        """Forget a record's parked time (a replay); False if the record is final."""
        for _ in range(_RACES):
            view = self._views([record_id])[record_id]
            if view.state in FINAL_STATES:
                return False
            if "parked_at" not in view.item:  # never create an item here
                return True
            if self._update(record_id, view.claim_key, "REMOVE #parked_at", {}) is not None:
                return True
        return False

    def reopen(self, record_id: str) -> bool:
        view = self._views([record_id])[record_id]
        if view.state != REJECTED_BY_SAP or view.claim_key is None:
            return False
        reopened = self._update(
            record_id, view.claim_key, "SET #state = :pending REMOVE #claim", {":pending": {"S": PENDING}}
        )
        return reopened is not None

    # -- items -------------------------------------------------------------------------------

    def _point(self, record_id: str, item: dict[str, Any], claim_key: str, now: float) -> bool:
        """Point the record at a claim, if nobody changed its item since it was read (`item`).

        One conditional PutItem of the whole small item, a compare-and-swap: a record never
        seen must still have no item (a claim, park or withdrawal in between creates one);
        else the pointer and the parked mark as read (the one attribute kept), so a park or
        unpark in between fails it as a move would. The same write unit as an UpdateItem,
        and half the work for DynamoDB's emulator, which evaluates update expressions slowly."""
        new_item: dict[str, Any] = {**_key(record_id), "claim": {"S": claim_key}, "expires_at": _expiry(now)}
        if not item:  # never seen: the item must still be absent (the cheapest condition to evaluate)
            return self._put_if(new_item, "attribute_not_exists(pk)", {}, {})
        names = {"#claim": "claim", "#parked_at": "parked_at"}
        values: dict[str, Any] = {}
        if "claim" in item:
            condition = "#claim = :seen"
            values[":seen"] = {"S": item["claim"]}
        else:
            condition = "attribute_not_exists(#claim) AND (attribute_not_exists(#state) OR #state = :pending_state)"
            names["#state"] = "state"
            values[":pending_state"] = {"S": PENDING}
        if "parked_at" in item:
            new_item["parked_at"] = {"N": _number(float(item["parked_at"]))}
            condition += " AND #parked_at = :parked_at"
            values[":parked_at"] = new_item["parked_at"]
        else:
            condition += " AND attribute_not_exists(#parked_at)"
        return self._put_if(new_item, condition, names, values)

    def _put_if(self, item: dict[str, Any], condition: str, names: dict[str, str], values: dict[str, Any]) -> bool:
        """One conditional PutItem; False if the condition failed."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeNames": names} if names else {}),
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _update(self, record_id: str, seen: str | None, update: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """One conditional UpdateItem of a record's item: it still points where it did, not
        withdrawn. The item as updated, None if the condition failed."""
        if seen is None:
            condition = "attribute_not_exists(#claim) AND (attribute_not_exists(#state) OR #state = :pending_state)"
            values = {**values, ":pending_state": {"S": PENDING}}
        else:
            condition = "#claim = :seen"
            values = {**values, ":seen": {"S": seen}}
        names = {f"#{name}": name for name in re.findall(r"#(\w+)", f"{update} {condition}")}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return {name: _DESERIALIZE.deserialize(value) for name, value in response.get("Attributes", {}).items()}

    def _put_claims(self, items: list[_ClaimItem], now: float) -> None:
        requests = [{"PutRequest": {"Item": item.to_dynamodb(now)}} for item in items]
        for start in range(0, len(requests), 25):
            pending = {self.table_name: requests[start : start + 25]}
            for attempt in range(_UNPROCESSED_ATTEMPTS):
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise LedgerUnavailable("the ledger did not take the claim items")

    def _views(self, record_ids: list[str]) -> dict[str, _View]:
        """Each record's item and the claim it points at (two consistent BatchGetItems)."""
        records = self._batch_get([_key(rid) for rid in record_ids])
        claim_keys = {item["claim"] for item in records.values() if "claim" in item}
        claims = self._batch_get([_claim_key(key) for key in claim_keys])
        views = {}
        for rid in record_ids:
            item = records.get(f"record#{rid}", {})
            claim_key = item.get("claim")
            views[rid] = _View.of(rid, item, claim_key, claims.get(f"claim#{claim_key}") if claim_key else None)
        return views

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            for attempt in range(_UNPROCESSED_ATTEMPTS):
                response = self.client.batch_get_item(RequestItems=pending)
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = {name: _DESERIALIZE.deserialize(value) for name, value in raw.items()}
                    found[item["pk"]] = item
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            if pending:
                raise LedgerUnavailable("the ledger did not answer a read")
        return found

    def _parallel(self, function: Any, items: list[Any]) -> list[Any]:
        if len(items) <= 1 or self.workers <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(function, items))


class LedgerUnavailable(Exception):
    """DynamoDB left part of a batch unprocessed through every retry (throttled)."""


@dataclass
class _ClaimItem:
    key: str  # "<owner>#<message id>"
    owner: str
    message: str
    lease_until: float
    records: dict[str, dict[str, Any]]  # record id -> state, contact_done, reason
    leased_until: float = 0.0  # the lease as claimed (lease_until is 0 once settled)

    def __post_init__(self) -> None:
        self.leased_until = self.leased_until or self.lease_until

    def to_dynamodb(self, now: float) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"claim#{self.key}"},
            "sk": {"S": "dispatch"},
            "owner": {"S": self.owner},
            "message": {"S": self.message},
            "lease_until": {"N": _number(self.lease_until)},
            "updated_at": {"N": _number(now)},
            "expires_at": _expiry(now),
            # compact, so a message of 20 records fits one write unit: state per record,
            # the records whose contact part SAP took, SAP's reasons where it gave one
            "states": {"M": {rid: {"S": entry["state"]} for rid, entry in self.records.items()}},
        }
        done = [rid for rid, entry in self.records.items() if entry.get("contact_done")]
        if done:
            item["contact_done"] = {"SS": done}
        reasons = {rid: {"S": entry["reason"]} for rid, entry in self.records.items() if entry.get("reason")}
        if reasons:
            item["reasons"] = {"M": reasons}
        return item


@dataclass(frozen=True)
class _View:
    """A record as the per-record ledger of the module doc would hold it (`old`), and where it points."""

    item: dict[str, Any]
    claim_key: str | None
    old: dict[str, Any]

    @property
    def state(self) -> str | None:
        return self.old.get("state")

    @classmethod
    def of(cls, record_id: str, item: dict[str, Any], claim_key: str | None, claim: dict[str, Any] | None) -> _View:
        if claim_key is None:  # never claimed, withdrawn, reopened or parked only
            return cls(item, None, {"state": item.get("state"), "reason": item.get("reason")})
        if claim is None:  # its claim item expired (TTL): SAP may hold it
            return cls(item, claim_key, {"state": SENDING, "lease_until": 0.0})
        state = claim.get("states", {}).get(record_id, SENDING)
        old = {
            "contact_done": record_id in claim.get("contact_done", set()),
            "reason": claim.get("reasons", {}).get(record_id),
        }
        if state in (SENDING, IN_DOUBT):
            lease = float(claim.get("lease_until", 0)) if state == SENDING else 0.0
            old.update(state=SENDING, lease_until=lease, message=claim.get("message") or None)
        else:
            old["state"] = state
        return cls(item, claim_key, old)


def _claimable(old: dict[str, Any], now: float) -> bool:
    state = old.get("state")
    return state in (None, PENDING) or (state == SENDING and float(old.get("lease_until", 0.0)) < now)


def _claim_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"claim#{key}"}, "sk": {"S": "dispatch"}}


def _expiry(now: float) -> dict[str, str]:
    return {"N": str(int(now + RETENTION_SECONDS))}


_RACES = 3  # re-reads when another writer moved a record between our read and our write
_UNPROCESSED_ATTEMPTS = 5
_DESERIALIZE = TypeDeserializer()


def _key(record_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"record#{record_id}"}, "sk": {"S": "dispatch"}}


def _number(value: float) -> str:
    return format(float(value), ".3f")

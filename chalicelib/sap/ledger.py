"""The dispatch ledger: which records SAP holds, guarded by conditional writes.

One item per record (`pk=record#<record_id>, sk=dispatch`) in the sap-ledger table.
A dispatcher *claims* a record before sending it (a lease), and *settles* it with what
SAP answered. The states and transitions are data:

    (none) ──claim──► SENDING ──settle──► DELIVERED | REJECTED_BY_SAP   (final)
                        │  ▲ └──settle──► PENDING  (SAP definitely did not apply it)
                        │  └───claim─────────┘
                        └─ lease expires (crash) or settled IN_DOUBT ──claim──► SENDING, in doubt
    (none) | PENDING | SENDING with its lease expired ──withdraw──► WITHDRAWN   (final)

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
claimed (a new item starts PENDING).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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
    """The ledger in the sap-ledger table: one conditional UpdateItem per record and step."""

    def __init__(self, table_name: str, client: Any, *, clock: Any = time.time, workers: int = 8) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock
        self.workers = workers

    def claim_many(
        self, record_ids: Iterable[str], owner: str, lease_seconds: float, messages: dict[str, str] | None = None
    ) -> dict[str, Claim]:
        ids = list(record_ids)
        held_for = messages or {}
        return dict(zip(ids, self._parallel(lambda rid: self.claim(rid, owner, lease_seconds, held_for.get(rid)), ids)))

    def settle_many(self, settlements: Iterable[Settlement], owner: str) -> dict[str, bool]:
        items = list(settlements)
        results = self._parallel(lambda s: self.settle(s, owner), items)
        return {s.record_id: ok for s, ok in zip(items, results)}

    def claim(self, record_id: str, owner: str, lease_seconds: float, message: str | None = None) -> Claim:
        now = self.clock()
        claimable = "attribute_not_exists(pk) OR #state = :pending OR (#state = :sending AND #lease_until < :now)"
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression=(
                    "SET #state = :sending, #owner = :owner, #message = :message, #lease_until = :lease, "
                    "#updated_at = :now, #expires_at = :expires "
                    "ADD #attempts :one"
                ),
                ConditionExpression=claimable,
                ExpressionAttributeNames=_names(
                    "state", "owner", "message", "lease_until", "updated_at", "expires_at", "attempts"
                ),
                ExpressionAttributeValues={
                    ":sending": {"S": SENDING},
                    ":pending": {"S": PENDING},
                    ":owner": {"S": owner},
                    ":message": {"S": message or ""},
                    ":now": {"N": _number(now)},
                    ":lease": {"N": _number(now + lease_seconds)},
                    ":one": {"N": "1"},
                    ":expires": {"N": str(int(now + RETENTION_SECONDS))},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return _claim_from(record_id, True, _plain(response.get("Attributes", {})), now)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item") or self._get(record_id)
            return _claim_from(record_id, False, _plain(old), now)

    def settle(self, settlement: Settlement, owner: str) -> bool:
        now = self.clock()
        names = _names("state", "owner", "lease_until", "updated_at", "contact_done")
        values: dict[str, Any] = {
            ":sending": {"S": SENDING},
            ":owner": {"S": owner},
            ":zero": {"N": "0"},
            ":now": {"N": _number(now)},
            ":contact_done": {"BOOL": settlement.contact_done},
        }
        update = "SET #lease_until = :zero, #updated_at = :now, #contact_done = :contact_done"
        if settlement.outcome != IN_DOUBT:
            update += ", #state = :outcome, #reason = :reason REMOVE #owner"
            names["#reason"] = "reason"
            values[":outcome"] = {"S": settlement.outcome}
            values[":reason"] = {"S": settlement.reason or ""}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(settlement.record_id),
                UpdateExpression=update,
                ConditionExpression="#state = :sending AND #owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    def state(self, record_id: str) -> str | None:
        return _plain(self._get(record_id)).get("state")

    def withdraw_many(self, record_ids: Iterable[str], reason: str) -> dict[str, Withdrawal]:
        ids = list(record_ids)
        return dict(zip(ids, self._parallel(lambda rid: self.withdraw(rid, reason), ids)))

    def withdraw(self, record_id: str, reason: str) -> Withdrawal:
        now = self.clock()
        withdrawable = "attribute_not_exists(pk) OR #state = :pending OR (#state = :sending AND #lease_until < :now)"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression=(
                    "SET #state = :withdrawn, #reason = :reason, #lease_until = :zero, "
                    "#updated_at = :now, #expires_at = :expires REMOVE #owner"
                ),
                ConditionExpression=withdrawable,
                ExpressionAttributeNames=_names("state", "reason", "lease_until", "updated_at", "expires_at", "owner"),
                ExpressionAttributeValues={
                    ":withdrawn": {"S": WITHDRAWN},
                    ":pending": {"S": PENDING},
                    ":sending": {"S": SENDING},
                    ":reason": {"S": reason},
                    ":zero": {"N": "0"},
                    ":now": {"N": _number(now)},
                    ":expires": {"N": str(int(now + RETENTION_SECONDS))},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Withdrawal(record_id, "withdrawn")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item") or self._get(record_id)
            return _withdrawal_from(record_id, False, _plain(old), now)

    def park_many(self, record_ids: Iterable[str]) -> dict[str, float]:
        ids = list(record_ids)
        parked = dict(zip(ids, self._parallel(self.park, ids)))
        return {record_id: at for record_id, at in parked.items() if at is not None}

    def park(self, record_id: str) -> float | None:
        """Mark a dead-lettered record parked; its parked time (the first one), None if final."""
        now = self.clock()
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression=(
                    "SET #parked_at = if_not_exists(#parked_at, :now), "
                    "#state = if_not_exists(#state, :pending), "
                    "#expires_at = if_not_exists(#expires_at, :expires)"
                ),
                ConditionExpression=_NOT_FINAL,
                ExpressionAttributeNames=_names("parked_at", "state", "expires_at"),
                ExpressionAttributeValues={
                    ":now": {"N": _number(now)},
                    ":pending": {"S": PENDING},
                    ":expires": {"N": str(int(now + RETENTION_SECONDS))},
                    **_FINAL_VALUES,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return float(response["Attributes"]["parked_at"]["N"])

    def unpark_many(self, record_ids: Iterable[str]) -> set[str]:
        ids = list(record_ids)
        return {record_id for record_id, ok in zip(ids, self._parallel(self.unpark, ids)) if ok}

    def unpark(self, record_id: str) -> bool:
        """Forget a record's parked time (a replay); False if the record is final."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression="REMOVE #parked_at",
                # never create an item here: a key-only item could not be claimed
                ConditionExpression=f"attribute_exists(pk) AND ({_NOT_FINAL})",
                ExpressionAttributeNames=_names("parked_at", "state"),
                ExpressionAttributeValues=_FINAL_VALUES,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return _plain(error.response.get("Item") or {}).get("state") not in FINAL_STATES

    def reopen(self, record_id: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(record_id),
                UpdateExpression="SET #state = :pending, #updated_at = :now REMOVE #reason",
                ConditionExpression="#state = :rejected",
                ExpressionAttributeNames=_names("state", "updated_at", "reason"),
                ExpressionAttributeValues={
                    ":pending": {"S": PENDING},
                    ":rejected": {"S": REJECTED_BY_SAP},
                    ":now": {"N": _number(self.clock())},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _get(self, record_id: str) -> dict[str, Any]:
        return (
            self.client.get_item(TableName=self.table_name, Key=_key(record_id), ConsistentRead=True).get("Item") or {}
        )

    def _parallel(self, function: Any, items: list[Any]) -> list[Any]:
        if len(items) <= 1 or self.workers <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(function, items))


_NOT_FINAL = "attribute_not_exists(#state) OR NOT (#state IN (:delivered, :rejected, :withdrawn))"
_FINAL_VALUES = {":delivered": {"S": DELIVERED}, ":rejected": {"S": REJECTED_BY_SAP}, ":withdrawn": {"S": WITHDRAWN}}


def _key(record_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"record#{record_id}"}, "sk": {"S": "dispatch"}}


def _names(*names: str) -> dict[str, str]:
    return {f"#{name}": name for name in names}


def _number(value: float) -> str:
    return format(float(value), ".3f")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for name, value in item.items():
        ((kind, raw),) = value.items()
        plain[name] = float(raw) if kind == "N" else raw
    return plain

"""Dispatch one SQS batch of records to SAP: throttled, ordered per subject, exactly once.

Pure orchestration over ports (SAP client, throttle, ledger): no SQS calls here. The
result says, per record, what happened, and which messages must come back after which
delay (the handler sets their visibility timeout and returns them as batch item failures).

Order per record: the contact service `$batch` (contact upsert, email as additional ID,
permissions: one changeset per record) goes first; the interaction service `$batch`
(one changeset per record) only for records whose contact part SAP accepted.
Both services take only `$batch` requests of at most `records_per_request` changesets.

Before any of that, the run looks up the subjects of its records in the erasure tombstones
(one BatchGetItem per 100 subjects, once per run): a record of an erased subject whose
interaction happened at or before the erasure is withdrawn — never sent, its ledger item
final (`WITHDRAWN`), so no redelivery or DLQ replay sends it — and the State Keeper hears
ERASED. One SAP already held before the erasure keeps its state and is not reported again
(the erasure job emptied the contact; the State Keeper says ERASED already).

A record another message holds under a live lease (the same lead in a Graph page and a
CSV download, dispatched at once) is `HELD_ELSEWHERE`: that message settles it, and comes
back if its dispatcher dies, so this copy neither waits out the lease nor reports anything.
Only a record held for the same message (an attempt that died) waits for its lease. A
record carried twice in one run is claimed for its first message; the copy is HELD_ELSEWHERE.

A request SAP turns away for overload with a short Retry-After is sent again in the run
(`IN_RUN_RETRIES`); a message that must wait longer comes back after full-jitter backoff capped at
`RETRY_CAP_SECONDS` (never below SAP's Retry-After): with the dispatch queue's 20 receives
that rides out an SAP outage of 7.5 minutes on average (over 5.5 in 95 of 100) before
the message is parked, and a recovered SAP sees its backlog within a minute.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib import observability
from chalicelib.retries import backoff_seconds
from chalicelib.sap import ledger as ledger_states
from chalicelib.sap.batch import Changeset, Operation
from chalicelib.sap.client import ChangesetOutcome, SapGateway
from chalicelib.sap.exceptions import SapError, SapProtocolError, SapUnavailable
from chalicelib.sap.ledger import Claim, DispatchLedger, Settlement
from chalicelib.sap.metadata import CONTACT_SERVICE, INTERACTION_SERVICE
from chalicelib.sap.payloads import DispatchMessage, DispatchRecord, key_predicate
from chalicelib.sap.throttle import Throttle
from chalicelib.subjects.tombstones import SUBJECT_ERASED, Tombstones, covered

log = logging.getLogger(__name__)

# Record outcomes (what the State Keeper is told)
DELIVERED = "DELIVERED"
REJECTED_BY_SAP = "REJECTED_BY_SAP"
INVALID_FOR_SAP = "INVALID_FOR_SAP"  # failed the metadata check; never sent
WITHDRAWN = "WITHDRAWN"  # its subject was erased (a tombstone covers it); never sent
SENT_BEFORE_ERASURE = "SENT_BEFORE_ERASURE"  # tombstoned, but SAP had answered first: nothing to do
RETRYING = "RETRYING"
# another dispatcher holds the record under a live lease: its own message settles it (and
# comes back if that dispatcher dies), so this copy is done without waiting out the lease
HELD_ELSEWHERE = "HELD_ELSEWHERE"
FINAL_OUTCOMES = frozenset({DELIVERED, REJECTED_BY_SAP, INVALID_FOR_SAP, WITHDRAWN, SENT_BEFORE_ERASURE})
OVERLOAD_STATUSES = frozenset({429, 503})
RETRY_CAP_SECONDS = 60.0  # a message's wait between receives, see the module doc
# A request SAP turned away for overload (429/503, nothing applied) with a Retry-After of at
# most IN_RUN_RETRY_AFTER_SECONDS is sent again in the same run, up to IN_RUN_RETRIES times,
# once the throttle lets it: its message keeps its place instead of coming back after a
# backoff (and holding up its FIFO group meanwhile). A longer Retry-After hands it back.
IN_RUN_RETRIES = 2
IN_RUN_RETRY_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1
    group_id: str | None = None

    @classmethod
    def from_sqs(cls, record: dict[str, Any]) -> QueueMessage:
        """From a Lambda SQS event record (Chalice: `record.to_dict()`)."""
        attributes = record.get("attributes", {})
        return cls(
            message_id=record["messageId"],
            receipt_handle=record.get("receiptHandle", ""),
            body=record["body"],
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            group_id=attributes.get("MessageGroupId"),
        )


@dataclass(frozen=True)
class RecordOutcome:
    record_id: str
    subject_id: str
    message_id: str
    status: str
    reason: str | None = None  # SAP's code and message (redacted), or our validation problems
    document_id: str | None = None  # the State Keeper's document (the record id where None)

    @property
    def document(self) -> str:
        return self.document_id or self.record_id


@dataclass(frozen=True)
class MessageRetry:
    message_id: str
    receipt_handle: str
    delay_seconds: int


@dataclass
class DispatchResult:
    outcomes: list[RecordOutcome] = field(default_factory=list)
    retries: list[MessageRetry] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # message ids whose body is no DispatchMessage
    sap_requests: int = 0

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial batch response: everything that must come back (or go to the DLQ)."""
        failed = [retry.message_id for retry in self.retries] + self.malformed
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@dataclass(frozen=True)
class DispatchOptions:
    records_per_request: int = 100
    # the ledger lease must outlast the function timeout, so a live dispatcher keeps its records
    lease_seconds: float = 180.0
    # how long to wait for throttle tokens before handing records back to SQS: most of the
    # function's 60 s timeout (the rest settles the ledger and reports), since records handed
    # back return only after a backoff and meanwhile leave SAP's capacity unused
    wait_budget_seconds: float = 45.0


@dataclass
class _Work:
    record: DispatchRecord
    message_id: str
    claim: Claim
    contact_done: bool = False
    present: set[tuple[str, str, str, str]] = field(default_factory=set)  # interactions SAP already has
    outcome: str | None = None
    reason: str | None = None
    retry_after: float | None = None
    in_doubt: bool = False


class _OutOfTime(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def dispatch(
    messages: Iterable[QueueMessage],
    client: SapGateway,
    throttle: Throttle,
    ledger: DispatchLedger,
    *,
    tombstones: Tombstones | None = None,
    options: DispatchOptions | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DispatchResult:
    """`tombstones=None` skips the erasure check (the handler always passes them)."""
    run = _Run(client, throttle, ledger, options or DispatchOptions(), clock, sleep, tombstones)
    return run.dispatch(list(messages))


class _Run:
    def __init__(
        self,
        client: SapGateway,
        throttle: Throttle,
        ledger: DispatchLedger,
        options: DispatchOptions,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        tombstones: Tombstones | None = None,
    ) -> None:
        self.client, self.throttle, self.ledger, self.options = client, throttle, ledger, options
        self.tombstones = tombstones
        self.clock, self.sleep = clock, sleep
        self.deadline = clock() + options.wait_budget_seconds
        self.owner = uuid.uuid4().hex
        self.result = DispatchResult()
        self.busy_delay = 0.0  # how long another dispatcher still holds some of our records

    def dispatch(self, messages: list[QueueMessage]) -> DispatchResult:
        sendable: list[tuple[DispatchRecord, str]] = []
        for message in messages:
            try:
                records = DispatchMessage.model_validate_json(message.body).records
            except ValidationError:
                log.error("message %s is not a DispatchMessage; leaving it for the DLQ", message.message_id)
                self.result.malformed.append(message.message_id)
                continue
            for record in records:
                problems = record.problems()
                if problems:
                    self._final(record, message.message_id, INVALID_FOR_SAP, "; ".join(problems))
                else:
                    sendable.append((record, message.message_id))
        work = self._send_all(self._withdraw_erased(sendable))
        self._plan_retries(messages, work)
        return self.result

    def _withdraw_erased(self, sendable: list[tuple[DispatchRecord, str]]) -> list[tuple[DispatchRecord, str]]:
        """The records still to send; those an erasure tombstone covers are withdrawn in the ledger."""
        if self.tombstones is None or not sendable:
            return sendable
        erased_at = self.tombstones.erased_at({record.subject_id for record, _ in sendable})
        erased = [
            (record, message_id)
            for record, message_id in sendable
            if record.subject_id in erased_at and covered(record.occurred_at(), erased_at[record.subject_id])
        ]
        if not erased:
            return sendable
        withdrawals = self.ledger.withdraw_many(list(dict.fromkeys(r.record_id for r, _ in erased)), SUBJECT_ERASED)
        for record, message_id in erased:
            withdrawal = withdrawals[record.record_id]
            if withdrawal.status == "withdrawn":
                self._final(record, message_id, WITHDRAWN, SUBJECT_ERASED)
            elif withdrawal.status == "final":
                self._final(record, message_id, SENT_BEFORE_ERASURE, withdrawal.final_state)
            else:
                self.result.outcomes.append(
                    RecordOutcome(
                        record.record_id,
                        record.subject_id,
                        message_id,
                        RETRYING,
                        "held by another dispatcher",
                        document_id=record.document,
                    )
                )
                self.busy_delay = max(self.busy_delay, withdrawal.busy_until - time.time())
        log.info("%d records of erased subjects not sent", len(erased))
        withdrawn = {record.record_id for record, _ in erased}
        return [(record, message_id) for record, message_id in sendable if record.record_id not in withdrawn]

    def _send_all(self, sendable: list[tuple[DispatchRecord, str]]) -> list[_Work]:
        """Claim every record, send the claimed ones (contacts, then interactions), settle them.

        A record carried twice in this run is claimed once, for its first message; the copy
        is HELD_ELSEWHERE at once (that message settles it, or comes back with it)."""
        first: dict[str, tuple[DispatchRecord, str]] = {}
        for record, message_id in sendable:
            if record.record_id in first:
                self._final(record, message_id, HELD_ELSEWHERE, "held by another message of this run")
            else:
                first[record.record_id] = (record, message_id)
        sendable = list(first.values())
        work = self._classify(sendable, self._claim(sendable)) if sendable else []
        self._send_work(work)
        self._settle(work)
        for item in work:
            self.result.outcomes.append(
                RecordOutcome(
                    item.record.record_id,
                    item.record.subject_id,
                    item.message_id,
                    item.outcome or RETRYING,
                    item.reason,
                    document_id=item.record.document,
                )
            )
        return work

    def _claim(self, sendable: list[tuple[DispatchRecord, str]]) -> dict[str, Claim]:
        return self.ledger.claim_many(
            [record.record_id for record, _ in sendable],
            self.owner,
            self.options.lease_seconds,
            {record.record_id: message_id for record, message_id in sendable},
        )

    def _classify(self, sendable: list[tuple[DispatchRecord, str]], claims: dict[str, Claim]) -> list[_Work]:
        """The claimed records, to send; records final or held elsewhere get their outcome now."""
        work = []
        for record, message_id in sendable:
            claim = claims[record.record_id]
            if claim.status == "final":
                status = {ledger_states.DELIVERED: DELIVERED, ledger_states.WITHDRAWN: WITHDRAWN}.get(
                    claim.final_state or "", REJECTED_BY_SAP
                )
                self._final(record, message_id, status, claim.reason)
            elif claim.status == "busy" and claim.holder not in (None, message_id):
                self._final(record, message_id, HELD_ELSEWHERE, "held by another dispatcher")
            elif claim.status == "busy":  # held for this very message: an attempt that died
                self.result.outcomes.append(
                    RecordOutcome(
                        record.record_id,
                        record.subject_id,
                        message_id,
                        RETRYING,
                        "held by an earlier attempt",
                        document_id=record.document,
                    )
                )
                self.busy_delay = max(self.busy_delay, claim.busy_until - time.time())
            else:
                work.append(_Work(record, message_id, claim, contact_done=claim.contact_done))
        return work

    def _send_work(self, work: list[_Work]) -> None:
        try:
            self._reconcile([w for w in work if w.claim.in_doubt and w.record.interactions])
            self._send_contacts(
                [
                    w
                    for w in work
                    if w.outcome is None and not w.contact_done and (w.record.contact or w.record.permissions)
                ]
            )
            self._send_interactions([w for w in work if w.outcome is None])
        except _OutOfTime as out_of_time:
            for item in work:
                if item.outcome is None:
                    item.outcome, item.reason = RETRYING, "throttled: out of time to wait"
                    item.retry_after = max(item.retry_after or 0.0, out_of_time.wait)
        except SapError as error:  # authentication, protocol: nothing more to do in this run
            log.error("SAP dispatch stopped: %s", error)
            for item in work:
                if item.outcome is None:
                    item.outcome, item.reason = RETRYING, type(error).__name__

    # -- steps ---------------------------------------------------------------------------

    def _reconcile(self, in_doubt: list[_Work]) -> None:
        """Ask SAP which interactions of in-doubt records it already holds (never POST twice)."""
        if not in_doubt:
            return
        keys = [i.natural_key for w in in_doubt for i in w.record.interactions]
        for start in range(0, len(keys), 50):
            chunk = keys[start : start + 50]
            self._take_tokens(records=0, requests=max(1, len(chunk) // 10))
            try:
                found = self.client.find_interactions(INTERACTION_SERVICE, chunk)
            except SapUnavailable as error:
                self._overload(error)
                for item in in_doubt:
                    item.outcome, item.reason, item.retry_after = RETRYING, error.reason, error.retry_after
                    item.in_doubt = True
                return
            finally:
                self.result.sap_requests += 1
            for item in in_doubt:
                item.present |= {i.natural_key for i in item.record.interactions} & found
        log.info("reconciled %d in-doubt records with SAP", len(in_doubt))

    def _send_contacts(self, items: list[_Work]) -> None:
        def changeset(item: _Work) -> Changeset:
            record, operations = item.record, []
            if record.contact is not None:
                contact = record.contact
                operations.append(
                    Operation("PUT", "ContactOriginData" + key_predicate(contact.keys), contact.origin_data())
                )
                for additional in contact.additional_ids():
                    operations.append(Operation("PUT", "AdditionalIDs" + key_predicate(additional), additional))
            for permission in record.permissions:
                operations.append(
                    Operation("PUT", "MarketingPermissions" + key_predicate(permission.keys), permission.body())
                )
            return Changeset(record.record_id, tuple(operations))

        def accepted(item: _Work, _: ChangesetOutcome) -> None:
            item.contact_done = True

        self._send(CONTACT_SERVICE, items, changeset, accepted, creates=False)

    def _send_interactions(self, items: list[_Work]) -> None:
        done = [w for w in items if not [i for i in w.record.interactions if i.natural_key not in w.present]]
        for item in done:
            item.outcome = DELIVERED  # contact part accepted (or none), no interaction left to create
        pending = [w for w in items if w not in done]

        def changeset(item: _Work) -> Changeset:
            operations = tuple(
                Operation("POST", "Interactions", interaction.body())
                for interaction in item.record.interactions
                if interaction.natural_key not in item.present
            )
            return Changeset(item.record.record_id, operations)

        def accepted(item: _Work, _: ChangesetOutcome) -> None:
            item.outcome = DELIVERED

        self._send(INTERACTION_SERVICE, pending, changeset, accepted, creates=True)

    def _send(
        self,
        service: str,
        items: list[_Work],
        changeset: Callable[[_Work], Changeset],
        accepted: Callable[[_Work, ChangesetOutcome], None],
        *,
        creates: bool,
    ) -> None:
        size = self.options.records_per_request
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            for attempt in range(1 + IN_RUN_RETRIES):
                overloaded = self._send_request(service, chunk, changeset, accepted, creates=creates)
                if not overloaded or attempt == IN_RUN_RETRIES:
                    break  # what is still overloaded stays RETRYING: its message comes back
                for item in overloaded:  # sent again now, before the next request keeps the order
                    item.outcome = item.reason = item.retry_after = None
                chunk = overloaded

    def _send_request(
        self,
        service: str,
        chunk: list[_Work],
        changeset: Callable[[_Work], Changeset],
        accepted: Callable[[_Work, ChangesetOutcome], None],
        *,
        creates: bool,
    ) -> list[_Work]:
        """One `$batch` request for `chunk`; returns the items SAP turned away for overload
        with a short Retry-After (nothing applied), which the run may send again."""
        self._take_tokens(records=len(chunk), requests=1 + self._csrf_fetches_due())
        by_ref = {item.record.record_id: item for item in chunk}
        try:
            outcomes = self.client.send_batch(service, [changeset(item) for item in chunk])
        except SapUnavailable as error:
            self._overload(error)
            for item in chunk:
                item.outcome, item.reason, item.retry_after = RETRYING, error.reason, error.retry_after
                item.in_doubt = error.in_doubt and creates
            return chunk if _short_overload(error.status, error.retry_after) and not error.in_doubt else []
        except SapProtocolError as error:
            # an answer we cannot read: SAP may have applied the creates
            log.error("unreadable $batch answer from %s: %s", service, error)
            for item in chunk:
                item.outcome, item.reason, item.in_doubt = RETRYING, "unreadable SAP answer", creates
            return []
        finally:
            self.result.sap_requests += 1
        overloaded: list[_Work] = []
        overloaded_retry_after: list[float | None] = []
        for outcome in outcomes:
            item = by_ref[outcome.ref]
            if outcome.kind == "accepted":
                accepted(item, outcome)
            elif outcome.kind == "rejected":
                item.outcome = REJECTED_BY_SAP
                item.reason = redact(
                    f"{outcome.status} {outcome.code}: {outcome.message}", item.record.personal_values()
                )
            else:
                item.outcome, item.retry_after = RETRYING, outcome.retry_after
                item.reason = f"SAP answered {outcome.status} for this part"
                if outcome.status in OVERLOAD_STATUSES:
                    overloaded_retry_after.append(outcome.retry_after)
                    observability.count("SapOverloads", status=str(outcome.status))
                    if _short_overload(outcome.status, outcome.retry_after):
                        overloaded.append(item)
        if overloaded_retry_after:
            self.throttle.overloaded(max((r or 0.0) for r in overloaded_retry_after) or None)
        return overloaded

    def _take_tokens(self, *, records: int, requests: int) -> None:
        while True:
            wait = self.throttle.acquire(records=records, requests=requests)
            if wait <= 0:
                return
            if self.clock() + wait > self.deadline:
                raise _OutOfTime(wait)
            self.sleep(wait)

    def _csrf_fetches_due(self) -> int:
        """A client without a CSRF token fetches one first: that GET counts against SAP's capacity too."""
        has_token = getattr(self.client, "has_csrf_token", None)
        return 0 if has_token is None or has_token() else 1

    def _overload(self, error: SapUnavailable) -> None:
        if error.status in OVERLOAD_STATUSES:
            observability.count("SapOverloads", status=str(error.status))
            self.throttle.overloaded(error.retry_after)

    # -- bookkeeping -----------------------------------------------------------------------

    def _final(self, record: DispatchRecord, message_id: str, status: str, reason: str | None) -> None:
        self.result.outcomes.append(
            RecordOutcome(
                record.record_id, record.subject_id, message_id, status, reason or None, document_id=record.document
            )
        )

    def _settle(self, work: list[_Work]) -> dict[str, bool]:
        settlements = []
        for item in work:
            if item.outcome == DELIVERED:
                outcome = ledger_states.DELIVERED
            elif item.outcome == REJECTED_BY_SAP:
                outcome = ledger_states.REJECTED_BY_SAP
            elif item.in_doubt:
                outcome = ledger_states.IN_DOUBT
            else:
                outcome = ledger_states.PENDING
            settlements.append(
                Settlement(item.record.record_id, outcome, contact_done=item.contact_done, reason=item.reason)
            )
        return self.ledger.settle_many(settlements, self.owner)

    def _plan_retries(self, messages: list[QueueMessage], work: list[_Work]) -> None:
        retry_after: dict[str, float] = {}
        for outcome in self.result.outcomes:
            if outcome.status == RETRYING:
                retry_after.setdefault(outcome.message_id, 0.0)
        for item in work:
            if item.outcome == RETRYING:
                retry_after[item.message_id] = max(retry_after[item.message_id], item.retry_after or 0.0)
        busy = self.busy_delay
        # FIFO: once a message of a group comes back, every later message of the group does too
        blocked_groups: set[str | None] = set()
        for message in messages:
            if message.message_id in self.result.malformed:
                continue
            group = message.group_id
            if message.message_id in retry_after or (group is not None and group in blocked_groups):
                delay = backoff_seconds(
                    message.receive_count,
                    retry_after=max(retry_after.get(message.message_id, 0.0), busy),
                    cap=RETRY_CAP_SECONDS,
                )
                self.result.retries.append(MessageRetry(message.message_id, message.receipt_handle, delay))
                if group is not None:
                    blocked_groups.add(group)


def _short_overload(status: int | None, retry_after: float | None) -> bool:
    return status in OVERLOAD_STATUSES and (retry_after or 0.0) <= IN_RUN_RETRY_AFTER_SECONDS


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def redact(text: str, personal_values: list[str], limit: int = 500) -> str:
    """SAP's message without the record's personal data (SAP likes to quote the bad value)."""
    for value in sorted({v for v in personal_values if len(v) >= 2}, key=len, reverse=True):
        text = re.sub(re.escape(value), "***", text, flags=re.IGNORECASE)
    return _EMAIL.sub("***", text)[:limit]


def summary(result: DispatchResult) -> dict[str, Any]:
    """Counts per outcome (no personal data), for logs and metrics."""
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {
        "outcomes": counts,
        "retries": len(result.retries),
        "malformed": len(result.malformed),
        "sap_requests": result.sap_requests,
    }


def dumps(result: DispatchResult) -> str:
    return json.dumps(summary(result), sort_keys=True)

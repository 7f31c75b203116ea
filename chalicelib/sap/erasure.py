"""Erasure in SAP Marketing Cloud: a subject's contact origin emptied, marked obsolete, its IDs deleted.

API_MKT_CONTACT_SRV cannot delete a contact origin, its additional IDs or its marketing
permissions (all `sap:deletable="false"` in the shipped EDMX). So per subject SAP holds,
one atomic changeset of the contact service's `$batch`: PATCH `ContactOriginData` with every
personal property null, `IsObsolete` true and a change time after SAP's own; then POST
`ContactOriginDeleteAdditionalIDs`. A subject SAP answers 404 for never reached it and gets
no write (a PATCH must not create an empty contact). `verify` reads the contacts back and
requires them empty, obsolete and without additional IDs. Every request takes its tokens
from the shared throttle and is retried on 429/5xx (all are idempotent). Outcomes are per
subject and carry no personal data. The README's GDPR section gives the requests in full.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from chalicelib.retries import backoff_seconds
from chalicelib.sap.batch import Changeset, Operation
from chalicelib.sap.client import ChangesetOutcome, SapGateway
from chalicelib.sap.exceptions import SapProtocolError, SapUnavailable
from chalicelib.sap.metadata import CONTACT_SERVICE
from chalicelib.sap.outbox import CONTACT_ORIGIN
from chalicelib.sap.payloads import SapContact, key_predicate, odata_datetime
from chalicelib.sap.throttle import Throttle

log = logging.getLogger(__name__)

# Outcomes per subject (what the job report counts)
MARKED_FOR_DELETION = "MARKED_FOR_DELETION"
NOT_IN_SAP = "NOT_IN_SAP"
FAILED = "FAILED"
OUTCOMES = (MARKED_FOR_DELETION, NOT_IN_SAP, FAILED)
# Read-back outcomes per subject (what VerifyErasure counts)
VERIFIED = "VERIFIED"
NOT_CLEAN = "NOT_CLEAN"
VERIFY_OUTCOMES = (VERIFIED, NOT_CLEAN)

DELETE_ADDITIONAL_IDS = "ContactOriginDeleteAdditionalIDs"
OVERLOAD_STATUSES = frozenset({429, 503})
_NOT_PERSONAL = {"ContactOrigin", "ContactID", "OriginDataLastChgUTCDateTime", "IsConsumer"}
# Every ContactOriginData property the engine can send, except keys, timestamp and the
# consumer flag: all of them are cleared, so what we ever sent is gone whatever it was.
PERSONAL_PROPERTIES: tuple[str, ...] = tuple(
    info.alias for info in SapContact.model_fields.values() if info.alias and info.alias not in _NOT_PERSONAL
)


def contact_path(subject_id: str) -> str:
    return "ContactOriginData" + key_predicate({"ContactOrigin": CONTACT_ORIGIN, "ContactID": subject_id})


def lookup(subject_id: str) -> Changeset:
    """Does SAP hold the subject's contact origin? Reads its key and timestamp only."""
    return Changeset(
        subject_id, (Operation("GET", contact_path(subject_id) + "?$select=ContactID,OriginDataLastChgUTCDateTime"),)
    )


def readback(subject_id: str, ref: str) -> Changeset:
    """What SAP holds of the contact origin: the personal properties and the obsolete flag only."""
    return Changeset(
        ref,
        (Operation("GET", contact_path(subject_id) + "?$select=" + ",".join((*PERSONAL_PROPERTIES, "IsObsolete"))),),
    )


def additional_ids_left(subject_id: str, ref: str) -> Changeset:
    """Does the contact origin still have an additional ID? Reads the contact key only, at most one row."""
    clause = " and ".join(
        f"{name} eq '{value.replace(chr(39), chr(39) * 2)}'"
        for name, value in (("ContactOrigin", CONTACT_ORIGIN), ("ContactID", subject_id))
    )
    return Changeset(
        ref, (Operation("GET", f"AdditionalIDs?$filter={quote(clause, safe=chr(39))}&$select=ContactID&$top=1"),)
    )


def is_erased(contact: dict[str, Any]) -> bool:
    """Every personal property empty and the origin obsolete (compared here, never logged or kept)."""
    return all(contact.get(name) in (None, "") for name in PERSONAL_PROPERTIES) and contact.get("IsObsolete") is True


def erasure_body(subject_id: str, changed_at: datetime) -> dict[str, Any]:
    """The PATCH body: the keys, personal properties null, the origin obsolete, a newer change time."""
    body: dict[str, Any] = {"ContactOrigin": CONTACT_ORIGIN, "ContactID": subject_id}
    body.update({name: None for name in PERSONAL_PROPERTIES})
    body["IsObsolete"] = True
    body["OriginDataLastChgUTCDateTime"] = odata_datetime(changed_at)
    return body


def erasure(subject_id: str, changed_at: datetime) -> Changeset:
    """One changeset: the contact origin emptied and marked obsolete, its additional IDs deleted."""
    parameters = "&".join(
        f"{name}='{quote(value.replace(chr(39), chr(39) * 2), safe='')}'"
        for name, value in (("ContactID", subject_id), ("ContactOrigin", CONTACT_ORIGIN))
    )
    return Changeset(
        subject_id,
        (
            Operation("PATCH", contact_path(subject_id), erasure_body(subject_id, changed_at)),
            Operation("POST", f"{DELETE_ADDITIONAL_IDS}?{parameters}"),
        ),
    )


def change_time(sap_holds: datetime | None, now: datetime) -> datetime:
    """Now, or just after what SAP holds if that is later (SAP ignores older changes)."""
    if sap_holds is None or sap_holds < now:
        return now
    return sap_holds + timedelta(milliseconds=1)


def parse_odata_datetime(value: Any) -> datetime | None:
    """`/Date(ms)/` or `/Date(ms+0000)/` to a UTC datetime; None if absent or unreadable."""
    if not isinstance(value, str) or not value.startswith("/Date("):
        return None
    digits = value[len("/Date(") :].split(")")[0]
    for sign in ("+", "-"):
        if sign in digits[1:]:
            digits = digits[: digits.index(sign, 1)]
    try:
        return datetime.fromtimestamp(int(digits) / 1000, tz=UTC)
    except ValueError:
        return None


@dataclass
class SapErasureResult:
    """subject id -> outcome, and how many requests it took (no personal data)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    sap_requests: int = 0

    def counts(self) -> dict[str, int]:
        counted = Counter(self.outcomes.values())
        return {outcome.lower(): counted.get(outcome, 0) for outcome in OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": dict(sorted(self.outcomes.items())),
            "counts": self.counts(),
            "sap_requests": self.sap_requests,
        }


@dataclass
class SapVerification:
    """subject id -> VERIFIED or NOT_CLEAN, and how many requests it took (no value SAP returned)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    sap_requests: int = 0

    def counts(self) -> dict[str, int]:
        counted = Counter(self.outcomes.values())
        return {outcome.lower(): counted.get(outcome, 0) for outcome in VERIFY_OUTCOMES}


class SapContactEraser(Protocol):
    """The port the erasure workflow talks to; `SapErasure` is the real one."""

    def erase(self, subject_ids: Collection[str]) -> SapErasureResult: ...

    def verify(self, subject_ids: Collection[str]) -> SapVerification: ...


@dataclass(frozen=True)
class ErasureOptions:
    subjects_per_request: int = 50  # changesets per $batch
    attempts: int = 6  # per subject, for retryable answers
    base_delay: float = 2.0  # backoff base (seconds); never below Retry-After
    # how long to wait for throttle tokens in all: within the task's 15 minutes
    wait_budget_seconds: float = 600.0


class SapErasure:
    """Erases subjects' contacts through `SapGateway`, throttled, with retries."""

    def __init__(
        self,
        client: SapGateway,
        throttle: Throttle,
        *,
        options: ErasureOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.throttle = client, throttle
        self.options = options or ErasureOptions()
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep

    def erase(self, subject_ids: Collection[str]) -> SapErasureResult:
        result = SapErasureResult()
        deadline = self.monotonic() + self.options.wait_budget_seconds
        subjects = sorted(set(subject_ids))
        held: dict[str, datetime | None] = {}

        def looked_up(subject: str, outcome: ChangesetOutcome) -> None:
            held[subject] = _held_since(outcome.body)

        def refused(subject: str, outcome: ChangesetOutcome) -> None:
            result.outcomes[subject] = NOT_IN_SAP if outcome.status == 404 else FAILED
            if outcome.status != 404:
                # SAP's message may quote values: only the status and code are logged
                log.error("SAP refused an erasure: %s %s", outcome.status, outcome.code)

        size = self.options.subjects_per_request
        for subject in self._run(subjects, lookup, looked_up, refused, result, deadline, size):
            result.outcomes[subject] = FAILED
        now = self.clock()
        for subject in self._run(
            [s for s in subjects if s in held],
            lambda s: erasure(s, change_time(held[s], now)),
            lambda subject, _: result.outcomes.__setitem__(subject, MARKED_FOR_DELETION),
            refused,
            result,
            deadline,
            size,
        ):
            result.outcomes[subject] = FAILED
        counts = result.counts()
        log.info(
            "SAP erasure: %d marked for deletion, %d not in SAP, %d failed, %d requests",
            counts["marked_for_deletion"],
            counts["not_in_sap"],
            counts["failed"],
            result.sap_requests,
        )
        return result

    def verify(self, subject_ids: Collection[str]) -> SapVerification:
        """Read SAP back: VERIFIED when nothing personal is left of the subject's contact origin."""
        result = SapVerification()
        deadline = self.monotonic() + self.options.wait_budget_seconds
        subjects = sorted(set(subject_ids))
        # two retrievals per subject, side by side so they share a $batch; refs are never sent
        reads: dict[str, tuple[str, Callable[[str, str], Changeset]]] = {}
        for index, subject in enumerate(subjects):
            reads[f"contact-{index}"] = (subject, readback)
            reads[f"ids-{index}"] = (subject, additional_ids_left)
        unproven: set[str] = set()

        def read(ref: str, outcome: ChangesetOutcome) -> None:
            subject, request = reads[ref]
            if not _nothing_left(request, outcome.body):
                unproven.add(subject)

        def refused(ref: str, outcome: ChangesetOutcome) -> None:
            subject, request = reads[ref]
            if request is readback and outcome.status == 404:
                return  # SAP's deletion jobs removed the contact origin: nothing of it is left
            unproven.add(subject)
            log.error("SAP refused a read-back: %s %s", outcome.status, outcome.code)

        unanswered = self._run(
            list(reads),
            lambda ref: reads[ref][1](reads[ref][0], ref),
            read,
            refused,
            result,
            deadline,
            2 * self.options.subjects_per_request,
        )
        unproven.update(reads[ref][0] for ref in unanswered)
        result.outcomes = {subject: NOT_CLEAN if subject in unproven else VERIFIED for subject in subjects}
        counts = result.counts()
        log.info(
            "SAP read-back: %d verified, %d not clean, %d requests",
            counts["verified"],
            counts["not_clean"],
            result.sap_requests,
        )
        return result

    def _run(
        self,
        refs: list[str],
        changeset: Callable[[str], Changeset],
        accepted: Callable[[str, ChangesetOutcome], None],
        rejected: Callable[[str, ChangesetOutcome], None],
        result: SapErasureResult | SapVerification,
        deadline: float,
        size: int,
    ) -> list[str]:
        """Send `changeset(ref)` for every ref until each has an answer or attempts run out; the unanswered."""
        pending = list(refs)
        for attempt in range(1, self.options.attempts + 1):
            retry_after = 0.0
            retry: list[str] = []
            for start in range(0, len(pending), size):
                chunk = pending[start : start + size]
                if not self._take_tokens(len(chunk), deadline):
                    retry.extend(pending[start:])
                    break
                result.sap_requests += 1
                try:
                    outcomes = self.client.send_batch(CONTACT_SERVICE, [changeset(s) for s in chunk])
                except SapUnavailable as error:
                    if error.status in OVERLOAD_STATUSES:
                        self.throttle.overloaded(error.retry_after)
                    retry_after = max(retry_after, error.retry_after or 0.0)
                    retry.extend(chunk)
                    continue
                except SapProtocolError as error:  # unreadable answer: every request here is safe to repeat
                    # the error may quote the answer, and a read-back's answer holds SAP's values: type only
                    log.warning("unreadable SAP answer during erasure: %s", type(error).__name__)
                    retry.extend(chunk)
                    continue
                overloaded: list[float] = []
                for outcome in outcomes:
                    if outcome.kind == "accepted":
                        accepted(outcome.ref, outcome)
                    elif outcome.kind == "rejected":
                        rejected(outcome.ref, outcome)
                    else:
                        retry.append(outcome.ref)
                        retry_after = max(retry_after, outcome.retry_after or 0.0)
                        if outcome.status in OVERLOAD_STATUSES:
                            overloaded.append(outcome.retry_after or 0.0)
                if overloaded:
                    self.throttle.overloaded(max(overloaded) or None)
            pending = retry
            if not pending:
                return []
            if attempt < self.options.attempts:
                delay = backoff_seconds(attempt, retry_after=retry_after, base=self.options.base_delay)
                if self.monotonic() + delay > deadline:
                    break
                self.sleep(delay)
        return pending

    def _take_tokens(self, subjects: int, deadline: float) -> bool:
        """Wait for the shared throttle; False when the wait budget is spent."""
        has_token = getattr(self.client, "has_csrf_token", None)
        requests = 1 if has_token is None or has_token() else 2  # a CSRF fetch first counts too
        while True:
            wait = self.throttle.acquire(records=subjects, requests=requests)
            if wait <= 0:
                return True
            if self.monotonic() + wait > deadline:
                return False
            self.sleep(wait)


def _held_since(body: bytes) -> datetime | None:
    try:
        entity = json.loads(body)["d"]
    except (ValueError, KeyError, TypeError):
        return None
    return parse_odata_datetime(entity.get("OriginDataLastChgUTCDateTime")) if isinstance(entity, dict) else None


def _nothing_left(request: Callable[[str, str], Changeset], body: bytes) -> bool:
    """Is a read-back answer clean? Unreadable answers are not (nothing proven)."""
    try:
        answer = json.loads(body)["d"]
        if request is readback:
            return isinstance(answer, dict) and is_erased(answer)
        return isinstance(answer, dict) and answer.get("results") == []
    except (ValueError, KeyError, TypeError):
        return False


@dataclass
class InMemorySapContacts:
    """SAP's contacts as the erasure sees them: subject id -> contact origin (the in-memory twin)."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    additional_ids: dict[str, list[str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # subjects SAP refuses

    def erase(self, subject_ids: Collection[str]) -> SapErasureResult:
        result = SapErasureResult()
        for subject in sorted(set(subject_ids)):
            if subject in self.failing:
                result.outcomes[subject] = FAILED
            elif subject not in self.contacts:
                result.outcomes[subject] = NOT_IN_SAP
            else:
                self.contacts[subject].update({name: None for name in PERSONAL_PROPERTIES}, IsObsolete=True)
                self.additional_ids.pop(subject, None)
                result.outcomes[subject] = MARKED_FOR_DELETION
        return result

    def verify(self, subject_ids: Collection[str]) -> SapVerification:
        result = SapVerification()
        for subject in sorted(set(subject_ids)):
            contact = self.contacts.get(subject)
            clean = (contact is None or is_erased(contact)) and not self.additional_ids.get(subject)
            result.outcomes[subject] = VERIFIED if clean else NOT_CLEAN
        return result

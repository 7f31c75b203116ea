"""The record of anonymization runs: started by the schedule or the API, read by the API.

A run on a large lake takes minutes, far beyond API Gateway's 29 s, so `POST
/gdpr/anonymization-runs` only records a RUNNING run and hands it to the
`gdpr_anonymization_run` function (an asynchronous Lambda invoke); the caller follows
`GET /gdpr/anonymization-runs/{run_id}` until it is DONE (with its report: counts, never
values) or FAILED (with the error's type).

Items (config table): `gdpr-anonymization-runs` / `{run_id}`. A run id starts with its
start time, so one Query newest first lists the recent runs; a run or two a day.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.anonymization.exceptions import InvalidRunTransition, UnknownAnonymizationRun

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED = "RUNNING", "DONE", "FAILED"
RUN_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
_PARTITION = "gdpr-anonymization-runs"


def new_run_id(now: datetime) -> str:
    """Its start time to the microsecond first, so ids sort as the runs started."""
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"


@dataclass
class AnonymizationRunRecord:
    run_id: str
    status: str
    dry_run: bool
    trigger: str  # "schedule" or "api"
    started_at: str
    finished_at: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return {**asdict(self), "links": {"self": f"/gdpr/anonymization-runs/{self.run_id}"}}


class AnonymizationRuns(Protocol):
    def create(self, dry_run: bool, trigger: str) -> AnonymizationRunRecord: ...

    def get(self, run_id: str) -> AnonymizationRunRecord: ...

    def finish(self, run_id: str, report: dict[str, Any] | None = None, error: str | None = None) -> None: ...

    def recent(self, limit: int) -> list[AnonymizationRunRecord]: ...


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise UnknownAnonymizationRun("no anonymization run with this id")
    return run_id


def run_recorded(runs: AnonymizationRuns, run_id: str, run: Callable[[bool], dict[str, Any]]) -> AnonymizationRunRecord:
    """Carry out a recorded run once and record how it ended (a failure by its error's type).

    A run that is not RUNNING any more (a repeated invoke) is left as it is. A failed run
    is not retried here: every run is idempotent, and the next one takes up what is due.
    """
    record = runs.get(run_id)
    if record.status != RUNNING:
        return record
    try:
        report = run(record.dry_run)
    except Exception as error:  # noqa: BLE001 - recorded for the operator; the message may quote data, so its type only
        log.error("anonymization run %s failed with %s", run_id, type(error).__name__)
        runs.finish(run_id, error=type(error).__name__)
    else:
        runs.finish(run_id, report=report)
    return runs.get(run_id)


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryAnonymizationRuns:
    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self.runs: dict[str, AnonymizationRunRecord] = {}
        self.clock = clock

    def create(self, dry_run: bool, trigger: str) -> AnonymizationRunRecord:
        now = self.clock()
        record = AnonymizationRunRecord(new_run_id(now), RUNNING, dry_run, trigger, now.isoformat())
        self.runs[record.run_id] = record
        return record

    def get(self, run_id: str) -> AnonymizationRunRecord:
        if check_run_id(run_id) not in self.runs:
            raise UnknownAnonymizationRun("no anonymization run with this id")
        return self.runs[run_id]

    def finish(self, run_id: str, report: dict[str, Any] | None = None, error: str | None = None) -> None:
        record = self.get(run_id)
        if record.status != RUNNING:
            raise InvalidRunTransition(f"run {run_id} is {record.status} already")
        record.status, record.error = (FAILED, error) if error else (DONE, None)
        record.report, record.finished_at = report or {}, self.clock().isoformat()

    def recent(self, limit: int) -> list[AnonymizationRunRecord]:
        return [self.runs[run_id] for run_id in sorted(self.runs, reverse=True)[:limit]]


class DynamoAnonymizationRuns:
    def __init__(self, table_name: str, client: Any, clock: Callable[[], datetime] = _now) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock

    @staticmethod
    def _key(run_id: str) -> dict[str, Any]:
        return {"pk": {"S": _PARTITION}, "sk": {"S": run_id}}

    def create(self, dry_run: bool, trigger: str) -> AnonymizationRunRecord:
        now = self.clock()
        record = AnonymizationRunRecord(new_run_id(now), RUNNING, dry_run, trigger, now.isoformat())
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **self._key(record.run_id),
                "status": {"S": RUNNING},
                "dry_run": {"BOOL": dry_run},
                "trigger": {"S": trigger},
                "started_at": {"S": record.started_at},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return record

    def get(self, run_id: str) -> AnonymizationRunRecord:
        item = self.client.get_item(
            TableName=self.table_name, Key=self._key(check_run_id(run_id)), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise UnknownAnonymizationRun("no anonymization run with this id")
        return _record(item)

    def finish(self, run_id: str, report: dict[str, Any] | None = None, error: str | None = None) -> None:
        values: dict[str, Any] = {
            ":status": {"S": FAILED if error else DONE},
            ":running": {"S": RUNNING},
            ":finished": {"S": self.clock().isoformat()},
            ":report": {"S": json.dumps(report or {}, sort_keys=True, default=str)},
        }
        names = {"#status": "status"}
        update = "SET #status = :status, finished_at = :finished, report = :report"
        if error:
            update += ", #error = :error"
            names["#error"], values[":error"] = "error", {"S": error}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(check_run_id(run_id)),
                UpdateExpression=update,
                ConditionExpression="#status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException as error_:
            raise InvalidRunTransition(f"run {run_id} is not RUNNING") from error_

    def recent(self, limit: int) -> list[AnonymizationRunRecord]:
        items = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": _PARTITION}},
            ScanIndexForward=False,
            Limit=limit,
        ).get("Items", [])
        return [_record(item) for item in items]


def _record(item: dict[str, Any]) -> AnonymizationRunRecord:
    return AnonymizationRunRecord(
        run_id=item["sk"]["S"],
        status=item["status"]["S"],
        dry_run=item["dry_run"]["BOOL"],
        trigger=item["trigger"]["S"],
        started_at=item["started_at"]["S"],
        finished_at=item.get("finished_at", {}).get("S"),
        report=json.loads(item["report"]["S"]) if "report" in item else {},
        error=item.get("error", {}).get("S"),
    )

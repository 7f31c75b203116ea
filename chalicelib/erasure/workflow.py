"""The erasure workflow's task bodies, bound to their dependencies.

Each method is the whole body of one Step Functions task (`state_machine.TASK_FUNCTIONS`):
`app.py`'s `@app.lambda_function`s call `wiring.erasure_workflow().find(event, context)`
and so on (`erase_in_sap` erases the subjects' contacts in SAP Marketing Cloud).
The state passed between tasks carries ids, counts and the measured usage;
the found objects and each chunk's results live under `gdpr/jobs/{job_id}/` in the
work bucket (no personal data: keys, counts, pseudonymous ids).

The first find round writes the job's erasure tombstones before it scans
(`subjects/tombstones.py`): from then on normalize and dispatch drop the subjects' earlier
records, and after `settle_seconds` (a function timeout: a run that read the tombstones
just before may still be writing) everything written before is in what the scan sees.
Written later (e.g. in ForgetSubjects), a chunk normalized between the scan and the
tombstones would reach the lake unseen by the job and by its verification.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from chalicelib import observability
from chalicelib.erasure.cost import JobUsage, erasure_transitions
from chalicelib.erasure.exceptions import InvalidTransition, JobNotRunning
from chalicelib.erasure.find_objects import find_objects
from chalicelib.erasure.forget_subjects import SubjectTraces, erase_from_quarantine
from chalicelib.erasure.report_job import job_report, mail_text, request_reports
from chalicelib.erasure.requests import (
    DONE,
    FAILED,
    JOB_CANCELLED,
    JOB_DONE,
    JOB_FAILED,
    JOB_RUNNING,
    PENDING,
    ErasureRequests,
    JobLock,
    batch_pending_requests,
    new_job_id,
)
from chalicelib.erasure.verify_erasure import verify_erasure
from chalicelib.lake_access.catalog import LakeTable
from chalicelib.lake_access.object_store import ObjectStore
from chalicelib.lake_access.query_engine import QueryEngine
from chalicelib.lake_access.rewrite_object import SubjectOf, rewrite_without_subjects
from chalicelib.mail import Mailer
from chalicelib.sap.erasure import MARKED_FOR_DELETION, NOT_CLEAN, SapContactEraser
from chalicelib.sap.exceptions import SapErasureIncomplete
from chalicelib.subjects.tombstones import Tombstones

JOBS_PREFIX = "gdpr/jobs/"


@dataclass
class ErasureWorkflow:
    requests: ErasureRequests
    engine: QueryEngine
    object_store: Callable[[], ObjectStore]  # a fresh store per task, so its request counts are the task's
    table: LakeTable
    raw_bucket: str
    quarantine_bucket: str
    work_bucket: str
    subject_of_for: Callable[[str, str], SubjectOf]  # (bucket, key) -> how to tell a raw record's subject
    traces: SubjectTraces
    mailer: Mailer
    sap: Callable[[], SapContactEraser]  # built when the SAP task runs (its credentials are a secret)
    tombstones: Tombstones
    app: str = "data-engine"
    stage: str = "local"
    chunk_size: int = 50
    verify_scope: Literal["found", "full"] = "found"
    settle_seconds: float = 0.0  # wait after writing the tombstones, before the first scan
    sleep: Callable[[float], None] = time.sleep

    # -- the tasks ----------------------------------------------------------------------

    def find(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        round_ = int(event.get("round", 0)) + 1
        usage = self._usage(event)
        if round_ == 1:
            buried = self.tombstones.bury(job.subject_ids, datetime.now(UTC), job.job_id)
            usage.dynamodb_writes += buried
            if self.settle_seconds > 0:
                self.sleep(self.settle_seconds)
        found_at = datetime.now(UTC).isoformat()
        found = find_objects(self.engine, self.table, job.subject_ids, raw_bucket=self.raw_bucket)
        items = [{"bucket": self.table.bucket, "key": k, "kind": "lake"} for k in found.lake_keys] + [
            {"bucket": self.raw_bucket, "key": k, "kind": "raw"} for k in found.raw_keys
        ]
        chunks = [items[i : i + self.chunk_size] for i in range(0, len(items), self.chunk_size)]
        self._put_json(
            store,
            job.job_id,
            f"round-{round_}/manifest.json",
            {"found_at": found_at, "lake_keys": found.lake_keys, "raw_keys": found.raw_keys, "chunks": chunks},
        )
        usage.query_bytes.extend(
            [found.bytes_scanned] if found.queries == 1 else [found.bytes_scanned // found.queries] * found.queries
        )
        self._account(usage, store, started, context)
        return {
            "job_id": job.job_id,
            "round": round_,
            "chunks": list(range(len(chunks))),
            "found": {"lake": len(found.lake_keys), "raw": len(found.raw_keys), "bytes_scanned": found.bytes_scanned},
            "chunks_total": int(event.get("chunks_total", 0)) + len(chunks),
            "usage": usage.as_dict(),
        }

    def rewrite(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        round_, chunk = int(event["round"]), int(event["chunk"])
        manifest = self._get_json(store, job.job_id, f"round-{round_}/manifest.json")
        results = []
        for item in manifest["chunks"][chunk]:
            if self.requests.get_job(job.job_id).status == JOB_CANCELLED:
                break  # cancelled: stop between objects, each one original or fully rewritten
            raw = item["kind"] != "lake"
            rewrite = rewrite_without_subjects(
                store,
                item["bucket"],
                item["key"],
                job.subject_ids,
                subject_of=self.subject_of_for(item["bucket"], item["key"]) if raw else None,
                subject_column=self.table.subject_column,
                expect_hits=True,
                found_at=manifest["found_at"],
                key_column=self.table.subject_key_column,
            )
            results.append(rewrite.as_dict())
        self._put_json(store, job.job_id, f"round-{round_}/chunk-{chunk:05d}.json", results)
        usage = JobUsage()
        self._account(usage, store, started, context)
        return {
            "objects": len(results),
            "rows_removed": sum(r["rows_removed"] for r in results),
            "usage": usage.as_dict(),
        }

    def forget(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        round_ = int(event["round"])
        usage = self._usage(event)
        for chunk_result in event.get("rewrites", []):
            usage.add(JobUsage.from_dict(chunk_result["usage"]))
        forgotten = self.traces.forget(job.subject_ids)
        quarantine = erase_from_quarantine(store, self.quarantine_bucket, job.subject_ids, self.subject_of_for)
        self._put_json(
            store,
            job.job_id,
            f"round-{round_}/forget.json",
            {
                "state_keeper": forgotten,
                "quarantine": [r.as_dict() for r in quarantine.rewrites],
                "quarantine_objects_read": quarantine.objects_read,
                "quarantine_unreadable": quarantine.unreadable,
            },
        )
        self._account(usage, store, started, context)
        state = {k: v for k, v in event.items() if k != "rewrites"}
        state["forgotten"] = {
            "state_keeper": sum(forgotten.values()),
            "quarantine_objects": len(quarantine.rewrites),
            "quarantine_unreadable": len(quarantine.unreadable),
        }
        state["usage"] = usage.as_dict()
        return state

    def erase_in_sap(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The subjects' contacts in SAP emptied and marked for deletion (`chalicelib/sap/erasure.py`).

        Once per job; a retried task finds `sap.json` and sends nothing again. In a later
        verify round, the subjects the previous round read back not clean (SAP holding
        data again, e.g. a contact merged or edited in between) are erased once more
        (`round-N/sap-again.json`). Raises `SapErasureIncomplete` (the job fails) when a
        subject could not be erased after retries; the counts are stored first, so the
        report shows them.
        """
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        usage = self._usage(event)
        erased = self._stored_json(store, job.job_id, "sap.json")
        if erased is None:
            erased = self.sap().erase(job.subject_ids).as_dict()
            self._put_json(store, job.job_id, "sap.json", erased)
        again = self._erase_again_in_sap(store, job.job_id, int(event.get("round", 1)))
        self._account(usage, store, started, context)
        for result, what in ((erased, "erased"), (again, "erased again")):
            if result and result["counts"]["failed"]:
                raise SapErasureIncomplete(
                    f"{result['counts']['failed']} of {len(result['outcomes'])} subjects could not be {what} in SAP"
                )
        return {**event, "sap": erased["counts"], "usage": usage.as_dict()}

    def _erase_again_in_sap(self, store: ObjectStore, job_id: str, round_: int) -> dict[str, Any] | None:
        """Erase again the subjects the previous round's read-back of SAP found not clean."""
        if round_ <= 1:
            return None
        done = self._stored_json(store, job_id, f"round-{round_}/sap-again.json")
        if done is not None:
            return done
        previous = self._stored_json(store, job_id, f"round-{round_ - 1}/sap-verify.json") or {}
        not_clean = sorted(previous.get("not_clean", []))
        if not not_clean:
            return None
        again = self.sap().erase(not_clean).as_dict()
        self._put_json(store, job_id, f"round-{round_}/sap-again.json", again)
        return again

    def verify(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        round_ = int(event["round"])
        manifest = self._get_json(store, job.job_id, f"round-{round_}/manifest.json")
        forget = self._get_json(store, job.job_id, f"round-{round_}/forget.json")
        verification = verify_erasure(
            self.engine,
            self.table,
            store,
            job.subject_ids,
            found_lake_keys=manifest["lake_keys"],
            raw_bucket=self.raw_bucket,
            raw_keys=manifest["raw_keys"],
            quarantine_bucket=self.quarantine_bucket,
            quarantine_keys=[r["key"] for r in forget["quarantine"]],
            subject_of_for=self.subject_of_for,
            state_keeper_hits=lambda: self.traces.count(job.subject_ids),
            scope=self.verify_scope,
        )
        verification.sap_verified, verification.sap_not_clean = self._verify_in_sap(store, job.job_id, round_)
        usage = self._usage(event)
        if verification.queries:
            usage.query_bytes.append(verification.bytes_scanned)
        self._account(usage, store, started, context)
        return {**event, "verify": verification.as_dict(), "usage": usage.as_dict()}

    def _verify_in_sap(self, store: ObjectStore, job_id: str, round_: int) -> tuple[int, int]:
        """(verified, not clean) of the subjects EraseInSap marked for deletion, read back from
        SAP; the subjects not clean are kept (`round-N/sap-verify.json`) for the next round."""
        erased = self._stored_json(store, job_id, "sap.json")
        if erased is None:
            return 0, 0
        marked = [subject for subject, outcome in erased["outcomes"].items() if outcome == MARKED_FOR_DELETION]
        if not marked:
            return 0, 0
        verification = self.sap().verify(marked)
        not_clean = sorted(s for s, outcome in verification.outcomes.items() if outcome == NOT_CLEAN)
        self._put_json(store, job_id, f"round-{round_}/sap-verify.json", {"not_clean": not_clean})
        counts = verification.counts()
        return counts["verified"], counts["not_clean"]

    def report(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started, store = time.monotonic(), self.object_store()
        job = self.requests.get_job(event["job_id"])
        failed = bool(event.get("failed"))
        error = (
            _error_summary(event["error"])
            if event.get("error")
            else ("traces remain after the last verification round" if failed else None)
        )
        rounds = int(event.get("round", 0))
        object_results: list[dict[str, Any]] = []
        state_keeper: dict[str, int] = {}
        sap: dict[str, Any] | None = None
        erased_again = 0
        for info in list(store.list(self.work_bucket, f"{JOBS_PREFIX}{job.job_id}/")):
            name = info.key.rsplit("/", 1)[-1]
            if name == "sap.json":
                sap = json.loads(store.get(self.work_bucket, info.key).body)
            elif name == "sap-again.json":
                erased_again += json.loads(store.get(self.work_bucket, info.key).body)["counts"]["marked_for_deletion"]
            elif name.startswith("chunk-"):
                object_results.extend(json.loads(store.get(self.work_bucket, info.key).body))
            elif name == "forget.json":
                forget = json.loads(store.get(self.work_bucket, info.key).body)
                object_results.extend(forget["quarantine"])
                for subject, count in forget["state_keeper"].items():
                    state_keeper[subject] = state_keeper.get(subject, 0) + count
        usage = self._usage(event)
        usage.transitions += erasure_transitions(int(event.get("chunks_total", 0)), max(1, rounds))
        usage.mails += 1
        usage.dynamodb_writes += 2 * len(job.request_ids) + 2
        self._account(usage, store, started, context)
        verification = event.get("verify", {"clean": False, "lake_query": "not run"})
        subjects = {rid: self.requests.get(rid).subject_id for rid in job.request_ids}
        reports = request_reports(
            job,
            subjects,
            object_results,
            state_keeper,
            verification,
            usage,
            failed,
            error,
            sap_outcomes=sap["outcomes"] if sap else None,
        )
        summary = job_report(
            job,
            object_results,
            verification,
            usage,
            failed,
            error,
            rounds,
            sap_counts={**sap["counts"], "erased_again": erased_again} if sap else None,
        )
        self._put_json(store, job.job_id, "report.json", {"job": summary, "requests": reports})
        for request_id, report in reports.items():
            self.requests.move(request_id, FAILED if failed else DONE, report=report)
        self.requests.finish_job(job.job_id, JOB_FAILED if failed else JOB_DONE, summary)
        subject, body = mail_text(summary, self.app, self.stage)
        self.mailer.send(subject, body)
        observability.count("ErasureRequestsFinished", len(job.request_ids), status=summary["status"])
        observability.gauge("ErasureJobCostUsd", summary["cost_usd"]["total"])
        observability.gauge("ErasureCostPerRequestUsd", summary["cost_usd_per_request"])
        return {
            "job_id": job.job_id,
            "status": summary["status"],
            "objects_rewritten": summary["objects_rewritten"],
            "rows_removed": summary["rows_removed"],
            "cost_usd_per_request": summary["cost_usd_per_request"],
        }

    def cancel(self, job_id: str, sfn: Any, state_machine_arn: str) -> dict[str, Any]:
        """Stop a running job between objects; its requests wait for the next job.

        The job is marked CANCELLED first: a rewrite task checks that before each object,
        so it stops between objects (an object is rewritten with one PUT: either original
        or fully rewritten). Then the execution is stopped, the requests go back to
        PENDING, and the answer says what was done so far (kept as `cancel.json`). The
        tombstones stay: the subjects still asked to be erased, and the next job erases them.
        """
        job = self.requests.get_job(job_id)
        if job.status != JOB_RUNNING:
            raise JobNotRunning(f"erasure job {job_id} is {job.status}, not running")
        cancelled_at = datetime.now(UTC).isoformat()
        try:
            self.requests.finish_job(job_id, JOB_CANCELLED, {"status": JOB_CANCELLED, "cancelled_at": cancelled_at})
        except InvalidTransition as error:
            raise JobNotRunning(f"erasure job {job_id} finished meanwhile") from error
        with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):  # it never started
            sfn.stop_execution(
                executionArn=execution_arn(state_machine_arn, job_id),
                error="Cancelled",
                cause="cancelled through the API",
            )
        requeued = []
        for request_id in job.request_ids:
            try:
                self.requests.move(request_id, PENDING)
            except InvalidTransition:
                continue  # already final or moved by someone else
            requeued.append(request_id)
        done = self._done_so_far(job_id)
        report = {
            "job_id": job_id,
            "status": JOB_CANCELLED,
            "cancelled_at": cancelled_at,
            "requests_pending_again": requeued,
            **done,
        }
        self._put_json(self.object_store(), job_id, "cancel.json", report)
        return report

    def _done_so_far(self, job_id: str) -> dict[str, Any]:
        """Objects rewritten and the steps done, from the job's files in the work bucket."""
        store = self.object_store()
        rewritten = rows = chunks_done = 0
        steps: set[str] = set()
        for info in list(store.list(self.work_bucket, f"{JOBS_PREFIX}{job_id}/")):
            name = info.key.rsplit("/", 1)[-1]
            if name.startswith("chunk-"):
                chunks_done += 1
                results = json.loads(store.get(self.work_bucket, info.key).body)
                rewritten += sum(1 for r in results if r.get("rewritten"))
                rows += sum(int(r.get("rows_removed", 0)) for r in results)
            elif name in ("manifest.json", "forget.json", "sap.json"):
                steps.add(name.removesuffix(".json"))
        return {
            "objects_rewritten": rewritten,
            "rows_removed": rows,
            "chunks_done": chunks_done,
            "found": "manifest" in steps,
            "state_keeper_and_quarantine_forgotten": "forget" in steps,
            "erased_in_sap": "sap" in steps,
            "note": "a rewrite running at the cancel finishes the object at hand and stops; every object is "
            "either original or fully rewritten",
        }

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _usage(event: dict[str, Any]) -> JobUsage:
        return JobUsage.from_dict(event["usage"]) if event.get("usage") else JobUsage()

    @staticmethod
    def _account(usage: JobUsage, store: ObjectStore, started: float, context: Any) -> None:
        """Add this task's S3 requests and Lambda time (GB-s at the function's memory)."""
        usage.s3_get += store.counts.get
        usage.s3_put += store.counts.put
        usage.s3_list += store.counts.list
        usage.s3_delete += store.counts.delete
        memory_mb = int(getattr(context, "memory_limit_in_mb", 1024) or 1024)
        usage.lambda_invocations += 1
        usage.lambda_gb_seconds += (time.monotonic() - started) * memory_mb / 1024

    def _put_json(self, store: ObjectStore, job_id: str, name: str, value: Any) -> None:
        store.put(self.work_bucket, f"{JOBS_PREFIX}{job_id}/{name}", json.dumps(value, sort_keys=True).encode())

    def _get_json(self, store: ObjectStore, job_id: str, name: str) -> Any:
        return json.loads(store.get(self.work_bucket, f"{JOBS_PREFIX}{job_id}/{name}").body)

    def _stored_json(self, store: ObjectStore, job_id: str, name: str) -> Any:
        """The job's file `name`, or None when there is none (yet)."""
        key = f"{JOBS_PREFIX}{job_id}/{name}"
        if not any(info.key == key for info in store.list(self.work_bucket, key)):
            return None
        return json.loads(store.get(self.work_bucket, key).body)


def _error_summary(error: dict[str, Any]) -> str:
    """`Error: message` of a Step Functions error, without the stack trace."""
    name = str(error.get("Error", "Error"))
    try:
        message = json.loads(error.get("Cause", "{}")).get("errorMessage", "")
    except (ValueError, AttributeError):
        message = ""
    return f"{name}: {message}"[:1000]


def start_erasure_job(
    requests: ErasureRequests,
    sfn: Any,
    state_machine_arn: str,
    max_requests: int = 100,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Batch the pending requests into one job and start its execution (named after the job).

    One job runs at a time: the job lock (config table) is taken before anything is
    batched and released when the job ends (`finish_job`). While another job holds it and
    its execution runs, nothing is batched and the answer names that job (`running_job`;
    the API answers 409). A hold whose execution ended without reporting (aborted, timed
    out) is taken over; one whose execution is not there yet is left alone for
    `LOCK_GRACE` (it is being started).
    """
    job_id = new_job_id()
    held = requests.job_lock()
    if held is not None and _holds(sfn, state_machine_arn, held, now()):
        return {"started": False, "requests": 0, "running_job": held.job_id}
    if not requests.take_job_lock(job_id, replacing=held.job_id if held else None):
        current = requests.job_lock()
        return {"started": False, "requests": 0, "running_job": current.job_id if current else job_id}
    job = batch_pending_requests(requests, max_requests, job_id=job_id)
    if job is None:
        requests.release_job_lock(job_id)
        return {"started": False, "requests": 0}
    try:
        execution = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=job.job_id, input=json.dumps({"job_id": job.job_id})
        )
    except Exception:
        for request_id in job.request_ids:  # back in the queue for the next batch
            requests.move(request_id, PENDING)
        requests.finish_job(job.job_id, JOB_FAILED, {"error": "the execution could not start"})
        raise
    return {
        "started": True,
        "job_id": job.job_id,
        "requests": len(job.request_ids),
        "execution_arn": execution["executionArn"],
    }


LOCK_GRACE = timedelta(minutes=2)


def execution_arn(state_machine_arn: str, job_id: str) -> str:
    """The ARN of a job's execution (executions are named after their jobs)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"


def _holds(sfn: Any, state_machine_arn: str, held: JobLock, now: datetime) -> bool:
    """Whether the lock's job still runs (or is being started)."""
    try:
        status = sfn.describe_execution(executionArn=execution_arn(state_machine_arn, held.job_id))["status"]
    except sfn.exceptions.ExecutionDoesNotExist:
        return now - held.since < LOCK_GRACE
    return bool(status == "RUNNING")

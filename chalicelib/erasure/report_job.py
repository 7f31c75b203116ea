"""The reports of an erasure job: one per request, one per job, and the mail to operations.

Reports list objects and counts — bucket, key, rows removed — and the measured cost;
never a record's content. Subject ids appear only in the request's own report (the
requester's pseudonymous id); the job report and the mail name request ids only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib.erasure.cost import JobUsage, cost_per_request, job_cost
from chalicelib.erasure.requests import ErasureJob

MAX_OBJECTS_LISTED = 200  # per request in the stored report; the full list is in the work bucket


def request_reports(
    job: ErasureJob,
    subject_of_request: dict[str, str],
    object_results: Iterable[dict[str, Any]],
    state_keeper: dict[str, int],
    verification: dict[str, Any],
    usage: JobUsage,
    failed: bool,
    error: str | None = None,
    sap_outcomes: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """request id -> its report; `sap_outcomes`: subject id -> what SAP answered (None: not run)."""
    per_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in object_results:
        for subject, rows in result.get("removed_by_subject", {}).items():
            if rows:
                per_subject[subject].append({"bucket": result["bucket"], "key": result["key"], "rows_removed": rows})
    costs = job_cost(usage)
    per_request = cost_per_request(usage, max(1, len(job.request_ids)))
    finished = datetime.now(UTC).isoformat()
    reports = {}
    for request_id in job.request_ids:
        subject = subject_of_request[request_id]
        objects = sorted(per_subject.get(subject, []), key=lambda o: (o["bucket"], o["key"]))
        reports[request_id] = {
            "job_id": job.job_id,
            "status": "FAILED" if failed else "DONE",
            "error": error,
            "objects_rewritten": len(objects),
            "rows_removed": sum(o["rows_removed"] for o in objects),
            "objects": objects[:MAX_OBJECTS_LISTED],
            "objects_truncated": len(objects) > MAX_OBJECTS_LISTED,
            "state_keeper_records_forgotten": state_keeper.get(subject, 0),
            "sap": (sap_outcomes or {}).get(subject, "NOT_RUN"),
            "verification": verification,
            "cost_usd": {
                "request": round(per_request, 6),
                "job_total": round(costs["total"], 6),
                "requests_in_job": len(job.request_ids),
            },
            "bytes_scanned": sum(usage.query_bytes),
            "finished_at": finished,
        }
    return reports


def job_report(
    job: ErasureJob,
    object_results: list[dict[str, Any]],
    verification: dict[str, Any],
    usage: JobUsage,
    failed: bool,
    error: str | None = None,
    rounds: int = 1,
    sap_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The job's summary; `sap_counts`: subjects marked for deletion / not in SAP / failed there."""
    rewritten = [r for r in object_results if r.get("rewritten")]
    return {
        "job_id": job.job_id,
        "status": "FAILED" if failed else "DONE",
        "error": error,
        "requests": len(job.request_ids),
        "request_ids": job.request_ids,
        "objects_rewritten": len(rewritten),
        "rows_removed": sum(r.get("rows_removed", 0) for r in object_results),
        "old_versions_deleted": sum(1 for r in rewritten if r.get("old_version_deleted")),
        "rounds": rounds,
        "sap": sap_counts or {"not_run": True},
        "verification": verification,
        "usage": usage.as_dict(),
        "cost_usd": {k: round(v, 6) for k, v in job_cost(usage).items()},
        "cost_usd_per_request": round(cost_per_request(usage, max(1, len(job.request_ids))), 6),
    }


def mail_text(report: dict[str, Any], app: str, stage: str) -> tuple[str, str]:
    """(subject, body) of the job's mail to business operations."""
    outcome = "done" if report["status"] == "DONE" else "FAILED"
    lines = [
        f"GDPR erasure job {report['job_id']}: {outcome}",
        f"Requests: {report['requests']} ({', '.join(report['request_ids'])})",
        f"Objects rewritten: {report['objects_rewritten']}, rows removed: {report['rows_removed']}",
        _sap_line(report.get("sap") or {}),
        f"Verification: {'no trace found' if report['verification'].get('clean') else 'traces remain or not run'}",
        f"Bytes scanned: {sum(report['usage']['query_bytes'])}",
        f"AWS cost: ${report['cost_usd']['total']:.6f} for the job, ${report['cost_usd_per_request']:.6f} per request",
    ]
    if report.get("error"):
        lines.append(f"Error: {report['error']}")
    lines.append("Each request's report: GET /gdpr/erasure-requests/{id}")
    return f"[{app} {stage}] GDPR erasure job {report['job_id']} {outcome}", "\n".join(lines)


def _sap_line(sap: dict[str, Any]) -> str:
    if "marked_for_deletion" not in sap:
        return "SAP: not run"
    again = f", {sap['erased_again']} erased again after a verification" if sap.get("erased_again") else ""
    return (
        f"SAP: {sap['marked_for_deletion']} contacts marked for deletion, {sap['not_in_sap']} not in SAP, "
        f"{sap['failed']} failed{again}"
    )

"""The daily summary mail: the last 24 whole hours of the engine in figures.

Records entering each state per source (the hourly counters), rejects by reason code,
documents stuck in flight, queue and dead-letter depths, SAP throttle changes and overload
answers, GDPR erasure jobs with their cost, and the incidents still open. Counts and ids
only (document, job and queue ids, reason codes): never a personal value, never a subject.
Plain text and a simple HTML part, sent through SES to the stage's summary recipients.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chalicelib.erasure.exceptions import UnknownErasureRequest
from chalicelib.erasure.requests import ErasureRequests
from chalicelib.erasure.workflow import JOBS_PREFIX
from chalicelib.lake_access.object_store import ObjectStore
from chalicelib.mail import HtmlMailer
from chalicelib.operations import queue_depths, stuck_documents
from chalicelib.operations.incidents import IncidentBook, Status
from chalicelib.resources import Resources
from chalicelib.sap.throttle import ThrottleEvents, ThrottleSettings
from chalicelib.state_keeper.lifecycle import RANK, State, epoch_millis
from chalicelib.state_keeper.statistics import summarize
from chalicelib.state_keeper.store import StateStore

PERIOD = timedelta(hours=24)
REJECTED_STATES = (State.INVALID, State.REJECTED_BY_SAP)
# documents read per state for the reasons and the stuck ones: a bound on the run's time
EXAMINED_CAP = 10_000
IDS_SHOWN = 20
PENDING_CAP = 1000


class ThrottleLog(Protocol):
    def settings(self) -> ThrottleSettings: ...

    def effective_rate(self) -> tuple[float, float]: ...

    def events(self, since: float, until: float) -> ThrottleEvents: ...


@dataclass
class SummarySources:
    """Where the figures come from (wiring builds the real ones; tests may pass twins)."""

    resources: Resources
    store: StateStore
    sqs: Any
    throttle: ThrottleLog
    erasure_requests: ErasureRequests
    objects: ObjectStore
    incidents: IncidentBook


def period_ending(now: datetime) -> tuple[datetime, datetime]:
    """The 24 whole UTC hours before `now`'s hour: a summary at 06:05 covers 06:00 to 06:00."""
    until = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return until - PERIOD, until


def gather(sources: SummarySources, now: datetime) -> dict[str, Any]:
    """Every figure of the summary, JSON-ready."""
    since, until = period_ending(now)
    declared = sources.resources
    threshold = timedelta(minutes=declared.alerting.stuck_after_minutes)
    return {
        "stage": declared.stage,
        "since": _iso(since),
        "until": _iso(until),
        "records": records_per_state(sources.store, since, until),
        "rejects": rejects_by_reason(sources.store, since, until),
        "stuck": {
            "older_than_minutes": declared.alerting.stuck_after_minutes,
            "states": [
                {"state": s.state.value, "documents": s.documents, "at_least": s.at_least, "ids": s.document_ids}
                for s in stuck_documents(sources.store, now, threshold, EXAMINED_CAP, IDS_SHOWN)
            ],
        },
        "queues": [
            {key: depth[key] for key in ("queue", "name", "dead_letter", "waiting", "in_flight", "delayed")}
            for depth in queue_depths(declared, sources.sqs)
        ],
        "sap": sap_figures(sources.throttle, since, until),
        "gdpr": gdpr_figures(sources.erasure_requests, sources.objects, declared, since, until),
        "open_incidents": [
            {"incident": i.incident_id, "count": i.count, "opened_at": _iso(datetime.fromtimestamp(i.opened_at, UTC))}
            for i in sorted(sources.incidents.read().values(), key=lambda i: i.key)
            if i.status is Status.OPEN
        ],
    }


def records_per_state(store: StateStore, since: datetime, until: datetime) -> dict[str, Any]:
    """Documents entering each state, per source and in total, from the hourly counters."""
    hours = []
    hour = since
    while hour < until:
        hours.append(hour.strftime("%Y-%m-%dT%H"))
        hour += timedelta(hours=1)
    per_source: dict[str, Counter[str]] = defaultdict(Counter)
    for row in summarize(store.counters(hours))["counts"]:
        per_source[row["source"] or "-"].update(row["states"])
    total: Counter[str] = Counter()
    for states in per_source.values():
        total.update(states)
    return {
        "per_source": {source: _by_rank(states) for source, states in sorted(per_source.items())},
        "total": _by_rank(total),
    }


def rejects_by_reason(store: StateStore, since: datetime, until: datetime) -> dict[str, Any]:
    """Documents now INVALID or REJECTED_BY_SAP that got there in the period, by reason code."""
    found = []
    for state in REJECTED_STATES:
        reasons: Counter[str] = Counter()
        examined, cursor, capped = 0, None, False
        while True:
            records, cursor = store.list_in_state(
                state, None, epoch_millis(since), epoch_millis(until) - 1, min(100, EXAMINED_CAP - examined), cursor
            )
            examined += len(records)
            reasons.update(record.current.reason_code or "NO_REASON_CODE" for record in records)
            if cursor is None:
                break
            if examined >= EXAMINED_CAP:
                capped = True
                break
        found.append(
            {
                "state": state.value,
                "documents": examined,
                "at_least": capped,
                "reasons": [{"reason_code": code, "documents": n} for code, n in sorted(reasons.items(), key=_most)],
            }
        )
    return {"states": found}


def sap_figures(throttle: ThrottleLog, since: datetime, until: datetime) -> dict[str, Any]:
    settings = throttle.settings()
    requests_now, records_now = throttle.effective_rate()
    events = throttle.events(since.timestamp(), (until - timedelta(seconds=1)).timestamp())
    return {
        "requests_per_second": settings.requests_per_second,
        "records_per_second": settings.records_per_second,
        "effective_requests_per_second": round(requests_now, 3),
        "effective_records_per_second": round(records_now, 3),
        "overload_answers": events.overloads,
        "changes": events.changes,
    }


def gdpr_figures(
    requests: ErasureRequests, objects: ObjectStore, resources: Resources, since: datetime, until: datetime
) -> dict[str, Any]:
    """Erasure jobs started or finished in the period (found by their work folders, kept a
    week) with their cost, and the requests waiting for the next job."""
    work_bucket = resources.bucket(resources.catalog().results_bucket).name
    job_ids = sorted({info.key[len(JOBS_PREFIX) :].split("/", 1)[0] for info in objects.list(work_bucket, JOBS_PREFIX)})
    jobs: list[dict[str, Any]] = []
    for job_id in job_ids:
        try:
            job = requests.get_job(job_id)
        except UnknownErasureRequest:
            continue
        touched = [datetime.fromisoformat(t) for t in (job.created_at, job.updated_at) if t]
        if not any(since <= t < until for t in touched):
            continue
        cost = (job.report or {}).get("cost_usd") or {}
        jobs.append(
            {
                "job_id": job.job_id,
                "status": job.status,
                "requests": len(job.request_ids),
                "created_at": job.created_at,
                "cost_usd": cost.get("total"),
                "cost_usd_per_request": (job.report or {}).get("cost_usd_per_request"),
            }
        )
    pending = len(requests.pending(PENDING_CAP))
    return {
        "jobs": jobs,
        "requests_in_jobs": sum(job["requests"] for job in jobs),
        "requests_pending": pending,
        "pending_at_least": pending >= PENDING_CAP,
        "cost_usd": round(sum(job["cost_usd"] or 0.0 for job in jobs), 6),
    }


# -- the mail ------------------------------------------------------------------------------


def sections(figures: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, notes, table rows; the first row is the header) per section: one layout, two renderings."""
    records = figures["records"]
    states = list(records["total"])
    rows = [["source", *states]]
    rows += [[source, *(str(counts.get(s, 0)) for s in states)] for source, counts in records["per_source"].items()]
    if records["per_source"]:
        rows.append(["all", *(str(records["total"][s]) for s in states)])
    result = [("Documents entering each state", [] if states else ["none"], rows if states else [])]

    reject_rows = [["state", "reason code", "documents"]]
    for group in figures["rejects"]["states"]:
        reject_rows += [[group["state"], r["reason_code"], str(r["documents"])] for r in group["reasons"]]
    capped = [g["state"] for g in figures["rejects"]["states"] if g["at_least"]]
    notes = [f"counted over the first {EXAMINED_CAP} documents of {', '.join(capped)}"] if capped else []
    result.append(("Rejects by reason", notes or ([] if len(reject_rows) > 1 else ["none"]), _table(reject_rows)))

    stuck = figures["stuck"]
    stuck_rows = [["state", "documents", "newest ids"]]
    stuck_rows += [
        [s["state"], f"{s['documents']}{'+' if s['at_least'] else ''}", " ".join(s["ids"])]
        for s in stuck["states"]
        if s["documents"]
    ]
    result.append(
        (
            f"Stuck documents (in flight for more than {stuck['older_than_minutes']} min)",
            [] if len(stuck_rows) > 1 else ["none"],
            _table(stuck_rows),
        )
    )

    queue_rows = [["queue", "waiting", "in flight", "delayed"]]
    queue_rows += [
        [q["name"], str(q["waiting"]), str(q["in_flight"]), str(q["delayed"])]
        for q in figures["queues"]
        if q["dead_letter"]
    ]
    busy = [q for q in figures["queues"] if not q["dead_letter"] and (q["waiting"] or q["in_flight"] or q["delayed"])]
    queue_rows += [[q["name"], str(q["waiting"]), str(q["in_flight"]), str(q["delayed"])] for q in busy]
    result.append(("Dead-letter queues (and queues with a backlog)", [], queue_rows))

    sap = figures["sap"]
    sap_notes = [
        f"configured {sap['requests_per_second']:g} requests/s, {sap['records_per_second']:g} records/s; "
        f"now {sap['effective_requests_per_second']:g} requests/s, {sap['effective_records_per_second']:g} records/s",
        f"429/503 answers from SAP: {sap['overload_answers']}",
        f"throttle changes by operators: {len(sap['changes'])}",
    ]
    change_rows = [["at", "settings"]] + [
        [c["at"], ", ".join(f"{k}={v:g}" for k, v in sorted(c["settings"].items()))] for c in sap["changes"]
    ]
    result.append(("SAP throttle", sap_notes, _table(change_rows)))

    gdpr = figures["gdpr"]
    pending = f"{gdpr['requests_pending']}{'+' if gdpr['pending_at_least'] else ''}"
    gdpr_notes = [
        f"jobs: {len(gdpr['jobs'])}, their requests: {gdpr['requests_in_jobs']}, waiting for the next job: {pending}",
        f"cost of these jobs: ${gdpr['cost_usd']:.6f}",
    ]
    job_rows = [["job", "status", "requests", "cost (USD)", "per request"]] + [
        [j["job_id"], j["status"], str(j["requests"]), _usd(j["cost_usd"]), _usd(j["cost_usd_per_request"])]
        for j in gdpr["jobs"]
    ]
    result.append(("GDPR erasure", gdpr_notes, _table(job_rows)))

    incident_rows = [["incident", "count", "open since"]] + [
        [i["incident"], str(i["count"]), i["opened_at"]] for i in figures["open_incidents"]
    ]
    result.append(("Open incidents", [] if len(incident_rows) > 1 else ["none"], _table(incident_rows)))
    return result


def subject_line(figures: dict[str, Any], title: str) -> str:
    total = figures["records"]["total"]
    stuck = sum(s["documents"] for s in figures["stuck"]["states"])
    parked = sum(q["waiting"] + q["in_flight"] for q in figures["queues"] if q["dead_letter"])
    return (
        f"[{title}] daily summary to {figures['until'][:13]}Z: {total.get('RECEIVED', 0)} received, "
        f"{total.get('DELIVERED', 0)} delivered, {total.get('INVALID', 0)} invalid, {stuck} stuck, "
        f"{parked} in dead-letter queues"
    )


def render_text(figures: dict[str, Any], title: str) -> str:
    lines = [f"{title}: {figures['since']} to {figures['until']} (UTC)"]
    for heading, notes, rows in sections(figures):
        lines += ["", heading, "-" * len(heading), *notes]
        if rows:
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines += ["", "Details: GET /stats, /documents?state=..., /queues, /sap/throttle, /gdpr/erasure-requests/{id}"]
    return "\n".join(lines)


def render_html(figures: dict[str, Any], title: str) -> str:
    e: Callable[[Any], str] = lambda value: html.escape(str(value))  # noqa: E731
    parts = [f"<h2>{e(title)}</h2><p>{e(figures['since'])} to {e(figures['until'])} (UTC)</p>"]
    for heading, notes, rows in sections(figures):
        parts.append(f"<h3>{e(heading)}</h3>")
        parts += [f"<p>{e(note)}</p>" for note in notes]
        if rows:
            head = "".join(f"<th align='left'>{e(cell)}</th>" for cell in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:])
            parts.append(
                f"<table cellpadding='4' border='1' style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"
            )
    return "<html><body style='font-family:sans-serif'>" + "".join(parts) + "</body></html>"


def send_daily_summary(sources: SummarySources, mailer: HtmlMailer, now: datetime) -> dict[str, Any]:
    """Gather the figures and mail them; returns the figures."""
    figures = gather(sources, now)
    title = f"{sources.resources.app} {sources.resources.stage}"
    mailer.send(subject_line(figures, title), render_text(figures, title), html=render_html(figures, title))
    return figures


def _by_rank(states: Counter[str]) -> dict[str, int]:
    return {state: states[state] for state in sorted(states, key=lambda s: RANK[State(s)]) if states[state]}


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _table(rows: list[list[str]]) -> list[list[str]]:
    return rows if len(rows) > 1 else []


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

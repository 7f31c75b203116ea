"""Benchmark: the whole pipeline, from a file in the raw bucket to a final state in SAP.

Starts the local stack (`DevStack`, its REST API for the webhooks): the emulator (counting
every AWS request at its door) and the SAP stand-in each in a process of their own unless
`--in-process`, the handlers in their functions' worker processes, the stand-in's capacity
high (`--sap-capacity`) and the shared SAP throttle at 0.95 of it, so SAP is not the limit
unless asked. Four phases, each on records of its own (`bench/fake_people.py`):

1. batch: every batch source's files (Eventbrite and Graph API pages, the lead download,
   Amazon's report, the shop's export, canonical lines) uploaded at once;
2. webhooks: `--webhook-records` Google Ads leads, one per request, posted to the API's
   webhook route `--webhook-concurrency` at a time, as Google sends them (concurrently;
   `chalice local` in a process of its own); the route queues each delivery and
   `collect_webhooks` writes a batch of them as one raw file;
3. low load: Eventbrite pages offered one at a time at `--low-share` of the batch phase's
   measured rate; 4. high load: more pages at `--high-share` of the *paced capacity*, the
   rate the machine's cores carry pages offered one at a time: the cores left beyond the
   idle stack's own use, over the low phase's CPU per record beyond idle (`paced_capacity`).
   Pages one at a time cost more CPU per record than files all at once (less to batch), so
   a share of the batch rate can offer more than the cores carry, and then p95 measures a
   queue growing for as long as the phase lasts, not a load.

Each phase ends when every queue is empty and no handler runs (the drain). Records per hour
are the documents in a final state over the time from the first upload (or delivery) to the drain, when
the State Keeper holds every final state (also printed: to the last final state's own time).
Transition times come from the State Keeper's histories (upload → RECEIVED → NORMALIZED →
QUEUED_FOR_SAP → DELIVERED); the p95 ratio is high load's over low load's, upload to final.
AWS requests per record are the door's counts (local-only calls left out: the runtime's idle
checks, empty polls, its S3-notification queues), priced with `infra/prices.py`, plus
Lambda's invocations and GB-seconds from the measured handler time and declared memory
(the worker process's CPU time plus a round trip per AWS request: on the emulator the wall
time is mostly moto's, which is printed too).
The per-record counts go to `--out` (read by `python -m infra cost`).

    .venv/bin/python bench/pipeline.py
    .venv/bin/python bench/pipeline.py --sap-capacity 1 --sap-records-per-request 10   # SAP is the limit

Last line, one JSON object: {"records", "records_per_hour_batch", "records_per_hour_webhooks",
"transition_p95_ratio", "usd_per_million_records", "not_final", "sap_duplicates"}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "STAGE": "local",
    }
)
os.environ.pop("AWS_PROFILE", None)
# the handlers' JSON log lines and metrics would drown the figures (set these to see them)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
for _name in ("SAP_SECRET_ARN", "SAP_PARAMETER", "SAP_BASE_URL"):
    os.environ.pop(_name, None)  # the deployed path: SAP_SECRET

RESULTS = ROOT / "bench" / "results" / "pipeline-requests.json"
PHASES = ("batch", "webhooks", "low", "high")
HOPS = ("upload", "RECEIVED", "NORMALIZED", "QUEUED_FOR_SAP", "DELIVERED")
PAGE = 50  # attendees per Eventbrite page
# State Keeper bytes kept per document (README, The State Keeper: the item ~420 B, its
# subject index entry ~100 B, its outcome page share ~40 B): DynamoDB storage is not counted at the door
STATE_BYTES_PER_DOCUMENT = 560


@dataclass
class Phase:
    name: str
    files: list[Any]
    interval: float = 0.0  # seconds between uploads; 0: all at once
    uploaded_at: dict[str, float] = field(default_factory=dict)  # file id -> epoch seconds
    began: float = 0.0
    drained_at: float = 0.0  # when every queue was empty and no handler ran: all state recorded
    counts: list[dict[str, Any]] = field(default_factory=list)
    handler_time: dict[str, list[float]] = field(default_factory=dict)  # function -> [invocations, s, CPU s]
    records: list[Any] = field(default_factory=list)  # the State Keeper's DocumentRecords
    drained: bool = False
    deliveries: list[bytes] = field(default_factory=list)  # webhook bodies, posted to the API
    api_cpu_seconds: float = 0.0  # the API process's CPU time during the phase
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by kind of process, see `cpu_by_kind`
    concurrency: int = 1  # webhook deliveries posted at once
    resent: int = 0  # webhook deliveries sent again after a refused connection


def eventbrite_files(items: list[Any], name: str) -> list[Any]:
    from bench.fake_people import RawFile, eventbrite_page

    return [
        RawFile(
            "eventbrite", f"incoming/eventbrite/2026/11/28/{name}{n:04d}.json", eventbrite_page(items[s : s + PAGE])
        )
        for n, s in enumerate(range(0, len(items), PAGE))
    ]


def build_phases(args: argparse.Namespace) -> list[Phase]:
    """Records of their own for every phase: one generator of people and record serials."""
    from bench.fake_people import People, google_ads_webhook, lines, platform_files
    from devstack.platforms import GOOGLE_KEY

    # one run of Eventbrite lines for the batch and the paced phases: their record ids differ
    attendees = lines("eventbrite", args.batch_records + (args.low_pages + args.high_pages) * PAGE, People(args.seed))
    paced = eventbrite_files(attendees[args.batch_records :], "paced")
    batch = [f for f in platform_files(args.batch_records, args.seed) if f.source not in ("google_ads", "eventbrite")]
    batch += eventbrite_files(attendees[: args.batch_records], "batch")
    leads = lines("google_ads", args.webhook_records, People(args.seed + 2))
    # keyed with the key the stack provisioned
    deliveries = [
        json.dumps({**json.loads(google_ads_webhook(line)), "google_key": GOOGLE_KEY}).encode() for line in leads
    ]
    phases = [
        Phase("batch", keyed(batch)),
        Phase("webhooks", [], deliveries=deliveries, concurrency=args.webhook_concurrency),
        Phase("low", keyed(paced[: args.low_pages])),
        Phase("high", keyed(paced[args.low_pages :])),
    ]
    return [phase for phase in phases if phase.name in args.phases]


def keyed(files: list[Any]) -> list[Any]:
    """The files under the keys uploads get (the content's id): every file its own file id."""
    from bench.fake_people import RawFile
    from chalicelib.ingest.uploads import file_id_for, raw_key

    day = datetime(2026, 11, 28, tzinfo=UTC)
    return [
        RawFile(f.source, raw_key(f.source, file_id_for(f.content), "." + f.key.rsplit(".", 1)[1], day), f.content)
        for f in files
    ]


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (Linux `/proc/PID/stat`)."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def raw_keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def deliver(phase: Phase, stack: Any) -> None:
    """Post every webhook body to the API, `concurrency` at a time, as Google sends leads
    (concurrently); each must get 200. A connection `chalice local` refused (its listen
    backlog is five) is sent again, as Google retries a delivery that failed."""
    import requests

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=phase.concurrency))

    def post(body: bytes) -> int:
        for attempt in range(5):
            try:
                answer = session.post(
                    f"{stack.api_url}/hooks/google-ads",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
                return answer.status_code
            except requests.ConnectionError:
                if attempt == 4:
                    raise
                phase.resent += 1
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(phase.concurrency) as pool:
        refused = [status for status in pool.map(post, phase.deliveries) if status != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} webhook deliveries were refused: {sorted(set(refused))}")


def run_phase(phase: Phase, stack: Any, s3: Any, bucket: str, timeout: float) -> None:
    from chalicelib import wiring
    from chalicelib.ingest.uploads import file_id_from_key

    webhook_files = raw_keys(s3, bucket, "incoming/google_ads/") if phase.deliveries else set()
    stack.emulator.request_counts(reset=True)
    stack.runtime.usage(reset=True)
    api_cpu = process_cpu_seconds(stack.api_pid) if phase.deliveries else 0.0
    cpu_before = cpu_by_kind()
    phase.began = time.time()

    def upload(raw: Any) -> None:
        phase.uploaded_at[file_id_from_key(raw.key)] = time.time()
        s3.put_object(Bucket=bucket, Key=raw.key, Body=raw.content, Metadata={"source": raw.source})

    if phase.interval:
        for number, raw in enumerate(phase.files):
            if number:
                time.sleep(phase.interval)
            upload(raw)
    else:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(upload, phase.files))
    if phase.deliveries:
        deliver(phase, stack)
    phase.drained = stack.runtime.wait_until_idle(timeout=timeout)
    phase.drained_at = time.time()
    phase.cpu_seconds = {kind: used - cpu_before.get(kind, 0.0) for kind, used in cpu_by_kind().items()}
    phase.counts = stack.emulator.request_counts()
    phase.handler_time = {
        name: [used.invocations, used.seconds, used.cpu_seconds]
        for name, used in stack.runtime.usage(reset=True).items()
        if used.invocations
    }
    if phase.deliveries:
        phase.api_cpu_seconds = process_cpu_seconds(stack.api_pid) - api_cpu
        for key in raw_keys(s3, bucket, "incoming/google_ads/") - webhook_files:
            phase.uploaded_at[file_id_from_key(key)] = phase.began  # delivered from the phase's start
    store = wiring.state_store()
    ids: set[str] = set()
    for file_id in phase.uploaded_at:
        ids |= store.file_document_ids(file_id)
    phase.records = list(store.get_many(ids).values())


def hop_times(phase: Phase) -> dict[str, list[float]]:
    """Seconds per hop and end to end (upload to final), one value per carriage: a document
    a later file carries again (an attendee in two pages) is timed from each file's upload to
    the first final state after that file's own entries, not from one file's upload to another's
    final state. Entries name their chunk, so their file (`{file_id}-{chunk}`); the final
    states (the dispatcher's) come after the carriage's last normalize entry."""
    from chalicelib.state_keeper.lifecycle import FINAL_STATES

    hops: dict[str, list[float]] = defaultdict(list)
    for record in phase.records:
        entries = sorted(record.history, key=lambda e: e.at_ms)
        carriages: dict[str, dict[str, float]] = defaultdict(dict)
        for entry in entries:
            if entry.chunk_id:
                carriages[entry.chunk_id.rsplit("-", 1)[0]].setdefault(entry.state.value, entry.at_ms / 1000)
        for file_id, first in carriages.items():
            if file_id not in phase.uploaded_at:
                continue  # carried by a file of another phase
            first["upload"] = phase.uploaded_at[file_id]
            own_final = [first[s.value] for s in FINAL_STATES if s.value in first]
            last_own = max(t for state, t in first.items() if state != "upload")
            later_final = [
                (e.state.value, e.at_ms / 1000)
                for e in entries
                if e.state in FINAL_STATES and e.at_ms / 1000 >= last_own
            ]
            if not own_final and later_final:
                state, at = later_final[0]
                first.setdefault(state, at)
                own_final = [at]
            for a, b in itertools.pairwise(HOPS):
                if a in first and b in first:
                    hops[f"{a}→{b}"].append(max(0.0, first[b] - first[a]))
            if own_final:
                hops["upload→final"].append(max(0.0, min(own_final) - first["upload"]))
    return hops


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def finals(phase: Phase) -> tuple[int, float]:
    """Documents in a final state, and when the last one got there (epoch seconds)."""
    from chalicelib.state_keeper.lifecycle import FINAL_STATES

    done = [r for r in phase.records if r.state in FINAL_STATES]
    last = max((e.at_ms / 1000 for r in done for e in r.history if e.state in FINAL_STATES), default=phase.began)
    return len(done), last


def report_not_final(stuck: list[Any], later: float = 30.0) -> None:
    """Each document not final at its phase's drain: its history (states and components, no
    values), and its state `later` seconds on (late, or stuck)."""
    from chalicelib import wiring

    if not stuck:
        return
    for record in stuck[:10]:
        trail = " → ".join(f"{e.state.value} ({e.component})" for e in record.history)
        print(f"not final at the drain: {record.document_id}: {trail}")
    time.sleep(later)
    now = wiring.state_store().get_many([r.document_id for r in stuck[:10]])
    print(f"{later:.0f} s later: {dict(Counter(r.state.value for r in now.values()))}")


def records_per_hour(phase: Phase, until_recorded: bool = True) -> float:
    """Final documents per hour from the first upload: until the State Keeper held every final
    state (the drain), or, with `until_recorded` False, until the last final state happened."""
    count, last = finals(phase)
    end = phase.drained_at if until_recorded else last
    return count / (end - phase.began) * 3600 if end > phase.began else 0.0


def per_record(phases: list[Phase], app: str, stage: str) -> dict[str, Any]:
    """What the cost command reads: requests, Lambda use and bytes stored, per record."""
    from infra.cost import purpose

    records = sum(len(p.records) for p in phases) or 1
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for phase in phases:
        for row in phase.counts:
            key = (row["service"], row["operation"], purpose(row["resource"], app, stage))
            into = rows.setdefault(key, {"requests": 0.0, "units": 0.0, "bytes_in": 0.0})
            for name in into:
                into[name] += row[name]
    with_subject = sum(1 for p in phases for r in p.records if r.subject_id)
    rows["dynamodb", "IndexWrite", "state"] = {"requests": 0.0, "units": float(with_subject), "bytes_in": 0.0}
    requests = [
        {"service": s, "operation": o, "resource": r, **{k: v / records for k, v in values.items()}}
        for (s, o, r), values in sorted(rows.items())
    ]
    used: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for phase in phases:
        for name, times in phase.handler_time.items():
            for n, value in enumerate(times):
                used[name][n] += value
        if phase.deliveries:  # the API handler's invocations, at the API process's CPU time
            api = used["api_handler"]
            api[0] += len(phase.deliveries)
            api[1] += phase.api_cpu_seconds
            api[2] += phase.api_cpu_seconds
    deliveries = sum(len(p.deliveries) for p in phases)
    stored = {
        row["resource"]: row["bytes_in"]
        for row in requests
        if row["service"] == "s3" and row["operation"] == "PutObject"
    }
    return {
        "records": records,
        "webhook_deliveries": deliveries / records,
        "requests": requests,
        "lambda": {
            name: {"invocations": i / records, "seconds": s / records, "cpu_seconds": c / records}
            for name, (i, s, c) in sorted(used.items())
        },
        "bytes_stored": {**stored, "state": STATE_BYTES_PER_DOCUMENT},
    }


def priced(counted: dict[str, Any], stage: str, wall: bool = False) -> dict[str, float]:
    """US dollars per million records, per service, from the per-record counts; Lambda's
    duration modelled as `infra.cost` does (CPU time plus AWS round trips), or `wall` as measured."""
    from infra.cost import Assumptions, function_memory, lambda_seconds, lambda_usd, request_usd
    from infra.prices import price

    usd: dict[str, float] = defaultdict(float)
    for row in counted["requests"]:
        usd[row["service"]] += request_usd(row) * 1e6
    usd["apigateway"] += price("apigateway_rest_requests").of(counted.get("webhook_deliveries", 0.0) * 1e6)
    default_mb, memory = function_memory(stage)
    for name, used in counted["lambda"].items():
        seconds = used["seconds"] if wall else lambda_seconds(name, counted, Assumptions())
        usd["lambda"] += lambda_usd(used["invocations"] * 1e6, seconds * 1e6, memory.get(name, default_mb))
    return {service: round(value, 4) for service, value in sorted(usd.items()) if value}


def descendants() -> dict[str, tuple[str, Path]]:
    """This process's children, grandchildren (the workers) and great-grandchildren: pid ->
    (a name for what it is, its `/proc` directory)."""
    processes: dict[str, tuple[str, str]] = {}  # pid -> (parent pid, command)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        processes[proc.name] = (parent, command)
    ours = {str(os.getpid())}
    for _ in range(3):
        ours |= {pid for pid, (parent, _) in processes.items() if parent in ours}
    named: dict[str, tuple[str, Path]] = {}
    for pid in sorted(ours - {str(os.getpid())}, key=int):
        parent, command = processes[pid]
        words = command.split()
        if "multiprocessing" in command:  # the forkserver, the workers it forked, the resource tracker
            name = "worker" if parent != str(os.getpid()) else command.split("multiprocessing.")[1].split()[0]
        elif "--service" in words[:-1]:
            name = "emulator " + words[words.index("--service") + 1]
        else:
            scripts = [w for w in words if not Path(w).name.startswith("python")]
            name = words[words.index("-m") + 1] if "-m" in words[:-1] else Path(scripts[0]).name if scripts else "?"
        named[pid] = (name, Path("/proc", pid))
    return named


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its descendants (the emulator, the stand-in,
    the forkserver and the functions' worker processes it forked)."""
    peaks = {"bench (pollers)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    for pid, (name, proc) in descendants().items():
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if "VmHWM" in status:
            peaks[f"{name} ({pid})"] = int(status["VmHWM"].split()[0]) / 1024
    return {name: round(mb, 1) for name, mb in peaks.items()}


def idle_cpu_rate(seconds: float = 3.0) -> float:
    """CPU seconds a second the drained stack uses with nothing to do (its pollers' waits)."""
    before = sum(cpu_by_kind().values())
    time.sleep(seconds)
    return max(0.0, sum(cpu_by_kind().values()) - before) / seconds


def paced_capacity(phase: Phase, idle_rate: float) -> tuple[float, float]:
    """Records a second the cores would carry at `phase`'s CPU per record beyond idle, and
    that CPU per record in seconds: the work pages offered one at a time cost."""
    lasted = phase.drained_at - phase.began
    work = max(1e-9, sum(phase.cpu_seconds.values()) - idle_rate * lasted) / max(len(phase.records), 1)
    return max(0.0, (os.cpu_count() or 1) - idle_rate) / work, work


def cpu_by_kind() -> dict[str, float]:
    """CPU seconds used so far by this process (the pollers and the bench) and its
    descendants, summed per kind (every worker as `worker`): a phase's share is the
    difference of two readings (a process started meanwhile counts from zero)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds = {"bench (pollers)": usage.ru_utime + usage.ru_stime}
    for pid, (name, _) in descendants().items():
        try:
            seconds[name] = seconds.get(name, 0.0) + process_cpu_seconds(int(pid))
        except OSError:
            continue
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-records", type=int, default=1000, help="records per batch source (6 sources)")
    parser.add_argument(
        "--webhook-records", type=int, default=1000, help="Google Ads leads posted to the webhook route"
    )
    parser.add_argument("--webhook-concurrency", type=int, default=8, help="webhook deliveries posted at once")
    parser.add_argument("--low-pages", type=int, default=8, help="Eventbrite pages (50 records) at low load")
    parser.add_argument("--high-pages", type=int, default=16, help="Eventbrite pages (50 records) at high load")
    parser.add_argument("--low-share", type=float, default=0.2, help="low load: share of the batch rate offered")
    parser.add_argument(
        "--high-share", type=float, default=0.8, help="high load: share of the paced capacity (after low) offered"
    )
    parser.add_argument("--sap-capacity", type=float, default=1000.0, help="SAP stand-in requests/s (low: SAP limits)")
    parser.add_argument(
        "--sap-records-per-request", type=int, default=100, help="changesets per $batch (fewer: SAP limits sooner)"
    )
    parser.add_argument("--in-process", action="store_true", help="the emulator and the stand-in in this process")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a phase may take to drain")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--phases",
        type=lambda value: [name.strip() for name in value.split(",") if name.strip()],
        default=list(PHASES),
        help=f"phases to run, comma-separated (default {','.join(PHASES)}; low and high need batch, high needs low)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="counts file (default: the results file, when every phase runs)"
    )
    args = parser.parse_args()
    unknown = set(args.phases) - set(PHASES)
    if unknown or not args.phases:
        parser.error(f"--phases: one or more of {', '.join(PHASES)} (not {', '.join(sorted(unknown))})")
    if {"low", "high"} & set(args.phases) and "batch" not in args.phases:
        parser.error("--phases: low and high are offered a share of the batch phase's rate; add batch")
    if "high" in args.phases and "low" not in args.phases:
        parser.error("--phases: high is offered a share of the capacity the low phase measures; add low")
    os.environ["SAP_RECORDS_PER_REQUEST"] = str(args.sap_records_per_request)

    from chalicelib import wiring
    from chalicelib.state_keeper.lifecycle import FINAL_STATES
    from devstack.child_process import free_port
    from devstack.emulator import Emulator
    from devstack.stack import DevStack
    from devstack.standin_process import StandInProcess

    phases = build_phases(args)
    stack = DevStack(emulator_port=0, api_port=free_port("127.0.0.1"), sap_capacity=args.sap_capacity)
    if args.in_process:
        stack.emulator = Emulator()
    else:
        stack.sap = StandInProcess(capacity=args.sap_capacity)  # type: ignore[assignment]
    began = time.monotonic()
    stack.start()
    try:
        assert stack.runtime is not None
        wiring.reset()
        wiring.sap_throttle().configure(
            requests_per_second=args.sap_capacity * 0.95,
            records_per_second=args.sap_capacity * 0.95 * args.sap_records_per_request,
            burst_seconds=1.0,
        )
        s3 = stack.session.client("s3")
        bucket = stack.resources.bucket("raw").name
        batch_rate = paced_rate = idle_rate = 0.0
        page_documents = float(PAGE)  # documents a page carries (fewer: attendees listed twice)
        for phase in phases:
            if phase.name == "low":
                idle_rate = idle_cpu_rate()
                phase.interval = PAGE / max(1e-6, args.low_share * batch_rate)
            if phase.name == "high":
                phase.interval = page_documents / max(1e-6, args.high_share * paced_rate)
            run_phase(phase, stack, s3, bucket, args.timeout)
            count, _ = finals(phase)
            rate = records_per_hour(phase)
            batch_rate = rate / 3600 if phase.name == "batch" else batch_rate
            offered = f", one page every {phase.interval:.1f} s" if phase.interval else ", all at once"
            if phase.deliveries:
                offered = f", {len(phase.deliveries)} deliveries {phase.concurrency} at a time ({phase.resent} resent)"
            print(
                f"{phase.name}: {len(phase.files)} files{offered}; {len(phase.records)} documents, {count} final; "
                f"{rate:,.0f} records/hour until recorded ({phase.drained_at - phase.began:.0f} s), "
                f"{records_per_hour(phase, until_recorded=False):,.0f} until the last final state happened"
                f"{'' if phase.drained else ' (NOT DRAINED)'}"
            )
            if phase.name == "low":
                paced_rate, work = paced_capacity(phase, idle_rate)
                page_documents = len(phase.records) / max(len(phase.files), 1)
                print(
                    f"paced capacity: {paced_rate * 3600:,.0f} records/hour ({os.cpu_count()} cores less "
                    f"{idle_rate:.2f} idle, {work * 1000:.1f} ms of CPU a record beyond idle at low load); "
                    f"high load is offered {args.high_share} of it"
                )
            if phase.name == "high":
                own, _ = paced_capacity(phase, idle_rate)
                offered_rate = len(phase.records) / (len(phase.files) * phase.interval)
                print(f"  high load: {offered_rate / own:.2f} of what its own CPU per record allows")

        print("\nCPU milliseconds per record, by kind of process (all of the phase, to the drain)")
        for phase in phases:
            total = sum(phase.cpu_seconds.values())
            per_kind = ", ".join(
                f"{kind} {used / max(len(phase.records), 1) * 1000:.1f}"
                for kind, used in sorted(phase.cpu_seconds.items(), key=lambda kv: -kv[1])
                if used >= 0.05
            )
            per_record_ms = total / max(len(phase.records), 1) * 1000
            cores = os.cpu_count() or 1
            print(
                f"  {phase.name}: {per_record_ms:.1f} ms ({per_kind}); {cores} cores at that: "
                f"{cores * 3600e3 / per_record_ms if per_record_ms else 0:,.0f} records an hour at most"
            )

        print("\ntransition seconds p50 / p95 per hop")
        times = {phase.name: hop_times(phase) for phase in phases}
        for hop in [f"{a}→{b}" for a, b in itertools.pairwise(HOPS)] + ["upload→final"]:
            cells = "  ".join(
                f"{p.name} {quantile(times[p.name][hop], 0.5):7.2f} / {quantile(times[p.name][hop], 0.95):7.2f}"
                for p in phases
            )
            print(f"  {hop:<28} {cells}")
        ratio = None
        if "low" in times and "high" in times:
            low_p95 = quantile(times["low"]["upload→final"], 0.95)
            high_p95 = quantile(times["high"]["upload→final"], 0.95)
            ratio = round(high_p95 / low_p95, 2) if low_p95 else 0.0
            print(f"  p95 upload→final, high over low load: {high_p95:.2f} / {low_p95:.2f} = {ratio:.2f}")

        app, stage = stack.resources.app, stack.resources.stage
        named = {phase.name: phase for phase in phases}
        mixes = {name: per_record([named[name]], app, stage) for name in ("batch", "webhooks") if name in named}
        mixes["all"] = per_record(phases, app, stage)
        print("\nAWS requests per record (all phases; local-only calls left out of the cost)")
        for row in mixes["all"]["requests"]:
            print(
                f"  {row['service']:<15} {row['operation']:<24} {row['resource']:<28} "
                f"{row['requests']:8.4f} requests {row['units']:8.4f} units"
            )
        print(
            "Lambda per record:", {n: {k: round(v, 5) for k, v in u.items()} for n, u in mixes["all"]["lambda"].items()}
        )
        costs = {mix: priced(counted, stage) for mix, counted in mixes.items()}
        for mix, usd in costs.items():
            print(f"USD per million records, {mix}: {sum(usd.values()):.2f} {usd}")
        wall = priced(mixes["all"], stage, wall=True)
        print(f"  (Lambda at the wall time measured here, mostly waiting on the emulator: {wall.get('lambda', 0):.2f})")

        stuck = [r for p in phases for r in p.records if r.state not in FINAL_STATES]
        not_final = len(stuck)
        report_not_final(stuck)
        expected = sum(len(p.uploaded_at) for p in phases)
        held = stack.sap.records()["counts"]
        failed = {
            p.function_name.rsplit("-", 1)[-1]: p.stats.failed_batches
            for p in stack.runtime.pollers
            if p.stats.failed_batches
        }
        print(f"\nhandler batches failed, back after the queue's visibility timeout: {failed or 'none'}")
        print(f"peak RSS MB: {peak_rss_mb()}")
        print(f"files {expected}, documents {sum(len(p.records) for p in phases)}, not final {not_final}")
        print(
            f"SAP holds {held['contacts']} contacts, {held['interactions']} interactions, "
            f"{held['duplicates']} duplicates"
        )
        print(f"wall time {time.monotonic() - began:.0f} s")

        summary = {
            "records": sum(len(p.records) for p in phases),
            "records_per_hour_batch": round(records_per_hour(named["batch"])) if "batch" in named else None,
            "records_per_hour_webhooks": round(records_per_hour(named["webhooks"])) if "webhooks" in named else None,
            "transition_p95_ratio": ratio,
            "usd_per_million_records": round(sum(costs["all"].values()), 2),
            "not_final": not_final,
            "sap_duplicates": held["duplicates"],
        }
        out = args.out or (RESULTS if len(phases) == len(PHASES) else None)  # committed: every phase's
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            command = "python bench/pipeline.py " + " ".join(sys.argv[1:])
            out.write_text(
                json.dumps(
                    {
                        "taken": datetime.now(UTC).strftime("%Y-%m-%d"),
                        "command": command.strip(),
                        "note": "per record; resources by purpose (the name without data-engine-{stage}-)",
                        "per_record": mixes,
                    },
                    indent=1,
                )
                + "\n"
            )
            print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        print(json.dumps(summary))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

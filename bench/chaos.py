"""Chaos run: the whole pipeline while SAP, the workers and AWS itself misbehave; nothing is lost.

The local stack (`DevStack`, its REST API, the emulator and the SAP stand-in each in a process
of its own) with short visibility timeouts (`--visibility-timeout`: a killed batch comes back
in seconds; the deployed queues keep theirs) takes every batch source's files
(`bench/fake_people.py`) and Google Ads leads posted to its webhook route. Meanwhile, on a
schedule (`--pace` seconds a step; SAP's faults and the dispatcher's kills from SAP's first
request, the rest from the first upload):

- SAP: a 429 storm, a 5xx burst with answers lost after SAP applied them (connection resets,
  and answers slower than the SAP client's read timeout), slow answers, then `--outage`
  seconds down;
- workers killed mid-batch (`LocalRuntime.kill_a_worker`) in every pipeline function, twice
  in some;
- a share of SQS batches and S3 notifications handed to their handler twice (`--duplicates`);
- AWS faults at the emulator's door (`devstack/faults.py`) for `--aws-seconds`: DynamoDB
  throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`), 5xx from SQS,
  S3 and SES, with a short storm on DynamoDB that botocore's retries cannot absorb.

Then the drain; faults off; `dlq_watch` parks what the DLQs hold and mails its alert; the
counts; every DLQ replayed through the operations API (`/ingest/replay`, `/sap/replay`,
`/sources/replay`, `/state-changes/replay`; the local S3-notification DLQs by the runtime);
the drain again, and the counts: received (by the State Keeper, and by the lake through the
local query engine), final, parked, lost = records sent − final − parked, SAP duplicates.

    .venv/bin/python bench/chaos.py
    .venv/bin/python bench/chaos.py --batch-records 20 --webhook-records 10 --outage 8 --pace 1 --aws-seconds 30

Last line, one JSON object: {"records", "final", "parked", "lost", "sap_duplicates", "faults_injected"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import keyed, raw_keys  # noqa: E402 - sets the bench's environment first

PIPELINE = ("ingest_raw_object", "normalize_chunks", "keep_state", "dispatch_to_sap", "collect_webhooks")
# what the operations API replays, DLQ by DLQ (each answers {"replayed": n} or the SAP replay's counts)
REPLAY_ROUTES = ("/ingest/replay", "/sap/replay", "/sources/replay", "/state-changes/replay", "/async-failures/replay")


@dataclass
class Tally:
    """What the run injected, and what it saw."""

    kills: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, began: float, text: str) -> None:
        with self.lock:
            self.events.append(f"{time.monotonic() - began:6.1f} s  {text}")


def aws_rules(seconds: float, share: float) -> list[dict[str, Any]]:
    """AWS misbehaving for `seconds`: each service on `share` of its requests; SES down until
    the faults are cleared (the schedules that mail run during the chaos, and a mail then
    fails for certain, however few are sent)."""
    return [
        {"service": "dynamodb", "kind": "throttle", "probability": share, "seconds": seconds},
        {
            "service": "dynamodb",
            "kind": "throttle",
            "code": "ThrottlingException",
            "probability": share / 2,
            "seconds": seconds,
        },
        {"service": "dynamodb", "status": 500, "probability": share / 4, "seconds": seconds},
        {"service": "sqs", "status": 500, "probability": share / 2, "seconds": seconds},
        {"service": "sqs", "status": 503, "probability": share / 2, "seconds": seconds},
        {"service": "s3", "status": 500, "probability": share / 2, "seconds": seconds},
        {"service": "s3", "status": 503, "probability": share / 2, "seconds": seconds},
        # SES down until the drain: the schedules that mail wait for their next fire
        {"service": "ses", "status": 503},
    ]


Event = tuple[float, str, Callable[[], Any]]  # (seconds from its clock's start, what, how)


def schedule(args: argparse.Namespace, stack: Any, tally: Tally, began: float) -> tuple[list[Event], list[Event]]:
    """The faults of the run on two clocks: from the first upload (AWS, the early workers, the
    schedules), and from SAP's first request (SAP's faults and the dispatcher's kills: SAP
    misbehaves while there is something to send)."""
    sap, emulator, runtime = stack.sap, stack.emulator, stack.runtime
    step = args.pace
    outage_at = args.outage_step * step

    def kill(name: str) -> Callable[[], Any]:
        def act() -> None:
            deadline = time.monotonic() + max(5.0, 2 * step)
            while time.monotonic() < deadline:  # a busy worker first: mid-batch
                if runtime.kill_a_worker(name):
                    tally.kills[name] += 1
                    return
                time.sleep(0.05)
            tally.note(began, f"no worker of {name} ran to kill")

        return act

    def fire(name: str) -> Callable[[], Any]:
        """A schedule firing as EventBridge would, in a thread of its own (it may fail: AWS misbehaves)."""

        def run() -> None:
            try:
                runtime.fire(name)
                tally.note(began, f"{name} ran")
            except Exception as error:  # noqa: BLE001 - a failed scheduled run waits for its next fire
                tally.note(began, f"{name} failed: {type(error).__name__}")

        return lambda: threading.Thread(target=run, name=f"fire-{name}", daemon=True).start()

    def burst() -> None:
        sap.add_fault(kind="status", status=500, count=max(1, args.storm // 2), path_contains="$batch")
        sap.add_fault(kind="status", status=503, count=max(1, args.storm // 2), path_contains="$batch")
        sap.add_fault(kind="reset", count=max(1, args.storm // 7), when="after", path_contains="$batch")

    def slow() -> None:
        sap.add_fault(kind="slow", delay=min(3.0, step), count=args.storm, path_contains="$batch")
        # longer than the SAP client's 30 s read timeout: SAP applied it, the answer is lost
        sap.add_fault(kind="slow", delay=args.lost_answer_delay, count=2, when="after", path_contains="$batch")

    storm = max(1.0, args.aws_seconds / 6)
    from_upload: list[Event] = [
        (0.0, "AWS faults on", lambda: emulator.set_faults(aws_rules(args.aws_seconds, args.aws_share))),
        (0.5 * step, "daily_summary fires (mail through SES)", fire("daily_summary")),
        (1 * step, "kill ingest_raw_object", kill("ingest_raw_object")),
        (2 * step, "kill normalize_chunks", kill("normalize_chunks")),
        (3 * step, "kill keep_state", kill("keep_state")),
        (3.5 * step, "dlq_watch fires", fire("dlq_watch")),
        (
            4 * step,
            "DynamoDB storm",
            lambda: emulator.set_faults(
                [{"service": "dynamodb", "kind": "throttle", "probability": 0.7, "seconds": storm}]
            ),
        ),
        (5 * step, "kill collect_webhooks", kill("collect_webhooks")),
        (6 * step, "kill normalize_chunks", kill("normalize_chunks")),
        (8 * step, "kill keep_state", kill("keep_state")),
        # again once the DynamoDB storm is over: the first run may fail before it mails (its
        # figures read while AWS misbehaves), and with no outage parking anything no alert mails
        (10 * step, "daily_summary fires again", fire("daily_summary")),
    ]
    from_sap: list[Event] = [
        (0.0, "SAP 429 storm", lambda: sap.add_fault(kind="status", status=429, count=2 * args.storm, retry_after=1)),
        (1 * step, "SAP 5xx burst, answers lost", burst),
        (2 * step, "kill dispatch_to_sap", kill("dispatch_to_sap")),
        (3 * step, "SAP slow answers", slow),
        (outage_at, f"SAP down for {args.outage:.0f} s", lambda: sap.add_fault(kind="down", seconds=args.outage)),
        (outage_at + args.outage / 2, "kill dispatch_to_sap", kill("dispatch_to_sap")),
        (outage_at + args.outage + step, "kill dispatch_to_sap", kill("dispatch_to_sap")),
    ]
    return from_upload, from_sap


def run_schedule(events: list[Event], tally: Tally, began: float, start: Callable[[], bool] | None = None) -> None:
    """Play `events` on their clock: from now, or from when `start()` first holds."""
    while start is not None and not start():
        time.sleep(0.1)
    zero = time.monotonic()
    for at, what, act in sorted(events, key=lambda event: event[0]):
        time.sleep(max(0.0, zero + at - time.monotonic()))
        tally.note(began, what)
        try:
            act()
        except Exception as error:  # noqa: BLE001 - a fault that could not be set is reported, not fatal
            tally.note(began, f"{what} failed: {type(error).__name__}: {error}")


def upload_all(stack: Any, files: list[Any], bucket: str) -> None:
    """Every file into the raw bucket, eight at a time; botocore retries S3's 5xx, and so do we."""
    from botocore.config import Config

    s3 = stack.session.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 10}))

    def upload(raw: Any) -> None:
        for attempt in range(10):
            try:
                s3.put_object(Bucket=bucket, Key=raw.key, Body=raw.content, Metadata={"source": raw.source})
                return
            except Exception:  # noqa: BLE001 - S3 misbehaving on purpose: try again, as a platform would
                time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"could not upload {raw.key}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, files))


def deliver_all(stack: Any, deliveries: list[bytes]) -> int:
    """Post every lead to the webhook route, eight at a time; a refused one is posted again, as
    Google retries. Returns the refusals seen."""
    import requests

    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))
    refusals = Counter[str]()

    def post(body: bytes) -> None:
        for attempt in range(20):
            try:
                answer = session.post(
                    f"{stack.api_url}/hooks/google-ads",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=60,
                )
                if answer.status_code == 200:
                    return
                refusals[str(answer.status_code)] += 1
            except requests.RequestException as error:
                refusals[type(error).__name__] += 1
            time.sleep(0.5 * (attempt + 1))
        raise RuntimeError("a webhook delivery was refused 20 times")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, deliveries))
    return sum(refusals.values())


def operator_headers(stack: Any) -> dict[str, str]:
    from chalicelib.auth.tokens import TokenStore

    tokens = TokenStore(stack.resources.table("config").name, stack.session.client("dynamodb"))
    return {"Authorization": f"Bearer {tokens.create('chaos-run', 'operator', 1).token}"}


def replay_everything(stack: Any, headers: dict[str, str]) -> dict[str, Any]:
    """Every DLQ back to its queue: the operations API's replays (the on-failure queue's too:
    S3 events that failed their retries), and the local S3-notification DLQs (events the
    on-failure queue could not take)."""
    import requests

    replayed: dict[str, Any] = {}
    for route in REPLAY_ROUTES:
        answer = requests.post(f"{stack.api_url}{route}", headers=headers, timeout=120)
        answer.raise_for_status()
        replayed[route] = answer.json()
    replayed["s3-notifications"] = stack.runtime.replay_s3_dead_letters()
    return replayed


def dead_letters(stack: Any) -> dict[str, int]:
    """Messages in every DLQ (the on-failure queue too), the declared ones and the local
    S3-notification ones."""
    from chalicelib.resources import DeadLetterQueue

    sqs = stack.session.client("sqs")
    urls = [
        sqs.get_queue_url(QueueName=q.name)["QueueUrl"]
        for q in stack.resources.all_queues()
        if isinstance(q, DeadLetterQueue)
    ]
    urls += list(stack.runtime.s3_dead_letters.values())
    depths = {}
    for url in urls:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        depths[url.rsplit("/", 1)[-1]] = sum(int(value) for value in attributes.values())
    return {name: count for name, count in depths.items() if count}


def count(stack: Any, bucket: str, batch_keys: list[str], sent: dict[str, int]) -> dict[str, Any]:
    """What the pipeline holds: documents by state (the State Keeper, over every raw file), in
    the lake (the local query engine), and what never reached them (lost before the State Keeper)."""
    from chalicelib import wiring
    from chalicelib.ingest.uploads import file_id_from_key
    from chalicelib.state_keeper.lifecycle import FINAL_STATES, State

    store, outcomes = wiring.state_store(), wiring.file_outcomes()
    ids: set[str] = set()
    files = raw_keys(stack.session.client("s3"), bucket, "incoming/")
    for key in files:
        ids |= store.file_document_ids(file_id_from_key(key))
    records = store.get_many(ids).values()
    states = Counter(record.state.value for record in records)
    sources = Counter(record.source for record in records)
    # every uploaded file split, every line of it read (its versions of one document count once below)
    split = {key: outcomes.get(file_id_from_key(key)) for key in batch_keys}
    lines_split = sum(outcome.records for outcome in split.values() if outcome is not None)
    table = wiring.lake_table()
    [(in_lake,)] = wiring.query_engine().run(f"SELECT count(DISTINCT document_id) FROM {table.qualified_name}").rows
    final = sum(n for state, n in states.items() if State(state) in FINAL_STATES and state != "PARKED")
    lake_expected = sum(n for state, n in states.items() if state not in ("INVALID", "ERASED"))
    never_received = (sum(sent.values()) - sent["google_ads"] - lines_split) + (
        sent["google_ads"] - sources.get("google_ads", 0)
    )
    return {
        "files": len(files),
        "files_unsplit": sum(1 for outcome in split.values() if outcome is None),
        "never_received": never_received,
        "sources": dict(sorted(sources.items())),
        "state_keeper": len(ids),
        "states": dict(sorted(states.items())),
        "final": final,
        "parked": states.get("PARKED", 0),
        "lake": int(in_lake),
        "lake_expected": lake_expected,
        # in flight for the State Keeper, missing from the lake, or never received at all
        "lost": (len(ids) - final - states.get("PARKED", 0)) + max(0, lake_expected - int(in_lake)) + never_received,
    }


def sap_faults(stats: dict[str, int]) -> dict[str, int]:
    """The stand-in's played faults, by kind."""
    return {
        "sap_429": stats.get("status_429", 0),
        "sap_5xx": stats.get("faults_status", 0) - stats.get("status_429", 0),
        "sap_outage": stats.get("faults_down", 0),
        "sap_slow": stats.get("faults_slow", 0),
        "sap_reset": stats.get("faults_reset", 0),
    }


def build_input(args: argparse.Namespace) -> tuple[list[Any], list[bytes], dict[str, int]]:
    """The batch sources' files, the webhook bodies, and the records they hold, by source."""
    from bench.fake_people import People, google_ads_webhook, lines, platform_files
    from devstack.platforms import GOOGLE_KEY

    files = keyed([f for f in platform_files(args.batch_records, args.seed) if f.source != "google_ads"])
    sources = {f.source for f in files}
    leads = lines("google_ads", args.webhook_records, People(args.seed + 2))
    deliveries = [
        json.dumps({**json.loads(google_ads_webhook(line)), "google_key": GOOGLE_KEY}).encode() for line in leads
    ]
    return files, deliveries, {**{source: args.batch_records for source in sorted(sources)}, "google_ads": len(leads)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-records", type=int, default=400, help="records per batch source (6 sources)")
    parser.add_argument("--webhook-records", type=int, default=300, help="Google Ads leads posted to the webhook")
    parser.add_argument("--outage", type=float, default=120.0, help="seconds SAP is down")
    parser.add_argument(
        "--storm", type=int, default=20, help="SAP requests hit by the 5xx burst and slowed (twice as many get 429)"
    )
    parser.add_argument(
        "--outage-step", type=float, default=5.0, help="the outage starts this many paces after SAP's first request"
    )
    parser.add_argument("--pace", type=float, default=6.0, help="seconds between the scheduled faults")
    parser.add_argument("--aws-seconds", type=float, default=90.0, help="seconds AWS misbehaves")
    parser.add_argument("--aws-share", type=float, default=0.1, help="share of a service's requests that fail")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of deliveries handed over twice")
    parser.add_argument("--visibility-timeout", type=int, default=40, help="seconds, every local queue")
    parser.add_argument(
        "--lost-answer-delay", type=float, default=32.0, help="seconds a slow answer takes (over the 30 s read timeout)"
    )
    parser.add_argument("--sap-capacity", type=float, default=1000.0, help="SAP stand-in requests/s")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a drain may take")
    parser.add_argument(
        "--lease", type=float, default=60.0, help="seconds of the SAP ledger's lease (a killed dispatcher's records)"
    )
    parser.add_argument("--no-faults", action="store_true", help="the same run without chaos (a control)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from chalicelib import wiring
    from devstack.child_process import free_port
    from devstack.stack import DevStack
    from devstack.standin_process import StandInProcess

    files, deliveries, sent_by_source = build_input(args)
    sent = sum(sent_by_source.values())
    batch_keys = [raw.key for raw in files]
    os.environ["SAP_LEASE_SECONDS"] = str(args.lease)
    stack = DevStack(
        emulator_port=0,
        api_port=free_port("127.0.0.1"),
        sap_capacity=args.sap_capacity,
        visibility_timeout=args.visibility_timeout,
    )
    stack.sap = StandInProcess(capacity=args.sap_capacity)  # type: ignore[assignment]
    wall = time.monotonic()
    stack.start()
    try:
        assert stack.runtime is not None
        wiring.reset()
        wiring.sap_throttle().configure(
            requests_per_second=args.sap_capacity * 0.95, records_per_second=args.sap_capacity * 95, burst_seconds=1.0
        )
        bucket = stack.resources.bucket("raw").name
        headers = operator_headers(stack)
        tally = Tally()
        began = time.monotonic()
        stack.runtime.deliver_twice(0.0 if args.no_faults else args.duplicates)
        from_upload, from_sap = ([], []) if args.no_faults else schedule(args, stack, tally, began)
        sap_busy = lambda: stack.sap.stats().get("requests", 0) > 0  # noqa: E731
        chaos = [
            threading.Thread(target=run_schedule, args=(from_upload, tally, began), name="chaos", daemon=True),
            threading.Thread(
                target=run_schedule, args=(from_sap, tally, began, sap_busy), name="chaos-sap", daemon=True
            ),
        ]
        for thread in chaos:
            thread.start()
        with ThreadPoolExecutor(2) as pool:
            uploaded = pool.submit(upload_all, stack, files, bucket)
            refused = pool.submit(deliver_all, stack, deliveries)
            uploaded.result()
            webhook_refusals = refused.result()
        tally.note(
            began, f"{len(files)} files uploaded, {len(deliveries)} leads delivered ({webhook_refusals} refusals)"
        )
        for thread in chaos:
            thread.join()
        drained = stack.runtime.wait_until_idle(timeout=args.timeout)
        tally.note(began, "drained" if drained else "NOT DRAINED")

        stack.emulator.set_faults([], clear=True)
        stack.sap.clear_faults()
        stack.runtime.deliver_twice(0.0)
        injected = {
            **sap_faults(stack.sap.stats()),
            "worker_kills": sum(tally.kills.values()),
            "duplicate_deliveries": sum(p.stats.duplicated_messages for p in stack.runtime.pollers),
            **stack.emulator.faults_injected(),
        }
        watched = stack.runtime.fire("dlq_watch")["result"]
        before = count(stack, bucket, batch_keys, sent_by_source)
        parked_in = dead_letters(stack)
        tally.note(began, f"dlq_watch: DLQs {parked_in or 'empty'}, alerted {watched['alerted']}")

        replays: list[dict[str, Any]] = []
        for _ in range(3):  # a replayed message may fail again; three rounds at most
            if not dead_letters(stack):
                break
            replays.append(replay_everything(stack, headers))
            stack.runtime.wait_until_idle(timeout=args.timeout)
            stack.runtime.fire("dlq_watch")
        tally.note(began, f"replayed {len(replays)} times, drained")
        after = count(stack, bucket, batch_keys, sent_by_source)
        held = stack.sap.records()["counts"]

        print("\nwhat happened (seconds from the first upload)")
        for line in tally.events:
            print(f"  {line}")
        print(f"\nworkers killed: {dict(tally.kills)}")
        print(f"faults injected: {injected}")
        failed = {p.function_name.rsplit("-", 1)[-1]: p.stats.failed_batches for p in stack.runtime.pollers}
        print(f"handler batches failed (back after the visibility timeout): {failed}")
        print(
            f"\nrecords sent {sent} (lines; a record's later state is a version of its document): "
            f"{len(files)} batch files and {len(deliveries)} webhook leads {sent_by_source}"
        )
        print(
            f"after the drain: State Keeper {before['state_keeper']} documents {before['states']}; "
            f"lake {before['lake']} (expected {before['lake_expected']}); "
            f"final {before['final']}, parked {before['parked']}, lost {before['lost']} "
            f"(never received {before['never_received']}, files unsplit {before['files_unsplit']}); "
            f"DLQs {parked_in or 'empty'}; alert mailed: {watched['alerted']} {watched.get('mailed', {})}"
        )
        print(f"replays: {replays}")
        lost = after["lost"]
        print(
            f"after the replay: State Keeper {after['state_keeper']} documents {after['states']}; "
            f"lake {after['lake']} (expected {after['lake_expected']}); "
            f"final {after['final']}, parked {after['parked']}, lost {lost} "
            f"(never received {after['never_received']}, files unsplit {after['files_unsplit']}); "
            f"DLQs {dead_letters(stack) or 'empty'}"
        )
        print(f"State Keeper documents by source: {after['sources']}")
        print(
            f"SAP holds {held['contacts']} contacts, {held['interactions']} interactions, "
            f"{held['duplicates']} duplicates"
        )
        print(f"wall time {time.monotonic() - wall:.0f} s")
        result = {
            "records": after["state_keeper"],
            "final": after["final"],
            "parked": after["parked"],
            "lost": lost,
            "sap_duplicates": held["duplicates"],
            "faults_injected": injected,
        }
        print(json.dumps(result))
        return result
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

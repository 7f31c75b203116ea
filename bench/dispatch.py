"""Benchmark: SAP dispatch through the local stack into the stand-in at a capacity of C requests/s.

Starts the local stack without the REST API (`DevStack`: the emulator, stage `local`, the
SAP stand-in at capacity C with the `sap` secret pointing at it, and the local runtime
polling every queue with `app.py`'s real handlers). The emulator always runs in a process
of its own (the stack's), and the stand-in too unless `--in-process`: as in AWS, DynamoDB,
SQS and SAP do not share the handlers' CPU (in one interpreter a DynamoDB call took
~100 ms under this load).
N normalized records (about two per subject) go through the SAP outbox onto the dispatch
FIFO queue and are reported QUEUED_FOR_SAP, as the normalize step does; `dispatch_to_sap`
takes them from there, throttled by the shared bucket in the config table (set to
`--throttle` x C requests/s, holding `--burst-seconds` of that rate), and `keep_state`
records every outcome. The run ends when every queue is empty and no handler runs.

Figures: throughput is what SAP accepted (requests not answered 429) per second, between
its first and its last request, as a fraction of C; the 429 share is of all SAP requests;
duplicates are the interactions SAP holds more than once (the stand-in's inspection
endpoint); not final are the queued documents the State Keeper does not hold in a final
state. Ledger write units per record are the sap-ledger table's, counted at the emulator's
door (`devstack/door_counts.py`: an UpdateItem bills one unit, a BatchWriteItem put its
item's size in KB), divided by N. Records per `$batch`
are `--records-per-request` (SAP's capacity is in requests, so smaller requests make the
run long enough to measure a rate).

    .venv/bin/python bench/dispatch.py --records 2000 --capacity 4

The last line is one JSON object:
{"throughput_fraction", "share_429", "duplicates", "not_final", "ledger_wru_per_record", "ledger_requests_per_record"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
# the dispatcher's JSON log lines and metrics would drown the figures (set these to see them)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
for _name in ("SAP_SECRET_ARN", "SAP_PARAMETER", "SAP_BASE_URL"):
    os.environ.pop(_name, None)  # the bench takes the deployed path: SAP_SECRET

START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def normalized_records(count: int) -> list:
    from chalicelib.normalize.schema import (
        Consent,
        Contact,
        Event,
        Interaction,
        InteractionType,
        Lineage,
        NormalizedRecord,
    )

    subjects = max(1, count // 2)
    return [
        NormalizedRecord(
            document_id=f"bench-{number:07d}",
            subject_id=f"subject-{number % subjects:07d}",
            contact=Contact(
                email=f"person{number % subjects}@example.com",
                first_name="Ann",
                last_name="Example",
                country="DE",
                language="de",
                marketing_consent=Consent(granted=True, source="form"),
            ),
            interaction=Interaction(
                type=InteractionType.TICKET_PURCHASE,
                occurred_at=START + timedelta(seconds=number),
                amount=Decimal("49.90"),
                currency="EUR",
            ),
            event=Event(id="summer-2026", name="Summer Festival"),
            lineage=Lineage(
                source="eventbrite",
                source_record_id=f"r{number}",
                raw_key="incoming/bench.json",
                position=number,
                ingested_at=START,
            ),
        )
        for number in range(count)
    ]


_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def ledger_writes(stack: Any, table: str) -> tuple[float, int]:
    """The ledger table's write units and requests, from the emulator's door."""
    rows = [row for row in stack.emulator.request_counts() if row["service"] == "dynamodb" and row["resource"] == table]
    units = sum(row["units"] for row in rows if row["operation"] in _WRITES)
    return float(units), sum(row["requests"] for row in rows)


class RequestClock:
    """Samples the stand-in's request counter: when SAP saw its first and its last request."""

    def __init__(self, standin: object, interval: float = 0.02) -> None:
        self.standin, self.interval = standin, interval
        self.first: float | None = None
        self.last: float | None = None
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            requests = self.standin.stats().get("requests", 0)  # type: ignore[attr-defined]
            if requests != self._seen:
                now = time.monotonic()
                self.first = self.first or now
                self.last, self._seen = now, requests

    def __enter__(self) -> RequestClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000, help="normalized records sent")
    parser.add_argument("--capacity", type=float, default=4.0, help="C: requests/s the stand-in takes")
    parser.add_argument("--throttle", type=float, default=0.95, help="the throttle's requests/s as a fraction of C")
    parser.add_argument(
        "--burst-seconds",
        type=float,
        default=0.5,
        help="the throttle's bucket in seconds of its rate (the stand-in takes 1 s of C)",
    )
    parser.add_argument("--records-per-request", type=int, default=10, help="changesets per $batch")
    parser.add_argument(
        "--records-per-message", type=int, default=20, help="records per queue message (10 messages per handler call)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the SAP stand-in in this process (default: in its own, so it does not share "
        "an interpreter with the handlers; the emulator always has its own)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the queues to drain")
    args = parser.parse_args()
    os.environ["SAP_RECORDS_PER_REQUEST"] = str(args.records_per_request)

    from chalicelib import wiring
    from chalicelib.sap.outbox import SapOutbox
    from chalicelib.state_keeper.lifecycle import FINAL_STATES, State, StateChange
    from devstack.stack import DevStack
    from devstack.standin_process import StandInProcess

    stack = DevStack(emulator_port=0, api_port=None, sap_capacity=args.capacity)
    if not args.in_process:  # as in AWS: SAP does not share the dispatchers' CPU
        stack.sap = StandInProcess(capacity=args.capacity)  # type: ignore[assignment]
    stack.start()
    try:
        assert stack.runtime is not None
        wiring.reset()
        wiring.sap_throttle().configure(
            requests_per_second=args.capacity * args.throttle,
            records_per_second=args.capacity * args.throttle * args.records_per_request,
            burst_seconds=args.burst_seconds,
        )
        records = normalized_records(args.records)
        with RequestClock(stack.sap) as clock:
            began = time.monotonic()
            outbox = SapOutbox(
                wiring.sap_outbox().queue_url, wiring.client("sqs"), per_message=args.records_per_message
            )
            result = outbox.send(records)
            with wiring.state_reporter() as reporter:
                queued_at = datetime.now(UTC)
                for document_id in result.queued:
                    reporter.report(
                        StateChange(
                            document_id=document_id, state=State.QUEUED_FOR_SAP, at=queued_at, component="normalize"
                        )
                    )
            print(
                f"queued {len(result.queued)} records ({len(result.unsendable)} unsendable) "
                f"in {time.monotonic() - began:.1f} s"
            )
            drained = stack.runtime.wait_until_idle(timeout=args.timeout)
            seconds = time.monotonic() - began
        stats = stack.sap.stats()
        ledger_units, ledger_requests = ledger_writes(stack, wiring.resources().table("sap-ledger").name)
        sap_records = stack.sap.records()["counts"]
        queries = wiring.state_queries()
        with ThreadPoolExecutor(8) as pool:
            states = list(pool.map(lambda document_id: queries.get_document(document_id)["state"], result.queued))
        not_final = sum(1 for state in states if State(state) not in FINAL_STATES)
        by_state: dict[str, int] = {}
        for state in states:
            by_state[state] = by_state.get(state, 0) + 1

        requests, too_many = stats.get("requests", 0), stats.get("status_429", 0)
        window = (clock.last or 0) - (clock.first or 0)
        throughput = (requests - too_many) / window if window > 0 else 0.0
        print(f"drained: {drained} after {seconds:.1f} s; SAP busy for {window:.1f} s")
        print(
            f"SAP requests: {requests} ({too_many} answered 429, {stats.get('status_503', 0)} 503); "
            f"batches {stats.get('batches', 0)}, changesets applied {stats.get('changesets_applied', 0)}"
        )
        print(
            f"accepted {throughput:.1f} requests/s at a capacity of {args.capacity:g} "
            f"(throttle {args.capacity * args.throttle:g}/s, {args.records_per_request} records per request)"
        )
        print(
            f"SAP holds {sap_records['contacts']} contacts, {sap_records['interactions']} interactions, "
            f"{sap_records['duplicates']} duplicates"
        )
        print("State Keeper:", dict(sorted(by_state.items())))
        print(f"sap-ledger: {ledger_units:.0f} write units, {ledger_requests} requests (reads included)")
        print(
            "pollers:",
            {
                name: vars(poller.stats)
                for name, poller in ((p.function_name, p) for p in stack.runtime.pollers)
                if "sap" in name
            },
        )
        print(
            json.dumps(
                {
                    "throughput_fraction": round(throughput / args.capacity, 3),
                    "share_429": round(too_many / requests, 4) if requests else 0.0,
                    "duplicates": sap_records["duplicates"],
                    "not_final": not_final,
                    "ledger_wru_per_record": round(ledger_units / args.records, 3),
                    "ledger_requests_per_record": round(ledger_requests / args.records, 3),
                }
            )
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

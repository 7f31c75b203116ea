"""Benchmark: the State Keeper's cost per document and its lookup latency versus volume.

Starts its own emulator, provisions stage `local`, and pushes a realistic lifecycle for
N documents through the real path: `StateReporter` → SQS → `handle_state_change_messages`
→ DynamoDB. The lifecycle is the normal one, reported where the pipeline knows it:

* normalize, per chunk of `--chunk` records: RECEIVED, NORMALIZED, QUEUED_FOR_SAP
  (one SQS message per chunk);
* SAP dispatch, 20-90 s later: DELIVERED, as the dispatcher reports it. The outbox packs a
  chunk's records into one message per subject shard; a dispatch run takes 10 messages
  (the queue's batch size), sends each as one SAP batch, and reports all their documents
  DELIVERED at one time in one message.

The handler receives up to 10 messages per call (the event source's batch size) and
normalize runs are drained before dispatch runs, as the SAP throttle keeps them apart.

Write units are computed from what is sent, with DynamoDB's rules (moto answers
ReturnConsumedCapacity with a constant per call whatever the item size — checked in
moto/dynamodb/responses.py — so it cannot be used): `CapacityMeter` below — an item's size
is the sum of its attribute names and values; a write costs ceil(size / 1 KB), an overwrite
or update the larger of old and new size, a failed conditional write the existing item's
size (at least 1), a delete the old size, a transactional write twice that, a
BatchWriteItem put like a put; a GSI costs one write per index item put or deleted (two
when its key changes). Requests are counted with
botocore `before-call` hooks on the clients. Lookups: `DynamoStateStore.get` (the document's
item, then its outcome page), median of `--lookups` random keys in each of two tables of
their own, one bulk-loaded with 1,000 and one with 100,000 delivered documents laid out as
the handler lays them out (BatchWriteItem, outside the measured lifecycle). The two are
sampled in alternating rounds, so the machine's load drifts alike on both, and the emulator
runs in a process of its own (as in the other benches), so its heap is not the bench's.

    .venv/bin/python bench/state_keeper.py --documents 2000

The last line is one JSON object: {"wru_per_document", "ddb_requests_per_document",
"sqs_requests_per_document", "lookup_ms_1k", "lookup_ms_100k", "lookup_ratio"}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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

SOURCES = ("eventbrite", "facebook-leads", "google-ads", "amazon", "ticketshop-de")
START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


# -- write units, by DynamoDB's item size rules ---------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(content)
    if kind in ("SS",):
        return sum(len(v.encode()) for v in content)
    if kind == "NS":
        return sum(value_size({"N": v}) for v in content)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in content.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in content)
    return 1  # BOOL, NULL


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class CapacityMeter:
    """Counts requests and write units of every call a client makes (botocore hooks)."""

    def __init__(self, table: str, index_attribute: str = "subject") -> None:
        self.table = table
        self.index_attribute = index_attribute
        self.shadow: dict[tuple[str, str], dict[str, Any]] = {}  # what each key holds now
        self.requests: Counter[str] = Counter()
        self.write_units = 0.0
        self.index_units = 0.0
        self.document_units = 0.0
        self.outcome_page_units = 0.0
        self.counter_units = 0.0
        self.enabled = True
        self._pending: dict[int, Any] = {}

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.enabled:
            self.requests[f"{model.service_model.service_name}:{model.name}"] += 1

    def _after(self, model: Any, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.enabled or model.service_model.service_name != "dynamodb":
            return
        params = context.get("bench_params") or {}
        failed = http_response.status_code >= 300
        operation = model.name
        if operation == "PutItem":
            self._put(params["Item"], failed)
        elif operation == "UpdateItem":
            self._update(params, failed)
        elif operation == "DeleteItem":
            key = _key(params["Key"])
            self.write_units += units(item_size(self.shadow.get(key, {})))
            if not failed:
                self.shadow.pop(key, None)
        elif operation == "BatchWriteItem":
            unprocessed = {
                json.dumps(r, sort_keys=True) for rs in (parsed.get("UnprocessedItems") or {}).values() for r in rs
            }
            for requests in params["RequestItems"].values():
                for entry in requests:
                    if failed or json.dumps(entry, sort_keys=True) in unprocessed:
                        continue
                    if "PutRequest" in entry:
                        self._put(entry["PutRequest"]["Item"], failed=False)
                    else:
                        key = _key(entry["DeleteRequest"]["Key"])
                        self.write_units += units(item_size(self.shadow.pop(key, {})))
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                if "Put" in entry:
                    before = self.write_units
                    self._put(entry["Put"]["Item"], failed)
                    self.write_units += self.write_units - before  # transactional: twice
                elif "Update" in entry:
                    before = self.write_units
                    self._update(entry["Update"], failed)
                    self.write_units += self.write_units - before

    def _put(self, item: dict[str, Any], failed: bool) -> None:
        key = _key(item)
        old = self.shadow.get(key)
        if failed:  # a failed condition still costs the existing item's size
            self.write_units += units(item_size(old or {}))
            return
        cost = units(max(item_size(item), item_size(old or {})))
        self.write_units += cost
        if key[0].startswith("doc#"):
            self.document_units += cost
        elif key[0].startswith("out#"):
            self.outcome_page_units += cost
        elif key[0].startswith(("stats#", "msg#")):
            self.counter_units += cost
        self._index(old, item)
        self.shadow[key] = item

    def _update(self, request: dict[str, Any], failed: bool) -> None:
        key = _key(request["Key"])
        old = self.shadow.get(key) or dict(request["Key"])
        new = dict(old)
        expression = request["UpdateExpression"]
        names = request.get("ExpressionAttributeNames", {})
        values = request.get("ExpressionAttributeValues", {})
        action, _, clauses = expression.partition(" ")
        for clause in clauses.split(", "):
            name, placeholder = clause.split(" ")
            name = names.get(name, name)
            value = values[placeholder]
            if action == "ADD":
                current = int(new.get(name, {"N": "0"})["N"])
                new[name] = {"N": str(current + int(value["N"]))}
            elif action == "DELETE":
                left = sorted(set(new.get(name, {"SS": []})["SS"]) - set(value["SS"]))
                if left:
                    new[name] = {"SS": left}
                else:
                    new.pop(name, None)
        cost = units(max(item_size(old), item_size(new)))
        self.write_units += cost
        if key[0].startswith(("stats#", "msg#")):
            self.counter_units += cost
        if not failed:
            self.shadow[key] = new

    def _index(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        before = (old or {}).get(self.index_attribute)
        after = new.get(self.index_attribute)
        if before != after:
            changed = (1 if before else 0) + (1 if after else 0)  # delete old, put new index item
            self.index_units += changed
            self.write_units += changed


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["bench_params"] = params


# -- the lifecycle ---------------------------------------------------------------------------


def lifecycles(documents: int, chunk: int, rng: random.Random) -> tuple[list[list[Any]], list[list[Any]]]:
    """(normalize runs, dispatch runs): the changes each run reports.

    Normalize reports a chunk's RECEIVED, NORMALIZED and QUEUED_FOR_SAP in one run. Its
    records go to the SAP outbox as the outbox packs them: one message per chunk and
    subject shard (`sap.outbox.pack`); a dispatch run takes the next 10 messages (the
    queue's batch size), sends each as one SAP batch, and reports DELIVERED for all of
    them at the run's end."""
    from chalicelib.state_keeper.lifecycle import State, StateChange
    from chalicelib.subjects.shards import DEFAULT_SHARDS, shard_of

    normalize_runs: list[list[Any]] = []
    outbox: list[tuple[datetime, list[StateChange]]] = []  # (queued at, QUEUED_FOR_SAP changes)
    for start in range(0, documents, chunk):
        file_number = start // (chunk * 10)
        file_id = f"file-{file_number:05d}"
        source = SOURCES[file_number % len(SOURCES)]
        chunk_id = f"{file_id}-{(start // chunk) % 10:05d}"
        began = START + timedelta(seconds=start / chunk * 2)
        run: list[StateChange] = []
        shards: dict[int, list[StateChange]] = {}
        for _ in range(start, min(start + chunk, documents)):
            document_id = str(uuid.UUID(int=rng.getrandbits(128)))
            subject_id = f"{rng.getrandbits(256):064x}"
            at = began + timedelta(milliseconds=rng.randrange(0, 800))
            common = {
                "document_id": document_id,
                "component": "normalize",
                "file_id": file_id,
                "chunk_id": chunk_id,
                "source": source,
            }
            queued = StateChange(state=State.QUEUED_FOR_SAP, at=at + timedelta(milliseconds=5), **common)
            run += [
                StateChange(state=State.RECEIVED, at=at, subject_id=subject_id, **common),
                StateChange(state=State.NORMALIZED, at=at + timedelta(milliseconds=3), subject_id=subject_id, **common),
                queued,
            ]
            shards.setdefault(shard_of(subject_id, DEFAULT_SHARDS), []).append(queued)
        normalize_runs.append(run)
        outbox += [(began + timedelta(seconds=1), shards[shard]) for shard in sorted(shards)]
    dispatch_runs = []
    for first in range(0, len(outbox), 10):
        messages = outbox[first : first + 10]
        reported_at = messages[-1][0] + timedelta(seconds=rng.uniform(20, 90))
        dispatch_runs.append(
            [
                StateChange(
                    document_id=queued.document_id,
                    state=State.DELIVERED,
                    component="sap-dispatch",
                    at=reported_at,
                    sap_batch_id=f"sap-message-{first + number:06d}",
                )
                for number, (_, changes) in enumerate(messages)
                for queued in changes
            ]
        )
    return normalize_runs, dispatch_runs


def report_and_keep(runs: list[list[Any]], sqs: Any, url: str, store: Any) -> int:
    """Each run reports through its own reporter; then the queue is drained like Lambda would."""
    from chalicelib.state_keeper.handler import handle_state_change_messages
    from chalicelib.state_keeper.reporter import StateReporter

    for run in runs:
        with StateReporter(url, client=sqs) as reporter:
            reporter.report_all(run)
    failures = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return failures
        failed = set(handle_state_change_messages([m["Body"] for m in messages], store))
        failures += len(failed)
        done = [m for i, m in enumerate(messages) if i not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )


# -- lookups -----------------------------------------------------------------------------------


def bulk_load(dynamodb: Any, table: str, count: int, rng: random.Random) -> list[str]:
    """`count` delivered documents written straight to the table (not measured), laid out
    as the handler lays them out: items queued for SAP plus their outcome pages."""
    from chalicelib.state_keeper.document_record import entry_from_change, merge
    from chalicelib.state_keeper.outcome_pages import outcome_page_item, with_outcome_page
    from chalicelib.state_keeper.table_layout import document_item

    normalize_runs, dispatch_runs = lifecycles(count, 500, rng)
    items, page_of = [], {}
    for number, run in enumerate(normalize_runs):
        by_document: dict[str, list[Any]] = {}
        for change in run:
            by_document.setdefault(change.document_id, []).append((change, f"bulk-n{number}"))
        for document_id, pairs in by_document.items():
            record = with_outcome_page(merge(None, pairs))
            page_of[document_id] = record.outcome_page
            items.append(document_item(record))
    pages: dict[str, dict[str, list[Any]]] = {}
    for number, run in enumerate(dispatch_runs):
        for change in run:
            pages.setdefault(page_of[change.document_id], {})[change.document_id] = [
                entry_from_change(change, f"bulk-d{number}")
            ]
    items += [outcome_page_item(page, entries, version=0) for page, entries in pages.items()]

    def write(batch: list[dict[str, Any]]) -> None:
        request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, [items[i : i + 25] for i in range(0, len(items), 25)]))
    return list(page_of)


def lookup_ms(stores: list[tuple[Any, list[str]]], samples: int, rng: random.Random, rounds: int = 10) -> list[float]:
    """Median lookup milliseconds per (store, keys), sampled in alternating rounds."""
    timings: list[list[float]] = [[] for _ in stores]
    for store, keys in stores:
        for key in rng.sample(keys, 20):  # warm the connection pool
            store.get(key)
    for _ in range(rounds):
        for (store, keys), taken in zip(stores, timings):
            for key in [rng.choice(keys) for _ in range(max(1, samples // rounds))]:
                began = time.perf_counter()
                record = store.get(key)
                taken.append((time.perf_counter() - began) * 1000)
                assert record is not None
    return [statistics.median(t) for t in timings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=2000, help="documents pushed through the handler")
    parser.add_argument("--chunk", type=int, default=200, help="records per chunk and per SAP batch")
    parser.add_argument("--lookups", type=int, default=500, help="GetItem samples per table size")
    parser.add_argument("--large", type=int, default=100_000, help="documents in the large table")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import boto3
    from botocore.config import Config

    from chalicelib.resources import for_stage
    from chalicelib.state_keeper.dynamo_store import DynamoStateStore
    from devstack.emulator_process import EmulatorProcess
    from devstack.provision import create_table, provision

    rng = random.Random(args.seed)
    emulator = EmulatorProcess()
    emulator.start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    try:
        session = boto3.Session(region_name="eu-central-1")
        resources = for_stage("local")
        provision(resources, session)
        table = resources.table("state").name
        config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
        dynamodb, sqs = session.client("dynamodb", config=config), session.client("sqs", config=config)
        meter = CapacityMeter(table)
        for client in (dynamodb, sqs):
            client.meta.events.register("before-parameter-build", _keep_params)
            meter.attach(client)
        url = sqs.get_queue_url(QueueName=resources.queue("state-changes").name)["QueueUrl"]
        store = DynamoStateStore(table, dynamodb, clock=lambda: START + timedelta(hours=2))
        meter.requests.clear()

        began = time.perf_counter()
        normalize_runs, dispatch_runs = lifecycles(args.documents, args.chunk, rng)
        failures = report_and_keep(normalize_runs, sqs, url, store)
        failures += report_and_keep(dispatch_runs, sqs, url, store)
        seconds = time.perf_counter() - began
        meter.enabled = False
        n = args.documents
        ddb = sum(v for k, v in meter.requests.items() if k.startswith("dynamodb:"))
        sqs_requests = sum(v for k, v in meter.requests.items() if k.startswith("sqs:"))
        print(f"lifecycle of {n} documents in {seconds:.1f} s ({failures} failed message deliveries)")
        print("requests:", dict(sorted(meter.requests.items())))
        rest = meter.write_units - meter.document_units - meter.index_units - meter.outcome_page_units
        print(
            f"write units: {meter.write_units:.0f} total = {meter.document_units:.0f} document items"
            f" + {meter.index_units:.0f} subject index + {meter.outcome_page_units:.0f} outcome pages"
            f" + {rest:.0f} state pages, file pages and counters (counter items:"
            f" {meter.counter_units:.0f})"
        )
        doc_sizes = [item_size(i) for (pk, _), i in meter.shadow.items() if pk.startswith("doc#")]
        print(f"document item size: max {max(doc_sizes)} B, mean {statistics.mean(doc_sizes):.0f} B")
        lifecycle_check = store.get(dispatch_runs[0][0].document_id)
        assert lifecycle_check is not None and lifecycle_check.state.value == "DELIVERED"

        # Lookups on tables of their own, so "1,000 stored documents" means exactly that.
        lookups = []
        for size in (1000, args.large):
            lookup_table = replace(resources.table("state"), name=f"{table}-lookups-{size}")
            create_table(dynamodb, lookup_table)
            loaded = time.perf_counter()
            keys = bulk_load(dynamodb, lookup_table.name, size, rng)
            print(f"bulk-loaded {len(keys)} documents in {time.perf_counter() - loaded:.0f} s")
            store = DynamoStateStore(lookup_table.name, dynamodb, clock=lambda: START + timedelta(hours=2))
            lookups.append((store, keys))
        small, large = lookup_ms(lookups, args.lookups, rng)
        print(f"lookup by key at 1,000 documents: median {small:.2f} ms; at {args.large:,}: median {large:.2f} ms")

        print(
            json.dumps(
                {
                    "wru_per_document": round(meter.write_units / n, 3),
                    "ddb_requests_per_document": round(ddb / n, 3),
                    "sqs_requests_per_document": round(sqs_requests / n, 4),
                    "lookup_ms_1k": round(small, 3),
                    "lookup_ms_100k": round(large, 3),
                    "lookup_ratio": round(large / small, 3),
                }
            )
        )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

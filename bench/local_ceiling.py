"""Benchmark: how many records an hour the local stack's DynamoDB process can carry at most.

Every record costs the local stack some DynamoDB requests (the State Keeper's document, the
SAP ledger's pointer, their reads), and the emulator's DynamoDB process serves them on one
core (one Python interpreter). This bench measures what one request of each kind costs that
process in CPU, and multiplies by the requests per record that `bench/pipeline.py` counted
(`bench/results/pipeline-requests.json`, the `batch` mix): the CPU a record costs it, and
the records an hour it could carry with a whole core to itself and nothing else waiting.
That is an upper bound of `records_per_hour_batch` on this machine, whatever the handlers do.

Each kind runs for `--seconds` with `--clients` threads of their own boto3 clients against
a table of the stage's key schema: a conditional PutItem of a new item (the ledger's first
claim, `attribute_not_exists(pk)`), a conditional PutItem on a version (the State Keeper's
document, `v = :seen`), a four-term condition (the ledger's before it used the one-term one),
a GetItem, a BatchGetItem of 100 keys and a BatchWriteItem of 25 items (per key or item).

    .venv/bin/python bench/local_ceiling.py
    .venv/bin/python bench/local_ceiling.py --seconds 20 --clients 8

The last line is one JSON object: {"ms_per_request", "dynamodb_ms_per_record",
"ceiling_records_per_hour", "target_ratio"} (the ceiling over the 1,000,000 an hour goal).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }
)

import boto3
from botocore.config import Config

from bench.pipeline import process_cpu_seconds
from devstack.emulator_process import EmulatorProcess

TABLE = "ceiling"
TARGET_RECORDS_PER_HOUR = 1_000_000
REQUESTS_FILE = Path(__file__).resolve().parent / "results" / "pipeline-requests.json"
ITEM_BYTES = 600  # about a ledger record item or a small document
SEEDED = [f"seed#{n}" for n in range(100)]  # items the reads read


def item(key: str, version: int = 1) -> dict[str, Any]:
    return {"pk": {"S": key}, "sk": {"S": "doc"}, "v": {"N": str(version)}, "h": {"S": "x" * ITEM_BYTES}}


def kinds(client: Any) -> dict[str, tuple[Callable[[], None], int]]:
    """Each kind of request as a call, and how many keys or items one call carries."""

    def new_key() -> str:
        return f"record#{uuid.uuid4().hex}"

    def put_absent() -> None:
        client.put_item(TableName=TABLE, Item=item(new_key()), ConditionExpression="attribute_not_exists(pk)")

    def put_four_terms() -> None:
        client.put_item(
            TableName=TABLE,
            Item=item(new_key()),
            ConditionExpression=(
                "attribute_not_exists(#claim) AND (attribute_not_exists(#state) OR #state = :pending)"
                " AND attribute_not_exists(#parked_at)"
            ),
            ExpressionAttributeNames={"#claim": "claim", "#state": "state", "#parked_at": "parked_at"},
            ExpressionAttributeValues={":pending": {"S": "PENDING"}},
        )

    def put_on_version() -> None:
        key = new_key()
        client.put_item(TableName=TABLE, Item=item(key, 1), ConditionExpression="attribute_not_exists(pk)")
        client.put_item(
            TableName=TABLE,
            Item=item(key, 2),
            ConditionExpression="v = :seen",
            ExpressionAttributeValues={":seen": {"N": "1"}},
        )

    def get() -> None:
        client.get_item(TableName=TABLE, Key={"pk": {"S": SEEDED[0]}, "sk": {"S": "doc"}}, ConsistentRead=True)

    def batch_get() -> None:
        keys = [{"pk": {"S": key}, "sk": {"S": "doc"}} for key in SEEDED]
        client.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})

    def batch_write() -> None:
        client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item(new_key())}} for _ in range(25)]})

    return {
        "PutItem if absent": (put_absent, 1),
        "PutItem if absent, four terms": (put_four_terms, 1),
        "PutItem if absent, then on its version": (put_on_version, 2),
        "GetItem": (get, 1),
        "BatchGetItem per key": (batch_get, 100),
        "BatchWriteItem per item": (batch_write, 25),
    }


def measure(pid: int, make_client: Callable[[], Any], name: str, clients: int, seconds: float) -> float:
    """Server CPU milliseconds per key or item of one kind, with `clients` threads at once."""
    calls = [kinds(make_client())[name] for _ in range(clients)]
    done = [0] * clients
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        call, _ = calls[index]
        while time.monotonic() < stop:
            call()
            done[index] += 1

    before = process_cpu_seconds(pid)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = process_cpu_seconds(pid) - before
    units = sum(done) * calls[0][1]
    return 1000 * used / units if units else float("nan")


# which measured kind prices each counted operation (per request, or per key/item in a batch)
PRICED_AS = {
    "PutItem": "PutItem if absent, then on its version",
    "UpdateItem": "PutItem if absent, then on its version",
    "DeleteItem": "PutItem if absent",
    "GetItem": "GetItem",
    "Query": "GetItem",
    "BatchGetItem": "BatchGetItem per key",
    "BatchWriteItem": "BatchWriteItem per item",
}


def ms_per_record(
    ms: dict[str, float], path: Path = REQUESTS_FILE, mix: str = "batch"
) -> tuple[float, dict[str, float]]:
    """The DynamoDB process's CPU per record: counted requests (batches by their keys or
    items: read or write units, as the items are small) times each kind's cost."""
    counted = json.loads(path.read_text())["per_record"][mix]["requests"]
    parts: dict[str, float] = {}
    for row in counted:
        if row["service"] != "dynamodb" or row["operation"] not in PRICED_AS:
            continue
        batch = row["operation"].startswith("Batch")
        amount = row["units"] if batch else row["requests"]
        label = f"{row['operation']} {row['resource']}"
        parts[label] = parts.get(label, 0.0) + amount * ms[PRICED_AS[row["operation"]]]
    return sum(parts.values()), parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per kind of request")
    parser.add_argument("--clients", type=int, default=4, help="client threads at once")
    parser.add_argument("--requests", type=Path, default=REQUESTS_FILE, help="the pipeline bench's counts")
    args = parser.parse_args()

    emulator = EmulatorProcess(own_dynamodb=True)
    emulator.start()
    try:
        pid = emulator.dynamodb_pid
        assert pid is not None
        config = Config(max_pool_connections=args.clients * 2, retries={"mode": "standard", "max_attempts": 5})

        def make_client() -> Any:
            return boto3.client("dynamodb", endpoint_url=emulator.dynamodb_endpoint, config=config)

        client = make_client()
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for start in range(0, len(SEEDED), 25):
            client.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": item(key)}} for key in SEEDED[start : start + 25]]}
            )
        ms: dict[str, float] = {}
        for name in kinds(client):
            ms[name] = measure(pid, make_client, name, args.clients, args.seconds)
            print(f"{name:42} {ms[name]:6.2f} ms of the DynamoDB process's CPU per request, key or item")
    finally:
        emulator.stop()

    per_record, parts = ms_per_record(ms, args.requests)
    ceiling = 3_600_000 / per_record if per_record else 0.0
    print(f"\nper record (batch mix of {args.requests.name}): {per_record:.2f} ms")
    for label, value in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {label:34} {value:6.2f} ms")
    ratio = ceiling / TARGET_RECORDS_PER_HOUR
    print(f"ceiling with one whole core: {ceiling:,.0f} records an hour, {ratio:.2f} of the goal")
    print(
        json.dumps(
            {
                "ms_per_request": {name: round(value, 3) for name, value in ms.items()},
                "dynamodb_ms_per_record": round(per_record, 2),
                "ceiling_records_per_hour": round(ceiling),
                "target_ratio": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

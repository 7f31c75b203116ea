"""Benchmark: what buffering does to webhook deliveries — raw files, requests and cost per delivery.

Starts its own emulator (stage `local`) and the platforms' stand-ins, posts N single-lead
Google Ads webhooks and N/10 signed Meta notifications through `app.py`'s routes (Chalice's
test client: the route code as Lambda runs it, without an HTTP hop), 5 % of them twice (a
platform's retry), then hands the webhook queue to the collector in batches of the declared
size, as the event source mapping would. AWS requests are counted with botocore
`provide-client-params` hooks on the engine's clients; the modelled cost uses DESIGN.md's prices
(eu-central-1): SQS $0.40/M requests, S3 PUT $0.0054/1k, DynamoDB on demand $0.7625/M
write units and $0.1525/M read units (markers and counters are under 1 KB: one unit per
item), Lambda $0.20/M invocations plus 128 MB x the measured handler time, API Gateway REST
$3.50/M requests.

    .venv/bin/python bench/webhooks.py --leads 1000

The last line is one JSON object: {"deliveries", "raw_files", "deliveries_per_raw_file",
"duplicates_stored", "route_ms_p50", "route_ms_p95", "aws_requests_per_delivery",
"usd_per_million_deliveries"}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
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

PRICE = {
    "sqs_request": 0.40e-6,
    "s3_put": 0.0054e-3,
    "s3_get": 0.00043e-3,
    "ddb_wru": 0.7625e-6,
    "ddb_rru": 0.1525e-6,
    "lambda_request": 0.20e-6,
    "lambda_gb_second": 0.0000166667,
    "api_request": 3.50e-6,
}
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


class RequestCounter:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()  # DynamoDB items written (BatchWrite) and read (BatchGet)

    def watch(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        self.requests[name] += 1
        if model.name == "BatchWriteItem":
            self.items["ddb_written"] += sum(len(v) for v in params["RequestItems"].values())
        elif model.name == "BatchGetItem":
            self.items["ddb_read"] += sum(len(v["Keys"]) for v in params["RequestItems"].values())
        elif model.name in WRITES:
            self.items["ddb_written"] += 1
        elif model.name == "GetItem":
            self.items["ddb_read"] += 1

    def cost(self, lambda_seconds: float, invocations: int, api_requests: int) -> dict[str, float]:
        sqs = sum(n for name, n in self.requests.items() if name.startswith("sqs:"))
        return {
            "sqs": sqs * PRICE["sqs_request"],
            "s3": self.requests["s3:PutObject"] * PRICE["s3_put"] + self.requests["s3:GetObject"] * PRICE["s3_get"],
            "dynamodb": self.items["ddb_written"] * PRICE["ddb_wru"] + self.items["ddb_read"] * PRICE["ddb_rru"] / 2,
            "lambda": invocations * PRICE["lambda_request"] + lambda_seconds * 0.125 * PRICE["lambda_gb_second"],
            "api_gateway": api_requests * PRICE["api_request"],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000, help="Google leads (Meta notifications: a tenth of it)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    import boto3
    from chalice.test import Client

    from chalicelib import wiring
    from chalicelib.resources import for_stage
    from devstack import platforms
    from devstack.emulator import Emulator
    from devstack.platforms import LocalPlatforms, put_source_settings
    from devstack.provision import provision
    from devstack.stack import load_app
    from platformstandins import google_ads as google_standin
    from platformstandins import graph as graph_standin

    emulator = Emulator(port=0)
    emulator.start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    local = LocalPlatforms().start()
    try:
        resources = for_stage("local")
        session = boto3.Session(region_name="eu-central-1")
        provision(resources, session, secret_values=local.secret_values())
        put_source_settings(wiring.source_states())
        app = load_app().app
        counter = RequestCounter()
        for service in ("sqs", "s3", "dynamodb", "secretsmanager"):
            counter.watch(wiring.client(service))

        now = datetime.now(UTC)
        google = [google_standin.make_lead(platforms.GOOGLE_KEY, submitted=now) for _ in range(args.leads)]
        meta_leads = [
            graph_standin.make_lead(platforms.META_FORM, now, lead_id=str(8_000_000_000_000_000 + n))
            for n in range(max(1, args.leads // 10))
        ]
        local.graph.add_leads(meta_leads)
        posts: list[tuple[str, bytes, dict[str, str]]] = []
        for lead in google:
            posts.append(("/hooks/google-ads", json.dumps(lead).encode(), {"Content-Type": "application/json"}))
        for lead in meta_leads:
            body = json.dumps(graph_standin.leadgen_notification(lead, platforms.META_PAGE)).encode()
            signature = graph_standin.signature_header(body, platforms.META_APP_SECRET)
            posts.append(("/hooks/meta", body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}))
        retries = rng.sample(posts, k=len(posts) // 20)
        posts += retries
        rng.shuffle(posts)

        route_ms: list[float] = []
        with Client(app, stage_name="local") as client:
            for path, body, headers in posts:
                started = time.perf_counter()
                response = client.http.post(path, headers=headers, body=body)
                route_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.body
        route_requests = sum(counter.requests.values())

        queue = resources.queue("webhooks")
        sqs = wiring.client("sqs")
        url = wiring.queue_url(queue.name)
        collector = wiring.delivery_collector()
        handler_seconds, invocations, files = 0.0, 0, 0
        while True:
            records: list[dict[str, Any]] = []
            while len(records) < queue.batch_size:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not got:
                    break
                records += [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {},
                    }
                    for m in got
                ]
            if not records:
                break
            started = time.perf_counter()
            result = collector.handle(records)
            handler_seconds += time.perf_counter() - started
            invocations += 1
            files += len(collector.last.files)
            assert result == {"batchItemFailures": []}, result
            for start in range(0, len(records), 10):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(records[start : start + 10])
                    ],
                )

        raw = session.client("s3")
        stored: Counter[str] = Counter()
        for page in raw.get_paginator("list_objects_v2").paginate(
            Bucket=resources.bucket("raw").name, Prefix="incoming/"
        ):
            for item in page.get("Contents", []):
                body = json.loads(raw.get_object(Bucket=resources.bucket("raw").name, Key=item["Key"])["Body"].read())
                for record in body["data"] if isinstance(body, dict) else body:
                    stored[record.get("lead_id") or record["id"]] += 1
        deliveries = len(posts)
        unique = len(google) + len(meta_leads)
        duplicates_stored = sum(count - 1 for count in stored.values())
        assert len(stored) == unique, (len(stored), unique)

        cost = counter.cost(handler_seconds, invocations + deliveries, deliveries)
        per_million = {service: usd / deliveries * 1e6 for service, usd in cost.items()}
        per_delivery = {name: n / deliveries for name, n in sorted(counter.requests.items())}
        print(f"deliveries posted          {deliveries} ({len(retries)} of them retries), {unique} distinct leads")
        p50, p95 = statistics.median(route_ms), sorted(route_ms)[int(0.95 * len(route_ms))]
        print(f"route time                 p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        print(f"route AWS requests         {route_requests / deliveries:.2f} per delivery")
        print(
            f"collector                  {invocations} batches, {files} raw files, "
            f"{deliveries / max(1, files):.1f} deliveries per raw file, {deliveries / handler_seconds:.0f} deliveries/s"
        )
        print(f"duplicates stored          {duplicates_stored}")
        print("AWS requests per delivery  " + ", ".join(f"{name} {n:.3f}" for name, n in per_delivery.items()))
        print(
            "USD per million deliveries "
            + ", ".join(f"{service} {usd:.3f}" for service, usd in per_million.items())
            + f" — total {sum(per_million.values()):.2f}"
        )
        print(
            json.dumps(
                {
                    "deliveries": deliveries,
                    "raw_files": files,
                    "deliveries_per_raw_file": round(deliveries / max(1, files), 1),
                    "duplicates_stored": duplicates_stored,
                    "route_ms_p50": round(statistics.median(route_ms), 2),
                    "route_ms_p95": round(sorted(route_ms)[int(0.95 * len(route_ms))], 2),
                    "aws_requests_per_delivery": round(sum(counter.requests.values()) / deliveries, 3),
                    "usd_per_million_deliveries": round(sum(per_million.values()), 2),
                }
            )
        )
    finally:
        local.stop()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

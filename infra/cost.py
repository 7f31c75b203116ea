"""The monthly AWS cost of a stage, per feature, from the product itself.

Three inputs, each with one owner: the resource declaration (`chalicelib/resources.py`,
via the generated Chalice config for memory; schedules, queues, tables, secrets, alarms if
declared), the pinned prices (`infra/prices.py`) and the AWS requests per record that
`bench/pipeline.py` counted at the emulator's door (`bench/results/pipeline-requests.json`).
A cost is a per-record part (requests x records) plus a fixed part (schedules, idle
polling, alarms, dashboards, secrets, storage of what is kept). What the product does not
declare or measure yet is a named assumption (`Assumptions`), printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from chalicelib.resources import STAGES, Resources, for_stage
from infra.prices import TAKEN, price

FEATURES = ("ingest", "normalize", "state_keeper", "sap_dispatch", "api", "gdpr", "monitoring")
REQUESTS_FILE = Path(__file__).resolve().parent.parent / "bench" / "results" / "pipeline-requests.json"
HOURS_PER_MONTH = 730
GB = 1024**3

# whose a queue, bucket, table or secret is (by its purpose, the name without `{app}-{stage}-`)
OWNER = {
    "raw": "ingest",
    "webhooks": "ingest",
    "normalize": "normalize",
    "lake": "normalize",
    "quarantine": "normalize",
    "subject-key": "normalize",
    "state-changes": "state_keeper",
    "state": "state_keeper",
    "sap-dispatch.fifo": "sap_dispatch",
    "sap-ledger": "sap_dispatch",
    "sap": "sap_dispatch",
    "athena-results": "gdpr",
}
FUNCTION_OWNER = {
    "ingest_raw_object": "ingest",
    "collect_webhooks": "ingest",
    "pull_sources": "ingest",
    "pull_source": "ingest",
    "normalize_chunks": "normalize",
    "keep_state": "state_keeper",
    "dispatch_to_sap": "sap_dispatch",
    "dlq_watch": "monitoring",
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "IndexWrite"}
DYNAMODB_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
S3_PUT_CLASS = {"PutObject", "CopyObject", "ListObjects", "MultipartUpload", "PutBucketConfig"}
S3_GET_CLASS = {"GetObject", "HeadObject"}
# calls the local runtime makes and AWS's does not bill per record: its idle checks, and
# polls that found nothing (priced as idle polling in the fixed part)
LOCAL_ONLY_OPERATIONS = {"GetQueueAttributes", "ReceiveMessage(empty)", "CreateQueue", "GetQueueUrl"}


@dataclass(frozen=True)
class Assumptions:
    """What the cost needs and neither the declaration nor the bench gives (yet)."""

    months_kept: int = 12  # raw, lake and State Keeper data held: a year of records
    api_requests_per_month: int = 100_000  # operations people and their tools
    webhook_share: float = 0.3  # records that arrive as webhooks (one API Gateway request each)
    log_bytes_per_record: int = 200  # structured log lines, per record on average
    custom_metrics: int = 100  # business metrics in embedded metric format (states x sources, SAP, rejects)
    dashboards: int = 1
    schedule_seconds: float = 2.0  # one run of a schedule that finds nothing much to do
    idle_pollers_per_queue: int = 5  # Lambda's SQS pollers, each long-polling 20 s
    erasure_scan_share: float = 0.1175  # of the lake, per find and per verify (bench/erasure.py)
    sap_bytes_per_record: int = 1500  # OData $batch payload to SAP (data transfer out)
    aws_round_trip_ms: float = 8.0  # a DynamoDB, SQS or S3 call from Lambda, waited for


@dataclass
class Line:
    feature: str
    item: str
    usd_per_month: float
    per_record: bool  # scales with records (else fixed for the stage)


@dataclass
class Estimate:
    stage: str
    records_per_month: int
    erasure_requests_per_month: int
    lines: list[Line] = field(default_factory=list)

    def add(self, feature: str, item: str, usd: float, per_record: bool) -> None:
        if usd:
            self.lines.append(Line(feature, item, usd, per_record))

    def total(self, per_record: bool | None = None) -> float:
        return sum(line.usd_per_month for line in self.lines if per_record is None or line.per_record is per_record)

    def by_feature(self) -> dict[str, float]:
        totals = dict.fromkeys(FEATURES, 0.0)
        for line in self.lines:
            totals[line.feature] += line.usd_per_month
        return totals


# -- the measured requests --------------------------------------------------------------------


def purpose(name: str, app: str, stage: str) -> str:
    """A resource's stage-neutral name: `data-engine-local-sap-dispatch.fifo` → `sap-dispatch.fifo`."""
    for prefix in (f"{app}-{stage}-", f"{app}/{stage}/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def owner_of(row: dict[str, Any]) -> str:
    """The feature a counted request belongs to (the config table: throttle writes are SAP's)."""
    resource, operation = row["resource"], row["operation"]
    if resource == "config":
        return "sap_dispatch" if operation in DYNAMODB_WRITES else "normalize"
    if row["service"] == "ses":
        return "monitoring"
    return OWNER.get(resource, "ingest")


def request_usd(row: dict[str, Any]) -> float:
    """What one counted row (requests, units) costs; 0 for what AWS does not bill per request."""
    service, operation, units, requests = row["service"], row["operation"], row["units"], row["requests"]
    if operation in LOCAL_ONLY_OPERATIONS or row["resource"].startswith("devstack-"):
        return 0.0
    if service == "sqs":
        return price("sqs_fifo_requests" if row["resource"].endswith(".fifo") else "sqs_standard_requests").of(units)
    if service == "s3":
        if operation in S3_PUT_CLASS:
            return price("s3_put_copy_post_list").of(requests)
        return price("s3_get").of(requests) if operation in S3_GET_CLASS else 0.0
    if service == "dynamodb":
        if operation in DYNAMODB_WRITES:
            return price("dynamodb_write_units").of(units)
        return price("dynamodb_read_units").of(units) if operation in DYNAMODB_READS else 0.0
    if service == "secretsmanager":
        return price("secretsmanager_api_calls").of(requests)
    if service == "ses" and operation.startswith("Send"):
        return price("ses_mails").of(requests)
    if service == "lambda" and operation == "Invoke":
        return price("lambda_requests").of(requests)
    return 0.0


def lambda_usd(invocations: float, seconds: float, memory_mb: int) -> float:
    """Lambda's requests and GB-seconds (x86, Chalice's default architecture)."""
    return price("lambda_requests").of(invocations) + price("lambda_gb_second_x86").of(seconds * memory_mb / 1024)


def lambda_seconds(name: str, counted: dict[str, Any], assume: Assumptions) -> float:
    """A function's billed seconds per record: its measured CPU time plus a round trip for
    each AWS request its feature makes (locally the wall time is mostly the emulator's)."""
    used = counted["lambda"][name]
    if "cpu_seconds" not in used:
        return float(used["seconds"])
    feature = FUNCTION_OWNER.get(name, "ingest")
    requests = sum(
        row["requests"]
        for row in counted["requests"]
        if owner_of(row) == feature and request_usd(row) and row["operation"] != "IndexWrite"
    )
    return float(used["cpu_seconds"]) + requests * assume.aws_round_trip_ms / 1000


def function_memory(stage: str) -> tuple[int, dict[str, int]]:
    """The stage's default Lambda memory and the functions that declare their own, in MB."""
    from infra.chalice_config import chalice_config

    config = chalice_config()
    functions = config["stages"][stage].get("lambda_functions", {})
    default = int(config["stages"][stage].get("lambda_memory_size", config.get("lambda_memory_size", 128)))
    return default, {name: int(settings.get("lambda_memory_size", default)) for name, settings in functions.items()}


def load_requests(path: Path = REQUESTS_FILE) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python bench/pipeline.py` first (it writes the file)")
    return dict(json.loads(path.read_text()))


# -- the declaration ---------------------------------------------------------------------------


def runs_per_month(expression: str) -> float:
    """How often an EventBridge schedule fires in a month (`rate(...)`, or `cron(...)` roughly)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        minutes = int(rate.group(1)) * {"m": 1, "h": 60, "d": 1440}[rate.group(2)[0]]
        return HOURS_PER_MONTH * 60 / minutes
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if cron:
        minute, hour = cron.group(1), cron.group(2)
        per_day = _cron_count(minute, 60) * _cron_count(hour, 24)
        return per_day * HOURS_PER_MONTH / 24
    raise ValueError(f"cannot read the schedule {expression!r}")


def _cron_count(part: str, span: int) -> int:
    if part == "*":
        return span
    if "/" in part:
        return math.ceil(span / int(part.split("/")[1]))
    return len(part.split(","))


def alarm_count(resources: Resources, functions: int) -> tuple[int, bool]:
    """Declared alarms, or the set the NoOps issue asks for while none are declared (and say so)."""
    declared = getattr(resources, "alarms", None)
    if declared:
        return len(declared), True
    queues = len(resources.queues)
    modelled = (
        2 * functions  # errors and throttles per function
        + len(resources.all_queues())
        - queues  # any message in a DLQ
        + queues  # age of the oldest message
        + 2 * len(resources.state_machines)  # executions failed, timed out
        + 2  # API 5XX and latency
        + len(resources.tables)  # throttled requests
        + 2  # SES bounces and complaints
    )
    return modelled, False


def function_names() -> dict[str, str]:
    """Every Lambda function of the app and its feature (the API handler and authorizer: api)."""
    import importlib
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    app = importlib.import_module("app").app
    names = {source.name for source in app.event_sources} | {f.name for f in app.pure_lambda_functions}
    owners = {name: FUNCTION_OWNER.get(name, "gdpr" if name.startswith("gdpr") else "ingest") for name in names}
    owners["api_handler"] = "api"
    owners.update({name: "api" for name in getattr(app, "builtin_auth_handlers", [])})
    return owners


# -- the estimate -------------------------------------------------------------------------------


def estimate(
    stage: str,
    records_per_month: int,
    erasure_requests_per_month: int,
    measured: dict[str, Any],
    mix: str = "all",
    assume: Assumptions | None = None,
) -> Estimate:
    """The monthly cost of `stage` at these volumes, line by line."""
    assume = assume or Assumptions()
    resources = for_stage(stage)
    result = Estimate(stage, records_per_month, erasure_requests_per_month)
    n = records_per_month
    counted = measured["per_record"][mix]

    # per record: the requests the bench counted
    per_feature: dict[tuple[str, str], float] = defaultdict(float)
    for row in counted["requests"]:
        per_feature[owner_of(row), row["service"]] += request_usd(row) * n
    for (feature, service), usd in sorted(per_feature.items()):
        result.add(feature, f"{service} requests", usd, True)
    default_mb, memory = function_memory(stage)
    for name, used in sorted(counted["lambda"].items()):
        mb = memory.get(name, default_mb)
        usd = lambda_usd(used["invocations"] * n, lambda_seconds(name, counted, assume) * n, mb)
        result.add(FUNCTION_OWNER.get(name, "ingest"), f"lambda {name} ({mb} MB)", usd, True)
    result.add(
        "sap_dispatch", "transfer out to SAP", price("data_transfer_out").of(n * assume.sap_bytes_per_record / GB), True
    )
    result.add(
        "api", "API Gateway (webhook deliveries)", price("apigateway_rest_requests").of(n * assume.webhook_share), True
    )
    logs = n * assume.log_bytes_per_record / GB
    result.add("monitoring", "log ingestion", price("cloudwatch_log_ingestion").of(logs), True)

    # storage of what is kept (grows with records; a steady state of `months_kept` months)
    stored = counted["bytes_stored"]
    for bucket in ("raw", "lake"):
        gb = n * assume.months_kept * stored.get(bucket, 0) / GB
        result.add(
            OWNER[bucket], f"s3 storage {bucket} ({assume.months_kept} months)", price("s3_storage").of(gb), True
        )
    state_gb = n * assume.months_kept * stored.get("state", 0) / GB
    result.add("state_keeper", "dynamodb storage", price("dynamodb_storage").of(state_gb), True)
    result.add("monitoring", "log storage (a month)", price("cloudwatch_log_storage").of(logs), True)

    # anonymization rewrites each raw and lake object once in its life: a GET and a PUT
    objects = sum(
        r["requests"] for r in counted["requests"] if r["operation"] == "PutObject" and r["resource"] in ("raw", "lake")
    )
    usd = price("s3_get").of(objects * n) + price("s3_put_copy_post_list").of(objects * n)
    result.add("gdpr", "anonymization rewrites (s3)", usd, True)

    # fixed: schedules, idle polling, alarms, dashboards, metrics, secrets, the API's own use
    schedule_owner = {
        "dlq-watch": "monitoring",
        "daily-summary": "monitoring",
        "pull-sources": "ingest",
        "lake-compaction": "normalize",
    }
    for schedule in resources.schedules:
        runs = runs_per_month(schedule.expression)
        mb = memory.get(schedule.key.replace("-", "_"), default_mb)
        usd = lambda_usd(runs, runs * assume.schedule_seconds, mb)
        result.add(schedule_owner.get(schedule.key, "gdpr"), f"schedule {schedule.key} ({runs:,.0f} runs)", usd, False)
    polls = HOURS_PER_MONTH * 3600 / 20 * assume.idle_pollers_per_queue
    for queue in resources.queues:
        key = "sqs_fifo_requests" if queue.fifo else "sqs_standard_requests"
        result.add(
            OWNER.get(purpose(queue.name, resources.app, stage), "ingest"),
            f"idle polls {queue.key}",
            price(key).of(polls),
            False,
        )
    owners = function_names()
    alarms, declared = alarm_count(resources, len(owners))
    result.add(
        "monitoring",
        f"{alarms} alarms ({'declared' if declared else 'modelled'})",
        price("cloudwatch_alarms").of(alarms),
        False,
    )
    result.add(
        "monitoring", f"{assume.dashboards} dashboard", price("cloudwatch_dashboards").of(assume.dashboards), False
    )
    result.add(
        "monitoring",
        f"{assume.custom_metrics} custom metrics",
        price("cloudwatch_custom_metrics").of(assume.custom_metrics),
        False,
    )
    result.add("monitoring", "alarm mails (SNS)", price("sns_email").of(alarms * 2), False)
    for secret in resources.secrets:
        owner = OWNER.get(secret.key, "ingest")
        result.add(owner, f"secret {secret.key}", price("secretsmanager_secrets").of(1), False)
    api = assume.api_requests_per_month
    result.add("api", "operations API requests", price("apigateway_rest_requests").of(api), False)
    api_mb = memory.get("api_handler", default_mb)
    result.add("api", "lambda api_handler + authorizer", lambda_usd(2 * api, 2 * api * 0.05, api_mb), False)

    # GDPR: erasure requests batched into at most one job an hour; each job scans the lake
    # twice (find, verify) by the share the erasure bench measured
    m = erasure_requests_per_month
    if m:
        jobs = min(m, HOURS_PER_MONTH)
        lake_tb = n * assume.months_kept * stored.get("lake", 0) / 1024**4
        scanned = jobs * 2 * max(10 * 1024**2 / 1024**4, lake_tb * assume.erasure_scan_share)
        result.add(
            "gdpr", f"athena ({jobs:,} jobs, the lake grows with records)", price("athena_scanned").of(scanned), True
        )
        result.add("gdpr", "step functions", price("stepfunctions_transitions").of(jobs * 20), False)
        result.add(
            "gdpr",
            "erasure requests (API, DynamoDB, report mail)",
            m
            * (
                price("apigateway_rest_requests").of(2) + price("dynamodb_write_units").of(4) + price("ses_mails").of(1)
            ),
            False,
        )
    return result


def table(result: Estimate) -> str:
    """The estimate as a plain-text table: each line, then the totals per feature."""
    rows = [f"{'feature':<13} {'item':<52} {'USD/month':>11}  kind"]
    for line in sorted(result.lines, key=lambda item: (FEATURES.index(item.feature), -item.usd_per_month)):
        kind = "per record" if line.per_record else "fixed"
        rows.append(f"{line.feature:<13} {line.item:<52} {line.usd_per_month:>11.2f}  {kind}")
    rows.append("")
    for feature, usd in result.by_feature().items():
        rows.append(f"{feature:<13} {'':<52} {usd:>11.2f}")
    split = f"per record {result.total(True):,.2f}, fixed {result.total(False):,.2f}"
    rows.append(f"{'total':<13} {split:<52} {result.total():>11.2f}")
    return "\n".join(rows)


def summary(result: Estimate) -> dict[str, Any]:
    return {
        "stage": result.stage,
        "records_per_month": result.records_per_month,
        "erasure_requests_per_month": result.erasure_requests_per_month,
        "usd_per_month": round(result.total(), 2),
        "usd_per_record_part": round(result.total(True), 2),
        "usd_fixed_part": round(result.total(False), 2),
        "by_feature": {feature: round(usd, 2) for feature, usd in result.by_feature().items()},
        "prices_taken": TAKEN,
    }


def assumptions_text(assume: Assumptions) -> str:
    return ", ".join(f"{f.name}={getattr(assume, f.name)}" for f in fields(assume))


def add_command(commands: Any) -> None:
    """The `cost` subcommand of `python -m infra`."""
    sub = commands.add_parser("cost", help="the stage's monthly AWS cost per feature")
    sub.add_argument("stage", choices=[s for s in STAGES if s != "local"])
    sub.add_argument("--records-per-month", type=int, default=10_000_000)
    sub.add_argument("--erasure-requests-per-month", type=int, default=100)
    sub.add_argument("--mix", choices=("all", "batch", "webhooks"), default="all", help="which measured mix")
    sub.add_argument("--requests", type=Path, default=REQUESTS_FILE, help="the pipeline bench's per-record counts")


def run(args: argparse.Namespace) -> None:
    measured = load_requests(args.requests)
    assume = Assumptions()
    result = estimate(args.stage, args.records_per_month, args.erasure_requests_per_month, measured, args.mix, assume)
    print(
        f"{args.stage}: {args.records_per_month:,} records and {args.erasure_requests_per_month:,} erasure requests "
        f"a month; prices {TAKEN} (eu-central-1); requests per record measured {measured.get('taken', '?')} "
        f"({args.mix} mix)"
    )
    print(table(result))
    print(f"assumed: {assumptions_text(assume)}")
    print(json.dumps(summary(result)))

"""`terraform apply` of a stage's generated configuration against the local AWS emulator.

`python -m infra deploy-local [STAGE]` (default prod) starts moto in a process of its own,
packages the stage without its remote state, points the AWS provider's endpoints at the
emulator (fake credentials), plans, applies, checks what was created through the AWS API,
checks from the plan (`terraform show -json`) what the emulator cannot create, and
destroys. Nothing leaves the machine; the AWS provider comes from the offline mirror.

Two stand-ins, both only here: the deployment package is a small zip (the emulator stores
function code but never runs it, and 23 copies of the 40 MB package would only fill its
memory), and the public SSM parameter that names the AWS SDK for pandas layer is read from a name of
ours (an override file), since the emulator keeps `/aws/` names to itself, and names a
stand-in layer published first (the emulator checks that layers exist).
"""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from chalicelib.resources import ASYNC_FUNCTIONS, Resources, for_stage
from infra import hcl
from infra.permissions import ACCESS, function_name, role_name
from infra.terraform import tf_name

REGION = "eu-central-1"
# provider endpoint names of the services the generated configuration uses
SERVICES = (
    "apigateway",
    "athena",
    "cloudwatch",
    "dynamodb",
    "events",
    "glue",
    "iam",
    "lambda",
    "logs",
    "s3",
    "secretsmanager",
    "ses",
    "sfn",
    "sns",
    "sqs",
    "ssm",
    "sts",
)
# What moto 5.2 cannot apply: it imports only OpenAPI 3 bodies into a REST API, and Chalice's
# API is Swagger 2.0, so the REST API is created without its body (emulator_override.tf)
# and has no methods to deploy. These are left out of the apply and checked from the plan.
NOT_EMULATED = ("aws_api_gateway_deployment", "aws_api_gateway_stage", "aws_api_gateway_method_settings")


@dataclass
class Report:
    """What was checked, and what did not hold."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expect(self, what: str, holds: bool, detail: Any = "") -> None:
        self.checked.append(what)
        if not holds:
            self.problems.append(f"{what}: {detail}" if detail != "" else what)


def provider_tf(endpoint: str) -> dict[str, Any]:
    return {
        "provider": {
            "aws": {
                "region": REGION,
                "access_key": "testing",
                "secret_key": "testing",
                "skip_credentials_validation": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
                "s3_use_path_style": True,
                "endpoints": [{service: endpoint for service in SERVICES}],
            }
        }
    }


def small_package() -> bytes:
    """A deployment package that is only a handler module (the emulator never runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


STAND_IN_LAYER_PARAMETER = "/data-engine/emulator/sdk-for-pandas-layer-arn"


def emulator_override_tf() -> dict[str, Any]:
    """The layer parameter read from a name the emulator accepts (`/aws/` names are AWS's);
    the REST API without its Swagger 2.0 body, which the emulator cannot import."""
    return {
        "data": {"aws_ssm_parameter": {"sdk_for_pandas_layer": {"name": STAND_IN_LAYER_PARAMETER}}},
        "resource": {"aws_api_gateway_rest_api": {"rest_api": {"body": None}}},  # see NOT_EMULATED
    }


def teardown_override_tf(resources: Resources) -> dict[str, Any]:
    """Deletion protection lifted and the buckets let go with what they hold (the access-log
    bucket has the logs of the checks by then), as an operator does before destroying a stage."""
    buckets = [tf_name(b.key) for b in resources.buckets] + ["access_logs"]
    return {
        "resource": {
            "aws_dynamodb_table": {tf_name(t.key): {"deletion_protection_enabled": False} for t in resources.tables},
            "aws_s3_bucket": {label: {"force_destroy": True} for label in buckets},
        }
    }


STEP_FUNCTIONS_ANSWERS = {
    "AWSStepFunctions.ValidateStateMachineDefinition": b'{"result":"OK","diagnostics":[]}',
    "AWSStepFunctions.ListStateMachineVersions": b'{"stateMachineVersions":[]}',
}


class StepFunctionsFront:
    """A front to the emulator that answers the two Step Functions calls moto lacks and the
    AWS provider makes for a state machine (it retries them for many minutes): validating
    a definition (at plan) and listing its versions (at read: none are published), and
    forwards every other request."""

    def __init__(self, upstream: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = STEP_FUNCTIONS_ANSWERS.get(self.headers.get("X-Amz-Target", ""))
                if answer is not None:
                    self.answer(200, {"Content-Type": "application/x-amz-json-1.0"}, answer)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                got = requests.request(
                    self.command, upstream + self.path, headers=headers, data=body, timeout=120, allow_redirects=False
                )
                dropped = ("content-length", "transfer-encoding", "connection", "content-encoding")
                self.answer(
                    got.status_code, {k: v for k, v in got.headers.items() if k.lower() not in dropped}, got.content
                )

            def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TerraformFailed(RuntimeError):
    pass


def terraform(out: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["terraform", *args, "-no-color"], cwd=out, env=env, check=False, text=True, capture_output=True
    )
    if done.returncode != 0:
        raise TerraformFailed(f"terraform {args[0]} failed:\n{done.stderr[-6000:]}")
    return done


def deploy(stage: str, out: Path, endpoint: str, package: Callable[..., Path], cli_config: Path | None) -> Report:
    """Plan, apply, check and destroy `stage` on the emulator at `endpoint`."""
    front = StepFunctionsFront(endpoint)
    try:
        return _deploy(stage, out, front.endpoint, package, cli_config)
    finally:
        front.stop()


def _deploy(stage: str, out: Path, endpoint: str, package: Callable[..., Path], cli_config: Path | None) -> Report:
    resources = for_stage(stage)
    package(stage, out, with_backend=False)
    (out / "deployment.zip").write_bytes(small_package())
    (out / "provider.tf").write_text(hcl.render(provider_tf(endpoint)))
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    env.pop("AWS_PROFILE", None)
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    aws = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

    def client(service: str) -> Any:
        return aws.client(service, endpoint_url=endpoint)

    (out / "emulator_override.tf").write_text(hcl.render(emulator_override_tf()))
    layer = client("lambda").publish_layer_version(
        LayerName="sdk-for-pandas-stand-in", Content={"ZipFile": small_package()}
    )
    client("ssm").put_parameter(
        Name=STAND_IN_LAYER_PARAMETER, Value=layer["LayerVersionArn"], Type="String", Overwrite=True
    )
    terraform(out, env, "init", "-input=false", "-backend=false")
    terraform(out, env, "plan", "-input=false", "-out=plan.out")
    plan = json.loads(terraform(out, env, "show", "-json", "plan.out").stdout)
    report = Report()
    plan_checks(plan, resources, report)
    targets = [
        f"-target={change['address']}"
        for change in plan["resource_changes"]
        if change["mode"] == "managed" and change["type"] not in NOT_EMULATED
    ]
    try:
        terraform(out, env, "apply", "-input=false", "-auto-approve", "-parallelism=8", *targets)
        created_checks(client, resources, report)
    finally:
        # as an operator would: lift deletion protection and let the buckets go, then destroy
        (out / "teardown_override.tf").write_text(hcl.render(teardown_override_tf(resources)))
        lifted = [f"-target=aws_dynamodb_table.{tf_name(t.key)}" for t in resources.tables] + [
            f"-target=aws_s3_bucket.{label}" for label in teardown_override_tf(resources)["resource"]["aws_s3_bucket"]
        ]
        terraform(out, env, "apply", "-input=false", "-auto-approve", "-parallelism=8", *lifted)
        terraform(out, env, "destroy", "-input=false", "-auto-approve", "-parallelism=8", *targets)
    state = json.loads(terraform(out, env, "show", "-json").stdout).get("values") or {}
    remaining = [r["address"] for r in state.get("root_module", {}).get("resources", []) if r["mode"] == "managed"]
    report.expect("destroy leaves no resource", not remaining, remaining)
    return report


def _planned(plan: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        change["name"]: change["change"]["after"]
        for change in plan["resource_changes"]
        if change["type"] == kind and change["mode"] == "managed"
    }


def plan_checks(plan: dict[str, Any], resources: Resources, report: Report) -> None:
    """What the emulator cannot create, checked from the plan."""
    deployment = _planned(plan, "aws_api_gateway_deployment").get("rest_api") or {}
    report.expect(
        "plan: the API deployment leaves the stage to its own resource", not deployment.get("stage_name"), deployment
    )
    stage = _planned(plan, "aws_api_gateway_stage").get("api") or {}
    log_format = json.loads((stage.get("access_log_settings") or [{}])[0].get("format", "{}"))
    report.expect(
        "plan: API stage traced, with JSON access logs",
        stage.get("xray_tracing_enabled") is True and "requestId" in log_format,
        stage,
    )
    settings = (_planned(plan, "aws_api_gateway_method_settings").get("all") or {}).get("settings") or [{}]
    report.expect(
        "plan: API throttling as the stage declares",
        settings[0].get("throttling_rate_limit") == resources.settings.api_rate_limit
        and settings[0].get("data_trace_enabled") is False,
        settings,
    )
    functions = _planned(plan, "aws_lambda_function")
    report.expect("plan: every function", set(functions) == set(ACCESS), sorted(functions))
    report.expect(
        "plan: every function traced and with reserved concurrency",
        all(
            f["tracing_config"][0]["mode"] == "Active" and f["reserved_concurrent_executions"] > 0
            for f in functions.values()
        ),
    )


def created_checks(client: Callable[[str], Any], resources: Resources, report: Report) -> None:
    """What was created, read back through the AWS API."""
    sqs = client("sqs")
    for queue in resources.queues:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if queue.dead_letter is not None:
            redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
            report.expect(
                f"queue {queue.key} redrives to its DLQ after {queue.max_receive_count}",
                redrive.get("deadLetterTargetArn", "").endswith(f":{queue.dead_letter.name}")
                and int(redrive.get("maxReceiveCount", 0)) == queue.max_receive_count,
                attributes,
            )
        report.expect(f"queue {queue.key} visibility", int(attributes["VisibilityTimeout"]) == queue.visibility_timeout)
    report.expect(
        "the on-failure queue exists", bool(sqs.get_queue_url(QueueName=resources.failure_queue().name)["QueueUrl"])
    )
    dynamodb = client("dynamodb")
    for table in resources.tables:
        described = dynamodb.describe_table(TableName=table.name)["Table"]
        keys = {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]}
        indexes = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
        report.expect(
            f"table {table.key} keys and indexes",
            keys == {table.hash_key: "HASH", **({table.range_key: "RANGE"} if table.range_key else {})}
            and indexes == {i.name for i in table.indexes},
            (keys, indexes),
        )
        report.expect(
            f"table {table.key} deletion protection as declared",
            described.get("DeletionProtectionEnabled", False) == resources.settings.deletion_protection,
            described.get("DeletionProtectionEnabled"),
        )
    s3 = client("s3")
    raw = resources.bucket("raw").name
    notifications = s3.get_bucket_notification_configuration(Bucket=raw).get("LambdaFunctionConfigurations", [])
    report.expect(
        "raw bucket notifies ingest_raw_object for incoming/",
        any(
            n["LambdaFunctionArn"].endswith(f":{function_name(resources, 'ingest_raw_object')}")
            and {(r["Name"].lower(), r["Value"]) for r in n["Filter"]["Key"]["FilterRules"]}
            == {("prefix", "incoming/")}
            for n in notifications
        ),
        notifications,
    )
    for bucket in resources.buckets:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket.name)["Policy"])
        report.expect(f"bucket {bucket.key} is TLS-only", any(s.get("Sid") == "TlsOnly" for s in policy["Statement"]))
        logging = s3.get_bucket_logging(Bucket=bucket.name).get("LoggingEnabled", {})
        report.expect(
            f"bucket {bucket.key} logs its access", logging.get("TargetBucket", "").endswith("-access-logs"), logging
        )
    lambda_ = client("lambda")
    iam = client("iam")
    for function in ACCESS:
        name = function_name(resources, function)
        config = lambda_.get_function_configuration(FunctionName=name)
        role = config["Role"].rsplit("/", 1)[-1]
        report.expect(f"function {function} has its own role", role == role_name(resources, function), role)
        report.expect(
            f"function {function} has the stage's environment",
            config.get("Environment", {}).get("Variables", {}).get("STAGE") == resources.stage,
        )
        policies = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=policies[0])["PolicyDocument"] if policies else {}
        document = json.loads(document) if isinstance(document, str) else document
        report.expect(
            f"function {function}'s role holds its own policy", _mentions(document, f"/aws/lambda/{name}:"), policies
        )
    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]
    report.expect(
        "SQS mappings report batch item failures",
        len(mappings) == 4 and all(m.get("FunctionResponseTypes") == ["ReportBatchItemFailures"] for m in mappings),
        mappings,
    )
    for function in ASYNC_FUNCTIONS:
        invoke = lambda_.get_function_event_invoke_config(FunctionName=function_name(resources, function))
        destination = invoke["DestinationConfig"]["OnFailure"]["Destination"]
        report.expect(
            f"{function} sends failures to async-failures", destination.endswith(resources.failure_queue().name)
        )
    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    report.expect(
        "the erasure state machine",
        {m["name"] for m in machines} == {m.name for m in resources.state_machines},
        machines,
    )
    rules = {r["Name"] for r in client("events").list_rules(NamePrefix=f"{resources.app}-{resources.stage}-")["Rules"]}
    report.expect(
        "a schedule rule per declared schedule, named per stage", len(rules) == len(resources.schedules), rules
    )
    alarms = _all(client("cloudwatch").get_paginator("describe_alarms"), "MetricAlarms")
    report.expect("the alarms", len(alarms) >= 2 * len(ACCESS) + 10, len(alarms))
    report.expect(
        "every alarm notifies the alert topic", all(any(":" in a for a in alarm["AlarmActions"]) for alarm in alarms)
    )
    groups = _all(client("logs").get_paginator("describe_log_groups"), "logGroups")
    report.expect(
        "log groups with the stage's retention",
        sum(g.get("retentionInDays") == resources.settings.log_retention_days for g in groups) >= len(ACCESS),
        len(groups),
    )


def _all(paginator: Any, key: str) -> list[dict[str, Any]]:
    return [item for page in paginator.paginate() for item in page[key]]


def _mentions(document: Any, text: str) -> bool:
    return text in json.dumps(document)


def summary(report: Report) -> Iterable[str]:
    yield f"{len(report.checked)} checks, {len(report.problems)} problems"
    yield from (f"  problem: {p}" for p in report.problems)

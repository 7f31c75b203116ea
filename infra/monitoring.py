"""Alarms, the alert topic, log groups, on-failure destinations and the dashboard of a stage.

Every alarm notifies one SNS topic whose email subscribers are the stage's alert
recipients (`StageSettings.alert_recipients`). What is watched: errors and throttles of
every function (the DLQ watcher's own included, so a failing watcher is heard), any message
in any dead-letter queue or in the on-failure destination of the asynchronously invoked
functions, the age of the oldest message per queue (a stuck pipeline), failed, timed-out
and aborted erasure executions, the API's 5XX and p99 latency, DynamoDB throttling and
SES bounce and complaint rates. The dashboard shows the pipeline hop by hop.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.resources import ASYNC_FUNCTIONS, Resources
from infra.permissions import ACCESS, function_name
from infra.terraform import tf_name

ALERTS = "${aws_sns_topic.alerts.arn}"
REGION = "${data.aws_region.current.name}"
PERIOD = 300
# SES reviews an account at 5 % bounces and 0.1 % complaints: alarm well before
SES_BOUNCE_RATE = 0.02
SES_COMPLAINT_RATE = 0.0005
# how often Lambda retries a failed asynchronous event before sending it to the destination
ASYNC_RETRIES = 2
ASYNC_MAX_EVENT_AGE = 6 * 3600


def monitoring_tf(resources: Resources) -> dict[str, Any]:
    resource: dict[str, dict[str, Any]] = {
        "aws_sns_topic": {"alerts": {"name": f"{resources.app}-{resources.stage}-alerts"}},
        "aws_sns_topic_subscription": {
            f"alerts_{index}": {"topic_arn": ALERTS, "protocol": "email", "endpoint": address}
            for index, address in enumerate(resources.settings.alert_recipients)
        },
        "aws_sqs_queue": {
            "async_failures": {
                "name": resources.failure_queue().name,
                "message_retention_seconds": 14 * 24 * 3600,
                "sqs_managed_sse_enabled": True,
            }
        },
        "aws_cloudwatch_log_group": {
            tf_name(function): {
                "name": f"/aws/lambda/{function_name(resources, function)}",
                "retention_in_days": resources.settings.log_retention_days,
            }
            for function in sorted(ACCESS)
        },
        "aws_lambda_function_event_invoke_config": {
            function: {
                "function_name": f"${{aws_lambda_function.{function}.function_name}}",
                "maximum_retry_attempts": ASYNC_RETRIES,
                "maximum_event_age_in_seconds": ASYNC_MAX_EVENT_AGE,
                "destination_config": [
                    {"on_failure": [{"destination": "${aws_sqs_queue.async_failures.arn}"}]},
                ],
            }
            for function in ASYNC_FUNCTIONS
        },
        "aws_cloudwatch_metric_alarm": alarms(resources),
        "aws_cloudwatch_dashboard": {
            "pipeline": {
                "dashboard_name": f"{resources.app}-{resources.stage}-pipeline",
                "dashboard_body": json.dumps(dashboard(resources), sort_keys=True),
            }
        },
    }
    if not resource["aws_sns_topic_subscription"]:
        del resource["aws_sns_topic_subscription"]
    return {"resource": resource}


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, str], **fields: Any) -> dict[str, Any]:
    alarm = {
        "alarm_description": description,
        "namespace": namespace,
        "metric_name": metric,
        "dimensions": dimensions,
        "statistic": "Sum",
        "period": PERIOD,
        "evaluation_periods": 1,
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0,
        "treat_missing_data": "notBreaching",
        "alarm_actions": [ALERTS],
        "ok_actions": [ALERTS],
    }
    alarm |= fields
    if "extended_statistic" in fields:
        del alarm["statistic"]
    return alarm


def alarms(resources: Resources) -> dict[str, dict[str, Any]]:
    prefix = f"{resources.app}-{resources.stage}"
    settings = resources.settings
    found: dict[str, dict[str, Any]] = {}

    def add(label: str, alarm: dict[str, Any]) -> None:
        found[label] = {"alarm_name": f"{prefix}-{label.replace('_', '-')}"} | alarm

    for function in sorted(ACCESS):
        dimensions = {"FunctionName": f"${{aws_lambda_function.{function}.function_name}}"}
        add(f"{function}_errors", _alarm(f"{function} failed", "AWS/Lambda", "Errors", dimensions))
        add(f"{function}_throttles", _alarm(f"{function} was throttled", "AWS/Lambda", "Throttles", dimensions))
    for queue in resources.queues:
        label = tf_name(queue.key)
        add(
            f"{label}_oldest_message",
            _alarm(
                f"the {queue.key} queue is not drained (oldest message too old)",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": f"${{aws_sqs_queue.{label}.name}}"},
                statistic="Maximum",
                threshold=(
                    settings.sap_oldest_message_alarm_seconds
                    if queue.key == "sap-dispatch"
                    else settings.oldest_message_alarm_seconds
                ),
            ),
        )
        if queue.dead_letter is not None:
            dlq = tf_name(queue.dead_letter.key)
            add(
                f"{dlq}_messages",
                _alarm(
                    f"messages parked in {queue.dead_letter.key}",
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": f"${{aws_sqs_queue.{dlq}.name}}"},
                    statistic="Maximum",
                ),
            )
    add(
        "async_failures_messages",
        _alarm(
            "an asynchronously invoked function failed after its retries (event in async-failures)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": "${aws_sqs_queue.async_failures.name}"},
            statistic="Maximum",
        ),
    )
    for machine in resources.state_machines:
        label = tf_name(machine.key)
        for metric, what in (
            ("ExecutionsFailed", "failed"),
            ("ExecutionsTimedOut", "timed out"),
            ("ExecutionsAborted", "aborted"),
        ):
            add(
                f"{label}_{what.replace(' ', '_')}",
                _alarm(
                    f"{machine.key} executions {what}",
                    "AWS/States",
                    metric,
                    {"StateMachineArn": f"${{aws_sfn_state_machine.{label}.arn}}"},
                ),
            )
    api = {"ApiName": "${aws_api_gateway_rest_api.rest_api.name}", "Stage": "api"}
    add("api_5xx", _alarm("the API answered 5XX", "AWS/ApiGateway", "5XXError", api))
    add(
        "api_latency",
        _alarm(
            f"the API's p99 latency is above {settings.api_latency_alarm_ms} ms",
            "AWS/ApiGateway",
            "Latency",
            api,
            extended_statistic="p99",
            threshold=settings.api_latency_alarm_ms,
            evaluation_periods=3,
        ),
    )
    for table in resources.tables:
        label = tf_name(table.key)
        add(f"{label}_throttled", _table_throttles(table.key, f"${{aws_dynamodb_table.{label}.name}}"))
    for metric, threshold, what in (
        ("Reputation.BounceRate", SES_BOUNCE_RATE, "bounce"),
        ("Reputation.ComplaintRate", SES_COMPLAINT_RATE, "complaint"),
    ):
        add(
            f"ses_{what}_rate",
            _alarm(
                f"SES {what} rate above {threshold:.2%} (the account's sending is reviewed at higher rates)",
                "AWS/SES",
                metric,
                {},
                statistic="Maximum",
                threshold=threshold,
                period=900,
            ),
        )
    return found


def _table_throttles(key: str, table_name: str) -> dict[str, Any]:
    """Read and write throttle events of a table, summed (metric math)."""

    def metric(query_id: str, name: str) -> dict[str, Any]:
        return {
            "id": query_id,
            "metric": [
                {
                    "namespace": "AWS/DynamoDB",
                    "metric_name": name,
                    "dimensions": {"TableName": table_name},
                    "period": PERIOD,
                    "stat": "Sum",
                }
            ],
        }

    return {
        "alarm_description": f"DynamoDB throttled requests on the {key} table",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0,
        "evaluation_periods": 1,
        "treat_missing_data": "notBreaching",
        "alarm_actions": [ALERTS],
        "ok_actions": [ALERTS],
        "metric_query": [
            {"id": "throttled", "expression": "reads + writes", "label": "throttled requests", "return_data": True},
            metric("reads", "ReadThrottleEvents"),
            metric("writes", "WriteThrottleEvents"),
        ],
    }


def dashboard(resources: Resources) -> dict[str, Any]:
    """One row per hop: raw files split → normalize → State Keeper → SAP dispatch, then the
    webhooks, dead letters, the API, the erasure workflow and the tables."""
    prefix = f"{resources.app}-{resources.stage}"

    def fn(name: str) -> str:
        return function_name(resources, name)

    def lambda_metrics(name: str) -> list[list[Any]]:
        return [
            ["AWS/Lambda", "Invocations", "FunctionName", fn(name)],
            [".", "Errors", ".", "."],
            [".", "Throttles", ".", "."],
            [".", "ConcurrentExecutions", ".", ".", {"stat": "Maximum"}],
        ]

    def queue_metrics(key: str) -> list[list[Any]]:
        name = next(q.name for q in resources.all_queues() if q.key == key)
        return [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, {"stat": "Maximum"}],
            [".", "ApproximateAgeOfOldestMessage", ".", ".", {"stat": "Maximum", "yAxis": "right"}],
            [".", "NumberOfMessagesSent", ".", "."],
        ]

    rows: list[tuple[str, list[list[Any]]]] = [
        ("1 · raw files split (ingest_raw_object)", lambda_metrics("ingest_raw_object")),
        ("2 · normalize queue", queue_metrics("normalize")),
        ("3 · normalize (normalize_chunks)", lambda_metrics("normalize_chunks")),
        ("4 · state changes queue", queue_metrics("state-changes")),
        ("5 · State Keeper (keep_state)", lambda_metrics("keep_state")),
        ("6 · SAP dispatch queue", queue_metrics("sap-dispatch")),
        ("7 · SAP dispatch (dispatch_to_sap)", lambda_metrics("dispatch_to_sap")),
        ("webhook deliveries queue", queue_metrics("webhooks")),
        ("webhook collector (collect_webhooks)", lambda_metrics("collect_webhooks")),
        (
            "dead letters and failed asynchronous runs",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name, {"stat": "Maximum"}]
                for q in resources.all_queues()
                if q.key.endswith("-dlq")
            ]
            + [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    resources.failure_queue().name,
                    {"stat": "Maximum"},
                ]
            ],
        ),
        (
            "operations API",
            [
                ["AWS/ApiGateway", "Count", "ApiName", prefix, "Stage", "api"],
                [".", "4XXError", ".", ".", ".", "."],
                [".", "5XXError", ".", ".", ".", "."],
                [".", "Latency", ".", ".", ".", ".", {"stat": "p99", "yAxis": "right"}],
            ],
        ),
        (
            "GDPR erasure workflow",
            [
                ["AWS/States", metric, "StateMachineArn", f"${{aws_sfn_state_machine.{tf_name(m.key)}.arn}}"]
                for m in resources.state_machines
                for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
            ],
        ),
        (
            "DynamoDB",
            [
                ["AWS/DynamoDB", metric, "TableName", t.name]
                for t in resources.tables
                for metric in ("ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits", "WriteThrottleEvents")
            ],
        ),
    ]
    widgets = [
        {
            "type": "metric",
            "x": (index % 2) * 12,
            "y": (index // 2) * 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": REGION,
                "stat": "Sum",
                "period": PERIOD,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }
        for index, (title, metrics) in enumerate(rows)
    ]
    return {"widgets": widgets}

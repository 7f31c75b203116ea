"""Nothing fails unheard: alarms, the alert topic, log groups and failure destinations per stage."""

from __future__ import annotations

import json

import pytest

from chalicelib.resources import ASYNC_FUNCTIONS, for_stage
from infra.monitoring import monitoring_tf
from infra.permissions import ACCESS, policy

PROD = for_stage("prod")


def declared(stage: str = "prod") -> dict[str, dict[str, dict[str, object]]]:
    return monitoring_tf(for_stage(stage))["resource"]


def test_every_function_alarms_on_errors_and_throttles() -> None:
    alarms = declared()["aws_cloudwatch_metric_alarm"]
    for function in ACCESS:
        for label, metric in ((f"{function}_errors", "Errors"), (f"{function}_throttles", "Throttles")):
            assert alarms[label]["metric_name"] == metric
            assert alarms[label]["dimensions"] == {"FunctionName": f"${{aws_lambda_function.{function}.function_name}}"}
    assert "dlq_watch_errors" in alarms  # the watcher is watched too


def test_every_alarm_notifies_the_stage_topic() -> None:
    for alarm in declared()["aws_cloudwatch_metric_alarm"].values():
        assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]
        assert str(alarm["alarm_name"]).startswith("data-engine-prod-")


def test_every_dead_letter_queue_and_the_failure_destination_alarm_on_any_message() -> None:
    alarms = declared()["aws_cloudwatch_metric_alarm"]
    for dlq in ("normalize_dlq", "state_changes_dlq", "sap_dispatch_dlq", "webhooks_dlq", "async_failures"):
        alarm = alarms[f"{dlq}_messages"]
        assert (alarm["metric_name"], alarm["threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)
    for queue in PROD.queues:
        assert alarms[f"{queue.key.replace('-', '_')}_oldest_message"]["metric_name"] == "ApproximateAgeOfOldestMessage"


def test_the_workflow_api_tables_and_mail_are_watched() -> None:
    alarms = declared()["aws_cloudwatch_metric_alarm"]
    assert {"gdpr_erasure_failed", "gdpr_erasure_timed_out", "api_5xx", "api_latency"} <= set(alarms)
    assert {"state_throttled", "config_throttled", "sap_ledger_throttled"} <= set(alarms)
    assert {"ses_bounce_rate", "ses_complaint_rate"} <= set(alarms)
    assert alarms["api_latency"]["extended_statistic"] == "p99"


def test_asynchronously_invoked_functions_send_failed_events_to_the_failure_queue() -> None:
    configs = declared()["aws_lambda_function_event_invoke_config"]
    assert set(configs) == set(ASYNC_FUNCTIONS)
    assert {"ingest_raw_object", "dlq_watch", "gdpr_anonymization", "reprocess_file"} <= set(configs)
    for function, config in configs.items():
        assert config["destination_config"] == [
            {"on_failure": [{"destination": "${aws_sqs_queue.async_failures.arn}"}]}
        ]
        sent = [s for s in policy(PROD, function)["Statement"] if s["Sid"] == "FailureDestination"]
        assert sent and sent[0]["Resource"] == ["arn:aws:sqs:*:*:data-engine-prod-async-failures"]


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("staging", 30), ("prod", 365)])
def test_every_function_has_a_log_group_with_the_stage_retention(stage: str, days: int) -> None:
    groups = declared(stage)["aws_cloudwatch_log_group"]
    for function in ACCESS:
        # Lambda logs to /aws/lambda/{function name}; Chalice names the REST API's handler after the stage alone
        name = f"data-engine-{stage}" if function == "api_handler" else f"data-engine-{stage}-{function}"
        assert groups[function] == {"name": f"/aws/lambda/{name}", "retention_in_days": days}


def test_the_stage_recipients_are_subscribed_by_email() -> None:
    subscriptions = declared()["aws_sns_topic_subscription"].values()
    assert {s["endpoint"] for s in subscriptions} == set(PROD.settings.alert_recipients)
    assert {s["protocol"] for s in subscriptions} == {"email"}
    dev = declared("dev")["aws_sns_topic_subscription"].values()
    assert {s["endpoint"] for s in dev} == {"data-engine-dev-alerts@example.com"}


def test_the_dashboard_shows_the_pipeline_hop_by_hop() -> None:
    body = json.loads(str(declared()["aws_cloudwatch_dashboard"]["pipeline"]["dashboard_body"]))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles[:7] == [
        "1 · raw files split (ingest_raw_object)",
        "2 · normalize queue",
        "3 · normalize (normalize_chunks)",
        "4 · state changes queue",
        "5 · State Keeper (keep_state)",
        "6 · SAP dispatch queue",
        "7 · SAP dispatch (dispatch_to_sap)",
    ]

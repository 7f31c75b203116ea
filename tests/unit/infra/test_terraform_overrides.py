"""The override file fixes what Chalice's Terraform leaves out, block by block."""

from __future__ import annotations

from chalicelib.resources import for_stage
from infra.terraform import override_tf, resources_tf

RESOURCES = for_stage("prod")
CHALICE_TF = {
    "resource": {
        "aws_lambda_function": {"api_handler": {}, "normalize_chunks": {}},
        "aws_lambda_event_source_mapping": {
            "normalize_chunks-sqs-event-source": {
                "event_source_arn": f"arn:aws:sqs:eu-central-1:123456789012:{RESOURCES.queue('normalize').name}"
            }
        },
        "aws_cloudwatch_event_rule": {"dlq_watch-event": {"name": "dlq_watch-event"}},
    }
}


def test_every_function_gets_the_layer_that_carries_pyarrow() -> None:
    functions = override_tf(CHALICE_TF, RESOURCES)["resource"]["aws_lambda_function"]
    assert set(functions) == {"api_handler", "normalize_chunks"}
    assert all(f["layers"] == ["${data.aws_ssm_parameter.sdk_for_pandas_layer.value}"] for f in functions.values())
    parameter = resources_tf(RESOURCES)["data"]["aws_ssm_parameter"]["sdk_for_pandas_layer"]["name"]
    assert parameter.startswith("/aws/service/aws-sdk-pandas/") and parameter.endswith("/py3.11/x86_64/layer-arn")


def test_sqs_mappings_report_batch_item_failures_and_reference_the_declared_queue() -> None:
    mapping = override_tf(CHALICE_TF, RESOURCES)["resource"]["aws_lambda_event_source_mapping"]
    assert mapping["normalize_chunks-sqs-event-source"] == {
        "event_source_arn": "${aws_sqs_queue.normalize.arn}",
        "function_response_types": ["ReportBatchItemFailures"],
    }


def test_schedule_rules_carry_app_and_stage() -> None:
    rules = override_tf(CHALICE_TF, RESOURCES)["resource"]["aws_cloudwatch_event_rule"]
    assert rules["dlq_watch-event"]["name"] == "data-engine-prod-dlq_watch-event"

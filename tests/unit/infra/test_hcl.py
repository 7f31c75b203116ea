"""Terraform's JSON shape written in native syntax, meaning kept."""

from __future__ import annotations

from infra.hcl import merge_override, quote, render


def test_templates_stay_templates_and_literals_are_escaped() -> None:
    assert quote('${filebase64sha256("${path.module}/deployment.zip")}') == (
        '"${filebase64sha256("${path.module}/deployment.zip")}"'
    )
    assert quote('{"arn": "${aws_sqs_queue.q.arn}"}') == '"{\\"arn\\": \\"${aws_sqs_queue.q.arn}\\"}"'
    assert quote("a\\b\nc $${literal}") == '"a\\\\b\\nc $${literal}"'


def test_dicts_are_blocks_unless_they_are_object_attributes() -> None:
    text = render(
        {
            "resource": {
                "aws_lambda_function": {
                    "f": {
                        "environment": {"variables": {"STAGE": "dev"}},
                        "layers": ["x"],
                        "logging_config": [{"log_format": "Text"}],
                        "depends_on": ["aws_cloudwatch_log_group.f"],
                    }
                }
            }
        },
        lambda block, kind, label, body: ["CKV_AWS_117:no VPC"],
    )
    assert text.splitlines() == [
        'resource "aws_lambda_function" "f" {',
        "  # checkov:skip=CKV_AWS_117:no VPC",
        "  environment {",
        '    variables = {"STAGE" = "dev"}',
        "  }",
        '  layers = ["x"]',
        "  logging_config {",
        '    log_format = "Text"',
        "  }",
        "  depends_on = [aws_cloudwatch_log_group.f]",
        "}",
    ]


def test_an_override_replaces_arguments_and_none_unsets_them() -> None:
    base = {"resource": {"aws_api_gateway_deployment": {"d": {"stage_name": "api", "rest_api_id": "x"}}}}
    override = {"resource": {"aws_api_gateway_deployment": {"d": {"stage_name": None, "triggers": {"a": "b"}}}}}
    merged = merge_override(base, override)
    assert merged["resource"]["aws_api_gateway_deployment"]["d"] == {"rest_api_id": "x", "triggers": {"a": "b"}}
    assert base["resource"]["aws_api_gateway_deployment"]["d"]["stage_name"] == "api"

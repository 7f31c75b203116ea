"""The API stage, concurrency, buckets and tables are protected as each stage needs."""

from __future__ import annotations

import json

import pytest

from chalicelib.resources import for_stage
from infra.chalice_config import DEPLOYED_STAGES, chalice_config
from infra.permissions import ACCESS
from infra.terraform import ACCESS_LOG_FIELDS, api_stage_tf, override_tf, resources_tf

CHALICE_TF = {
    "resource": {
        "aws_api_gateway_rest_api": {"rest_api": {"name": "data-engine"}},
        "aws_api_gateway_deployment": {"rest_api": {"stage_name": "api"}},
    }
}


def test_access_logs_are_json_without_bodies_tokens_or_addresses() -> None:
    stage = api_stage_tf(for_stage("prod"))["aws_api_gateway_stage"]["api"]
    line = stage["access_log_settings"][0]["format"]
    assert json.loads(line) == ACCESS_LOG_FIELDS
    for leak in ("$input", "$context.identity", "authorization", "header", "querystring", "sourceIp"):
        assert leak.lower() not in line.lower()
    assert stage["xray_tracing_enabled"] is True


def test_method_settings_throttle_per_stage_and_never_trace_data() -> None:
    dev, prod = (
        api_stage_tf(for_stage(s))["aws_api_gateway_method_settings"]["all"]["settings"][0] for s in ("dev", "prod")
    )
    assert dev["data_trace_enabled"] is False and dev["logging_level"] == "ERROR"
    assert dev["throttling_rate_limit"] < prod["throttling_rate_limit"]
    assert dev["throttling_burst_limit"] < prod["throttling_burst_limit"]


def test_the_rest_api_is_named_per_stage_and_its_stage_declared_apart() -> None:
    override = override_tf(CHALICE_TF, for_stage("staging"))
    assert override["resource"]["aws_api_gateway_rest_api"]["rest_api"]["name"] == "data-engine-staging"
    assert override["resource"]["aws_api_gateway_deployment"]["rest_api"]["stage_name"] is None
    assert override["output"]["EndpointURL"]["value"] == "${aws_api_gateway_stage.api.invoke_url}"


def test_the_edge_and_every_function_have_reserved_concurrency_and_tracing() -> None:
    for stage in DEPLOYED_STAGES:
        config = chalice_config()["stages"][stage]
        assert config["xray"] is True
        functions = config["lambda_functions"]
        assert set(functions) == set(ACCESS)
        settings = for_stage(stage).settings
        assert functions["api_handler"]["reserved_concurrency"] == settings.api_concurrency
        assert functions["token_auth"]["reserved_concurrency"] == settings.authorizer_concurrency
        assert all(f["reserved_concurrency"] >= 1 for f in functions.values())
    prod = chalice_config()["stages"]["prod"]["lambda_functions"]
    dev = chalice_config()["stages"]["dev"]["lambda_functions"]
    assert prod["normalize_chunks"]["reserved_concurrency"] > dev["normalize_chunks"]["reserved_concurrency"]


def test_every_bucket_is_tls_only_logged_and_aborts_incomplete_uploads() -> None:
    declared = resources_tf(for_stage("prod"))["resource"]
    buckets = set(declared["aws_s3_bucket"])
    assert buckets == {"raw", "lake", "quarantine", "athena_results", "access_logs"}
    for label in buckets:
        policy = json.loads(declared["aws_s3_bucket_policy"][label]["policy"])
        tls = next(s for s in policy["Statement"] if s["Sid"] == "TlsOnly")
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        rules = declared["aws_s3_bucket_lifecycle_configuration"][label]["rule"]
        assert any(r.get("abort_incomplete_multipart_upload") for r in rules)
    assert set(declared["aws_s3_bucket_logging"]) == buckets - {"access_logs"}
    assert {b["target_bucket"] for b in declared["aws_s3_bucket_logging"].values()} == {
        "${aws_s3_bucket.access_logs.id}"
    }


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("staging", 14), ("prod", 30)])
def test_rejected_records_expire_per_stage(stage: str, days: int) -> None:
    rules = resources_tf(for_stage(stage))["resource"]["aws_s3_bucket_lifecycle_configuration"]["quarantine"]["rule"]
    assert [r["expiration"] for r in rules if r["id"] == "expire-rejected"] == [[{"days": days}]]


@pytest.mark.parametrize(("stage", "protected"), [("dev", False), ("staging", True), ("prod", True)])
def test_tables_are_protected_in_staging_and_prod(stage: str, protected: bool) -> None:
    for table in resources_tf(for_stage(stage))["resource"]["aws_dynamodb_table"].values():
        assert table["deletion_protection_enabled"] is protected
        assert table["point_in_time_recovery"] == [{"enabled": protected}]


def test_the_erasure_workflow_logs_its_errors_and_is_traced() -> None:
    machine = resources_tf(for_stage("prod"))["resource"]["aws_sfn_state_machine"]["gdpr_erasure"]
    assert machine["logging_configuration"][0]["level"] == "ERROR"
    assert machine["tracing_configuration"] == [{"enabled": True}]

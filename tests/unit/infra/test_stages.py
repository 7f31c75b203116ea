"""Stages differ where they should: small in dev, sized for peaks in prod; state per stage."""

from __future__ import annotations

from chalicelib.resources import for_stage
from infra.backend import backend_tf, bootstrap_tf
from infra.chalice_config import DEPLOYED_STAGES, chalice_config, reserved_concurrency
from infra.monitoring import monitoring_tf
from infra.permissions import ACCESS
from infra.terraform import api_stage_tf


def knobs(stage: str) -> dict[str, float]:
    """The sizes and limits a stage's generated configuration carries."""
    config = chalice_config()["stages"][stage]
    monitoring = monitoring_tf(for_stage(stage))["resource"]
    throttle = api_stage_tf(for_stage(stage))["aws_api_gateway_method_settings"]["all"]["settings"][0]
    return {
        "memory": config["lambda_memory_size"],
        "rewrite memory": config["lambda_functions"]["gdpr_rewrite_objects"]["lambda_memory_size"],
        "concurrency": sum(reserved_concurrency(stage, f) for f in ACCESS),
        "log retention": monitoring["aws_cloudwatch_log_group"]["normalize_chunks"]["retention_in_days"],
        "api rate": throttle["throttling_rate_limit"],
        "api burst": throttle["throttling_burst_limit"],
        "recipients": len(monitoring["aws_sns_topic_subscription"]),
    }


def test_dev_is_small_and_prod_is_sized_for_peaks() -> None:
    dev, staging, prod = (knobs(stage) for stage in ("dev", "staging", "prod"))
    for knob in dev:
        assert dev[knob] <= staging[knob] <= prod[knob], knob
        assert dev[knob] < prod[knob] or knob == "recipients", knob


def test_the_three_stages_reserve_less_than_an_account_allows_together() -> None:
    # AWS keeps 100 of the default 1,000 concurrent executions unreserved
    assert sum(reserved_concurrency(stage, f) for stage in DEPLOYED_STAGES for f in ACCESS) <= 900


def test_the_state_history_retention_reaches_the_functions() -> None:
    env = chalice_config()["stages"]["dev"]["environment_variables"]
    assert env["STATE_HISTORY_RETENTION_DAYS"] == "14"
    assert "STATE_HISTORY_RETENTION_DAYS" not in chalice_config()["stages"]["local"]["environment_variables"]


def test_each_stage_keeps_its_state_under_its_own_key_with_a_lockfile() -> None:
    for stage in DEPLOYED_STAGES:
        backend = backend_tf(for_stage(stage))
        assert f'key          = "data-engine/{stage}/terraform.tfstate"' in backend
        assert "use_lockfile = true" in backend and "encrypt      = true" in backend


def test_the_bootstrap_keeps_old_states_and_sets_up_api_logging() -> None:
    resource = bootstrap_tf()["resource"]
    assert resource["aws_s3_bucket_versioning"]["state"]["versioning_configuration"] == [{"status": "Enabled"}]
    assert resource["aws_api_gateway_account"]["this"]["cloudwatch_role_arn"] == "${aws_iam_role.api_gateway_logs.arn}"

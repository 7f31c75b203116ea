"""The generated Terraform is valid for every deployable stage, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.__main__ import bootstrap, package, validate


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_generated_terraform_validates(stage: str, tmp_path: Path) -> None:
    out = package(stage, tmp_path / stage)
    validate(out)  # raises CalledProcessError on any init or validate error

    chalice_tf = json.loads((out / "chalice.tf.json").read_text())
    override = json.loads((out / "chalice_override.tf.json").read_text())
    assert "null_data_source" not in chalice_tf.get("data", {})
    for mapping in override["resource"]["aws_lambda_event_source_mapping"].values():
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    for rule in override["resource"]["aws_cloudwatch_event_rule"].values():
        assert rule["name"].startswith(f"data-engine-{stage}-")
    declared = json.loads((out / "resources.tf.json").read_text())["resource"]
    assert {q["name"] for q in declared["aws_sqs_queue"].values()} >= {
        f"data-engine-{stage}-normalize",
        f"data-engine-{stage}-sap-dispatch.fifo",
    }


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_the_account_bootstrap_validates(tmp_path: Path) -> None:
    validate(bootstrap(tmp_path / "bootstrap"))

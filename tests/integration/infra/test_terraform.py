"""The generated Terraform is valid for every deployable stage, offline, and written natively."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chalicelib.resources import for_stage
from infra.__main__ import bootstrap, package, validate
from infra.permissions import ACCESS, function_name

needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


@needs_terraform
@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_generated_terraform_validates(stage: str, tmp_path: Path) -> None:
    out = package(stage, tmp_path / stage)
    validate(out)  # raises CalledProcessError on any init or validate error

    written = {p.name for p in out.iterdir() if p.suffix in (".tf", ".json")}
    assert written == {"chalice.tf", "resources.tf", "monitoring.tf", "versions.tf", "backend.tf"}
    chalice = (out / "chalice.tf").read_text()
    assert "null_data_source" not in chalice
    assert chalice.count('function_response_types = ["ReportBatchItemFailures"]') == 4
    assert f'name = "data-engine-{stage}-dlq_watch-event"' in chalice
    assert f'name = "data-engine-{stage}-normalize"' in (out / "resources.tf").read_text()
    assert "# checkov:skip=CKV_AWS_21:versioning off on purpose" in (out / "resources.tf").read_text()
    # the log groups, dashboard and policies name each function as Chalice deploys it
    resources = for_stage(stage)
    for function in ACCESS:
        assert f'function_name = "{function_name(resources, function)}"' in chalice, function


@needs_terraform
def test_the_account_bootstrap_validates(tmp_path: Path) -> None:
    validate(bootstrap(tmp_path / "bootstrap"))

"""`terraform apply` of the generated prod configuration works: on the local emulator, checked, destroyed.

Minutes long (some 250 resources, the AWS provider's waits), so it runs when asked:
`make deploy-local` (or `DEPLOY_LOCAL=1 pytest` on this file).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from infra.__main__ import deploy_local

pytestmark = [
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed"),
    pytest.mark.skipif(os.environ.get("DEPLOY_LOCAL") != "1", reason="minutes long: make deploy-local runs it"),
]


def test_prod_applies_checks_out_and_destroys_on_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a fresh emulator WHEN prod is applied, checked and destroyed THEN no check failed
    assert deploy_local("prod", tmp_path / "prod") == 0, capsys.readouterr().out
    assert "0 problems" in capsys.readouterr().out

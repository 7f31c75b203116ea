"""`.chalice/config.json` and one IAM policy per function and stage, derived from the declaration.

Each function names its own policy file (Chalice's per-function `iam_policy_file`), so
Chalice gives each its own role; `infra/permissions.py` says what goes in each. The local
stage deploys nothing, so it has no policies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.resources import APP_NAME, FUNCTION_TIMEOUT, STAGES, for_stage
from infra.permissions import ACCESS, AUTHORIZERS, policy

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"


DEPLOYED_STAGES = tuple(stage for stage in STAGES if stage != "local")


def policy_file(stage: str, function: str) -> str:
    """The function's policy file, relative to `.chalice/` (as Chalice reads it)."""
    return f"policies/{stage}/{function}.json"


def chalice_config() -> dict[str, Any]:
    return {
        "version": "2.0",
        "app_name": APP_NAME,
        "autogen_policy": False,
        "lambda_timeout": FUNCTION_TIMEOUT,
        "lambda_memory_size": 1024,
        "stages": {
            stage: {
                "api_gateway_stage": "api",
                "environment_variables": for_stage(stage).environment(),
                "lambda_memory_size": for_stage(stage).settings.default_memory_mb,
                "lambda_functions": _functions(stage),
            }
            | ({"xray": True} if stage in DEPLOYED_STAGES else {})
            for stage in STAGES
        },
    }


def _functions(stage: str) -> dict[str, dict[str, Any]]:
    resources = for_stage(stage)
    functions: dict[str, dict[str, Any]] = {
        function: (
            {
                "iam_policy_file": policy_file(stage, function),
                "reserved_concurrency": reserved_concurrency(stage, function),
            }
            if stage in DEPLOYED_STAGES
            else {}
        )
        for function in sorted(ACCESS)
    }
    for settings in resources.functions:
        functions[settings.name] |= {"lambda_timeout": settings.timeout, "lambda_memory_size": settings.memory_mb}
    return {name: config for name, config in functions.items() if config}


def reserved_concurrency(stage: str, function: str) -> int:
    """The HTTP edge's own share, or the function's cap (`StageSettings`)."""
    settings = for_stage(stage).settings
    if function == "api_handler":
        return settings.api_concurrency
    if function in AUTHORIZERS:
        return settings.authorizer_concurrency
    return settings.pipeline_concurrency.get(function, settings.default_concurrency)


def policies() -> dict[str, dict[str, Any]]:
    """Every policy file (relative to `.chalice/`) and its document."""
    return {
        policy_file(stage, function): policy(for_stage(stage), function)
        for stage in DEPLOYED_STAGES
        for function in sorted(ACCESS)
    }


def write(directory: Path = CHALICE_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = [directory / "config.json"]
    written[0].write_text(json.dumps(chalice_config(), indent=2) + "\n")
    expected = policies()
    for stale in directory.glob("policies/*/*.json"):  # a function or stage no longer declared
        if str(stale.relative_to(directory)) not in expected:
            stale.unlink()
    for relative, document in expected.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        written.append(path)
    return written

"""`.chalice/` is generated from the resource declaration and kept in step with it."""

from __future__ import annotations

import json

from chalicelib.resources import STAGES, for_stage
from infra.chalice_config import CHALICE_DIR, DEPLOYED_STAGES, chalice_config, policies


def test_the_committed_chalice_config_matches_the_declaration() -> None:
    committed = json.loads((CHALICE_DIR / "config.json").read_text())
    assert committed == chalice_config(), "run `make config` and commit .chalice/"
    for relative, document in policies().items():
        assert json.loads((CHALICE_DIR / relative).read_text()) == document, "run `make config` and commit .chalice/"
    committed_files = {str(p.relative_to(CHALICE_DIR)) for p in CHALICE_DIR.glob("policies/*/*.json")}
    assert committed_files == set(policies()), "run `make config` and commit .chalice/"


def test_every_deployed_function_names_its_own_policy() -> None:
    for stage in DEPLOYED_STAGES:
        functions = chalice_config()["stages"][stage]["lambda_functions"]
        assert functions["token_auth"]["iam_policy_file"] == f"policies/{stage}/token_auth.json"
        assert len({f["iam_policy_file"] for f in functions.values()}) == len(functions)


def test_every_function_gets_the_name_of_every_declared_resource() -> None:
    resources = for_stage("dev")
    env = chalice_config()["stages"]["dev"]["environment_variables"]
    assert env["RAW_BUCKET"] == "data-engine-dev-raw"
    assert env["SAP_DISPATCH_QUEUE"] == "data-engine-dev-sap-dispatch.fifo"
    assert {t.env for t in resources.tables} <= set(env)


def test_stage_names_never_collide() -> None:
    names = [{b.name for b in for_stage(stage).buckets} for stage in STAGES]
    assert all(a.isdisjoint(b) for i, a in enumerate(names) for b in names[i + 1 :])

"""`.chalice/` is generated from the resource declaration and kept in step with it."""

from __future__ import annotations

import json

from chalicelib.resources import STAGES, for_stage
from infra.chalice_config import CHALICE_DIR, chalice_config, iam_policy


def test_the_committed_chalice_config_matches_the_declaration() -> None:
    committed = json.loads((CHALICE_DIR / "config.json").read_text())
    assert committed == chalice_config(), "run `make config` and commit .chalice/"
    for stage in STAGES:
        policy = json.loads((CHALICE_DIR / f"policy-{stage}.json").read_text())
        assert policy == iam_policy(for_stage(stage)), "run `make config` and commit .chalice/"


def test_every_function_gets_the_name_of_every_declared_resource() -> None:
    resources = for_stage("dev")
    env = chalice_config()["stages"]["dev"]["environment_variables"]
    assert env["RAW_BUCKET"] == "data-engine-dev-raw"
    assert env["SAP_DISPATCH_QUEUE"] == "data-engine-dev-sap-dispatch.fifo"
    assert {t.env for t in resources.tables} <= set(env)


def test_stage_names_never_collide() -> None:
    names = [{b.name for b in for_stage(stage).buckets} for stage in STAGES]
    assert all(a.isdisjoint(b) for i, a in enumerate(names) for b in names[i + 1 :])

"""The erasure state machine's definition, generated from code."""

from __future__ import annotations

from chalicelib.erasure.state_machine import TASK_FUNCTIONS, erasure_definition, lambda_arn

ARN = lambda_arn("eu-central-1", "123456789012", "data-engine", "prod")


def test_every_task_state_is_one_of_our_lambda_functions() -> None:
    definition = erasure_definition(ARN)
    states = definition["States"]
    tasks = [s for s in states.values() if s["Type"] == "Task"]
    tasks += [s for s in states["RewriteObjects"]["Iterator"]["States"].values()]
    expected = {
        f"arn:aws:lambda:eu-central-1:123456789012:function:data-engine-prod-{n}" for n in TASK_FUNCTIONS.values()
    }
    assert {t["Resource"] for t in tasks} == expected


def test_it_finds_rewrites_forgets_erases_in_sap_verifies_and_reports_in_that_order() -> None:
    states = erasure_definition(ARN)["States"]
    order, name = [], "FindObjects"
    while name != "IsErased":
        order.append(name)
        name = states[name]["Next"]
    assert order == ["FindObjects", "RewriteObjects", "ForgetSubjects", "EraseInSap", "VerifyErasure"]
    choices = states["IsErased"]["Choices"]
    assert choices[0] == {"Variable": "$.verify.clean", "BooleanEquals": True, "Next": "ReportJob"}
    assert choices[1]["Next"] == "FindObjects" and states["IsErased"]["Default"] == "ReportFailure"


def test_the_map_runs_over_chunks_with_bounded_concurrency() -> None:
    rewrite = erasure_definition(ARN, map_concurrency=3)["States"]["RewriteObjects"]
    assert (rewrite["ItemsPath"], rewrite["MaxConcurrency"]) == ("$.chunks", 3)
    assert rewrite["Parameters"]["chunk.$"] == "$$.Map.Item.Value"


def test_every_failure_is_reported_before_the_execution_fails() -> None:
    states = erasure_definition(ARN)["States"]
    for name in ("FindObjects", "RewriteObjects", "ForgetSubjects", "EraseInSap", "VerifyErasure", "ReportJob"):
        assert states[name]["Catch"][0]["Next"] == "ReportFailure"
    assert states["ReportFailure"]["Next"] == "ReportFailedJob"
    assert states["ReportFailedJob"]["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"

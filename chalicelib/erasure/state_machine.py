"""The erasure workflow as a Step Functions state machine (ASL), generated from code.

    FindObjects → RewriteObjects (Map over chunks of found objects) → ForgetSubjects
    → EraseInSap → VerifyErasure → IsErased? ─ yes → ReportJob → Done
                                ├ no, rounds left → FindObjects (again)
                                └ no → ReportFailure → ReportFailedJob → Failed
    any task error (after retries) → ReportFailure → ReportFailedJob → Failed

Each task is one of our `@app.lambda_function`s, named by `TASK_FUNCTIONS`; the state
carries only ids and counts (the found objects' keys live in the job's manifest in the
work bucket), so it stays far below Step Functions' 256 KB payload limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# step -> the Chalice function name (`@app.lambda_function(name=...)`)
TASK_FUNCTIONS = {
    "find": "gdpr_find_objects",
    "rewrite": "gdpr_rewrite_objects",
    "forget": "gdpr_forget_subjects",
    "erase_in_sap": "gdpr_erase_in_sap",
    "verify": "gdpr_verify_erasure",
    "report": "gdpr_report_job",
}
MAX_VERIFY_ROUNDS = 2
# transient Lambda errors, and an object that changed under a rewrite (read it again)
RETRIED_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "ObjectChanged",
]


def lambda_arn(region: str, account: str, app: str, stage: str) -> Callable[[str], str]:
    """Resolver from a function name to the ARN Chalice deploys it under."""
    return lambda name: f"arn:aws:lambda:{region}:{account}:function:{app}-{stage}-{name}"


def state_machine_name(app: str, stage: str) -> str:
    return f"{app}-{stage}-gdpr-erasure"


def _task(resource: str, next_state: str | None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": resource,
        "Retry": [{"ErrorEquals": RETRIED_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}],
        **extra,
    }
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def _on_error() -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportFailure"}]


def erasure_definition(
    function_arn: Callable[[str], str], map_concurrency: int = 4, max_verify_rounds: int = MAX_VERIFY_ROUNDS
) -> dict[str, Any]:
    """The ASL of the erasure workflow; input `{"job_id": "..."}`."""
    arn = {step: function_arn(name) for step, name in TASK_FUNCTIONS.items()}
    return {
        "Comment": "GDPR erasure: find with Athena, rewrite only the objects found, forget, erase in SAP, "
        "verify, report",
        "StartAt": "FindObjects",
        "States": {
            "FindObjects": _task(arn["find"], "RewriteObjects", Catch=_on_error()),
            "RewriteObjects": {
                "Type": "Map",
                "ItemsPath": "$.chunks",
                "Parameters": {"job_id.$": "$.job_id", "round.$": "$.round", "chunk.$": "$$.Map.Item.Value"},
                "MaxConcurrency": map_concurrency,
                "Iterator": {
                    "StartAt": "RewriteChunk",
                    "States": {"RewriteChunk": _task(arn["rewrite"], None)},
                },
                "ResultPath": "$.rewrites",
                "Catch": _on_error(),
                "Next": "ForgetSubjects",
            },
            "ForgetSubjects": _task(arn["forget"], "EraseInSap", Catch=_on_error()),
            "EraseInSap": _task(arn["erase_in_sap"], "VerifyErasure", Catch=_on_error()),
            "VerifyErasure": _task(arn["verify"], "IsErased", Catch=_on_error()),
            "IsErased": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.verify.clean", "BooleanEquals": True, "Next": "ReportJob"},
                    {"Variable": "$.round", "NumericLessThan": max_verify_rounds, "Next": "FindObjects"},
                ],
                "Default": "ReportFailure",
            },
            "ReportJob": _task(arn["report"], "Done", Catch=_on_error()),
            "Done": {"Type": "Succeed"},
            "ReportFailure": {"Type": "Pass", "Result": True, "ResultPath": "$.failed", "Next": "ReportFailedJob"},
            "ReportFailedJob": _task(arn["report"], "Failed"),
            "Failed": {
                "Type": "Fail",
                "Error": "ErasureFailed",
                "Cause": "the erasure job failed; see the job's report",
            },
        },
    }


# declared state machine key (`resources.StateMachine.key`) -> its ASL, given a resolver
# from a function name to its ARN; Terraform and local provisioning both build from here
DEFINITIONS: dict[str, Callable[[Callable[[str], str]], dict[str, Any]]] = {
    "gdpr-erasure": erasure_definition,
}

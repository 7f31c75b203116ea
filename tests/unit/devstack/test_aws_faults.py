"""AWS fault rules: which request they hit, and error bodies botocore reads as AWS's own."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from devstack.faults import FaultRule, FaultRules, error_answer

_MODELS = botocore.session.get_session()


def parsed_error(service: str, operation: str, rule: FaultRule, json_protocol: bool = True) -> dict[str, Any]:
    """What botocore makes of the answer: the same parser its clients use on AWS's responses."""
    model = _MODELS.get_service_model(service)
    answer = error_answer(rule, json_protocol)
    protocol = model.protocol if json_protocol or service != "sqs" else "query"
    parsed = create_parser(protocol).parse(
        {"status_code": answer.status, "headers": dict(answer.headers), "body": answer.body},
        model.operation_model(operation).output_shape,
    )
    return {"status": answer.status, **parsed["Error"]}


def rule(**fields: Any) -> FaultRule:
    return FaultRule.from_json(fields)


@pytest.mark.parametrize(
    ("service", "operation", "fields", "status", "code"),
    [
        ("dynamodb", "PutItem", {"kind": "throttle"}, 400, "ProvisionedThroughputExceededException"),
        ("dynamodb", "Query", {"kind": "throttle", "code": "ThrottlingException"}, 400, "ThrottlingException"),
        ("dynamodb", "GetItem", {"status": 500}, 500, "InternalServerError"),
        ("dynamodb", "GetItem", {"status": 503}, 503, "ServiceUnavailable"),
        ("sqs", "SendMessage", {"status": 500}, 500, "InternalFailure"),
        ("sqs", "ReceiveMessage", {"status": 503}, 503, "ServiceUnavailable"),
        ("sqs", "SendMessage", {"kind": "throttle"}, 400, "RequestThrottled"),
        ("s3", "PutObject", {"status": 500}, 500, "InternalError"),
        ("s3", "GetObject", {"status": 503}, 503, "SlowDown"),
        ("ses", "SendEmail", {"status": 500}, 500, "InternalFailure"),
        ("ses", "SendRawEmail", {"kind": "throttle"}, 400, "Throttling"),
    ],
)
def test_botocore_reads_each_injected_error_as_the_service_code(
    service: str, operation: str, fields: dict[str, Any], status: int, code: str
) -> None:
    error = parsed_error(service, operation, rule(service=service, **fields))
    assert (error["status"], error["Code"]) == (status, code)
    assert error["Message"]


def test_sqs_errors_parse_in_the_query_protocol_too() -> None:
    error = parsed_error("sqs", "SendMessage", rule(service="sqs", status=503), json_protocol=False)
    assert (error["status"], error["Code"]) == (503, "ServiceUnavailable")


def test_a_rule_hits_only_its_service_and_operations() -> None:
    rules = FaultRules()
    rules.set([rule(service="dynamodb", kind="throttle", operations=["PutItem"])])
    assert rules.take("dynamodb", "GetItem") is None
    assert rules.take("sqs", "PutItem") is None
    assert rules.take("dynamodb", "PutItem") is not None
    assert rules.counts() == {"dynamodb:ProvisionedThroughputExceededException": 1}


def test_every_nth_hits_every_nth_matching_request() -> None:
    rules = FaultRules()
    rules.set([rule(service="s3", every=3)])
    hits = [rules.take("s3", "PutObject") is not None for _ in range(9)]
    assert hits == [False, False, True] * 3
    assert rules.counts() == {"s3:InternalError": 3}


def test_probability_hits_about_that_share() -> None:
    rules = FaultRules(seed=1)
    rules.set([rule(service="sqs", probability=0.25)])
    hits = sum(rules.take("sqs", "SendMessage") is not None for _ in range(4000))
    assert 800 < hits < 1200


def test_a_rule_ends_after_its_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("devstack.faults.time.monotonic", lambda: clock[0])
    rules = FaultRules()
    rules.set([rule(service="ses", seconds=10)])
    assert rules.take("ses", "SendEmail") is not None
    clock[0] += 10.5
    assert rules.take("ses", "SendEmail") is None
    assert rules.active() == []


def test_the_control_route_sets_clears_and_reads() -> None:
    rules = FaultRules()
    answer = rules.control({"rules": [{"service": "sqs", "status": 503}]})
    assert [r["service"] for r in answer["rules"]] == ["sqs"]
    rules.take("sqs", "SendMessage")
    assert rules.control({"clear": True}) == {"rules": [], "injected": {"sqs:ServiceUnavailable": 1}}


@pytest.mark.parametrize(
    "fields",
    [
        {"service": "lambda"},
        {"service": "s3", "kind": "throttle"},
        {"service": "sqs", "status": 502},
        {"service": "sqs", "kind": "throttle", "code": "ThrottlingException"},
        {"service": "sqs", "every": 0},
        {"service": "sqs", "typo": 1},
    ],
)
def test_a_rule_that_aws_could_not_answer_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultRule.from_json(fields)

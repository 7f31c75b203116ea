"""The emulator and the SAP stand-in in processes of their own answer, and stop cleanly."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
import requests

from devstack.emulator_process import EmulatorProcess
from devstack.standin_process import StandInProcess


def aws_client(emulator: EmulatorProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name="eu-central-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_it_serves_aws_calls_resets_and_stops() -> None:
    emulator = EmulatorProcess()
    emulator.start()
    try:
        s3 = aws_client(emulator, "s3")
        s3.create_bucket(Bucket="bench-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bench-bucket"]
        emulator.reset()
        assert s3.list_buckets()["Buckets"] == []
    finally:
        emulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(emulator.endpoint, timeout=2)


def test_the_emulator_process_passes_invokes_and_control_routes_on_to_this_process() -> None:
    # GIVEN a function and a control route registered here, the emulator in its own process
    emulator = EmulatorProcess()
    emulator.start()
    seen: list[Any] = []
    emulator.register_function("fn-local-triple", lambda event, context: {"value": event["value"] * 3})
    emulator.control_routes["echo"] = lambda request: {"path": request["path"], "seen": seen}
    try:
        # WHEN it is invoked directly, and by a Step Functions task state in the emulator
        answer = aws_client(emulator, "lambda").invoke(
            FunctionName="fn-local-triple", Payload=json.dumps({"value": 2}).encode()
        )
        sfn = aws_client(emulator, "stepfunctions")
        definition = {
            "StartAt": "Triple",
            "States": {
                "Triple": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:eu-central-1:123456789012:function:fn-local-triple",
                    "End": True,
                }
            },
        }
        machine = sfn.create_state_machine(
            name="tripler", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"value": 5}))["executionArn"]
        deadline = time.monotonic() + 30
        while (done := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # THEN both ran the function here; the control route answers through the emulator's port
        assert json.loads(answer["Payload"].read()) == {"value": 6}
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"value": 15}
        echoed = requests.post(f"{emulator.endpoint}/_devstack/echo/x", json={}, timeout=10)
        assert echoed.json() == {"path": "echo/x", "seen": []}
        assert requests.post(f"{emulator.endpoint}/_devstack/nope", timeout=10).status_code == 404
        assert any(row["operation"] == "Invoke" for row in emulator.request_counts())
    finally:
        emulator.stop()


def test_the_stand_in_process_answers_its_inspection_and_stops() -> None:
    with StandInProcess(capacity=5) as standin:
        assert standin.stats().get("requests", 0) == 0
        assert standin.records()["counts"]["duplicates"] == 0
        url = standin.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)

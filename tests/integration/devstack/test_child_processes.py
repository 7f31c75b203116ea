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


def test_dynamodb_in_a_process_of_its_own_answers_both_ways_and_counts_once() -> None:
    # GIVEN the emulator with DynamoDB in a second process
    emulator = EmulatorProcess(own_dynamodb=True)
    emulator.start()
    try:
        direct = boto3.client(
            "dynamodb",
            endpoint_url=emulator.environment()["AWS_ENDPOINT_URL_DYNAMODB"],
            region_name="eu-central-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        relayed = aws_client(emulator, "dynamodb")  # a client that knows the main endpoint only
        assert emulator.environment()["AWS_ENDPOINT_URL_DYNAMODB"] != emulator.endpoint
        emulator.request_counts(reset=True)
        # WHEN a table is made directly and an item written and read through the main endpoint
        direct.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        relayed.put_item(TableName="t", Item={"pk": {"S": "a"}})
        with pytest.raises(relayed.exceptions.ConditionalCheckFailedException):
            relayed.put_item(TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
        # THEN both see one table; each request is counted once; a DynamoDB fault hits the DynamoDB process
        assert direct.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        puts = [row for row in emulator.request_counts() if row["operation"] == "PutItem"]
        assert [row["requests"] for row in puts] == [2]
        emulator.set_faults([{"service": "dynamodb", "kind": "throttle", "every": 1}])
        with pytest.raises(direct.exceptions.ProvisionedThroughputExceededException):
            direct.get_item(TableName="t", Key={"pk": {"S": "a"}})
        assert sum(emulator.faults_injected().values()) >= 1
        emulator.set_faults([], clear=True)
        emulator.reset()
        assert direct.list_tables()["TableNames"] == []
    finally:
        emulator.stop()

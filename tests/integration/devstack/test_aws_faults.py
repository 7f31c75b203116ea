"""AWS faults injected at the emulator's door reach boto3 clients as AWS's own errors."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.emulator import Emulator

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def faulty(emulator: Emulator, aws: boto3.Session) -> Iterator[boto3.Session]:
    yield aws
    emulator.set_faults([], clear=True)


def error_of(call: object) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()  # type: ignore[operator]
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_each_service_answers_the_injected_error_and_recovers(emulator: Emulator, faulty: boto3.Session) -> None:
    # GIVEN a table, a queue, a bucket and a mail identity
    dynamodb = faulty.client("dynamodb", config=NO_RETRIES)
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = faulty.client("sqs", config=NO_RETRIES)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    s3 = faulty.client("s3", config=NO_RETRIES)
    s3.create_bucket(Bucket="faulty-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    ses = faulty.client("ses", config=NO_RETRIES)
    ses.verify_email_identity(EmailAddress="ops@example.com")
    emulator.request_counts(reset=True)

    # WHEN every service misbehaves on every request
    emulator.set_faults(
        [
            {"service": "dynamodb", "kind": "throttle", "operations": ["PutItem"]},
            {"service": "dynamodb", "kind": "throttle", "code": "ThrottlingException", "operations": ["GetItem"]},
            {"service": "sqs", "status": 503},
            {"service": "s3", "status": 500},
            {"service": "ses", "kind": "throttle"},
        ]
    )

    # THEN each client sees its service's own error code
    item = {"pk": {"S": "a"}}
    assert error_of(lambda: dynamodb.put_item(TableName="t", Item=item)) == (
        400,
        "ProvisionedThroughputExceededException",
    )
    assert error_of(lambda: dynamodb.get_item(TableName="t", Key=item)) == (400, "ThrottlingException")
    assert error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x")) == (503, "ServiceUnavailable")
    body = b"x" * 100_000
    assert error_of(lambda: s3.put_object(Bucket="faulty-bucket", Key="k", Body=body)) == (500, "InternalError")
    mail = {
        "Source": "ops@example.com",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    }
    assert error_of(lambda: ses.send_email(**mail)) == (400, "Throttling")
    assert emulator.faults_injected() == {
        "dynamodb:ProvisionedThroughputExceededException": 1,
        "dynamodb:ThrottlingException": 1,
        "s3:InternalError": 1,
        "ses:Throttling": 1,
        "sqs:ServiceUnavailable": 1,
    }
    assert emulator.request_counts() == []  # AWS bills no failed request

    # AND once cleared, the same connections serve again
    emulator.set_faults([], clear=True)
    dynamodb.put_item(TableName="t", Item=item)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    s3.put_object(Bucket="faulty-bucket", Key="k", Body=body)
    assert s3.get_object(Bucket="faulty-bucket", Key="k")["Body"].read() == body


def test_botocore_retries_absorb_an_occasional_fault(emulator: Emulator, faulty: boto3.Session) -> None:
    sqs = faulty.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    emulator.set_faults([{"service": "sqs", "status": 500, "every": 2, "operations": ["SendMessage"]}])
    for _ in range(4):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert emulator.faults_injected()["sqs:InternalFailure"] >= 3

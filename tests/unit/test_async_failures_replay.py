"""Failed asynchronous invocations, from Lambda's on-failure queue, invoked again."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.queues import replay_failed_invocations

ARN = "arn:aws:lambda:eu-central-1:123456789012:function:{name}:$LATEST"


def invocation_record(function: str, event: Any) -> str:
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"functionArn": ARN.format(name=function), "condition": "RetriesExhausted"},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        }
    )


class FakeSqs:
    """Hands out every message on each receive (as SQS does once visibility times out)."""

    def __init__(self, bodies: list[str]) -> None:
        self.messages = {f"m{n}": body for n, body in enumerate(bodies)}
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        messages = [{"MessageId": key, "ReceiptHandle": key, "Body": body} for key, body in self.messages.items()]
        return {"Messages": messages[:10]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)
        del self.messages[ReceiptHandle]


class FakeLambda:
    def __init__(self) -> None:
        self.invoked: list[tuple[str, str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.invoked.append((FunctionName, InvocationType, json.loads(Payload)))
        return {"StatusCode": 202}


def test_each_event_goes_back_to_the_function_it_failed_in_and_leaves_the_queue() -> None:
    s3_event = {"Records": [{"s3": {"bucket": {"name": "raw"}, "object": {"key": "incoming/shop/f.csv"}}}]}
    sqs = FakeSqs([invocation_record("app-prod-ingest_raw_object", s3_event), invocation_record("app-prod-pull", {})])
    lambda_client = FakeLambda()

    replayed = replay_failed_invocations(sqs, lambda_client, "url", {"app-prod-ingest_raw_object", "app-prod-pull"})

    assert lambda_client.invoked == [
        ("app-prod-ingest_raw_object", "Event", s3_event),
        ("app-prod-pull", "Event", {}),
    ]
    assert (replayed.invoked, replayed.left, sqs.messages) == (2, 0, {})
    assert replayed.by_function == {"app-prod-ingest_raw_object": 1, "app-prod-pull": 1}


def test_a_record_of_another_function_or_a_foreign_message_stays_and_the_replay_still_ends() -> None:
    sqs = FakeSqs([invocation_record("someone-elses-function", {}), "not json", json.dumps({"requestContext": {}})])
    lambda_client = FakeLambda()

    replayed = replay_failed_invocations(sqs, lambda_client, "url", {"app-prod-ingest_raw_object"})

    assert lambda_client.invoked == [] and sqs.deleted == []
    assert (replayed.invoked, replayed.left) == (0, 3)


def test_a_limit_stops_the_replay() -> None:
    sqs = FakeSqs([invocation_record("f", {"n": n}) for n in range(5)])

    replayed = replay_failed_invocations(sqs, FakeLambda(), "url", {"f"}, limit=2)

    assert replayed.invoked == 2 and len(sqs.messages) == 3

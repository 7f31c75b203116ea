"""The local runtime does what AWS does around a Chalice app's functions."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from chalicelib.queues import replay_failed_invocations
from devstack.emulator import Emulator
from devstack.runtime import LocalRuntime
from tests.integration.devstack import recording_app
from tests.integration.devstack.recording_app import CALLS_FILE, calls, clear_calls, failing_nightly, failing_uploads

# the handlers run in worker processes, which see the environment of the moment the first starts
os.environ.setdefault(CALLS_FILE, os.path.join(tempfile.mkdtemp(prefix="recording-app-"), "calls.jsonl"))


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def runtime(aws: boto3.Session, emulator: Emulator) -> Iterator[LocalRuntime]:
    # GIVEN the recording app's queues and bucket, with short visibility timeouts
    sqs = aws.client("sqs")
    for name in ("rec-batches", "rec-partial"):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})
    sqs.create_queue(QueueName="rec-slow", Attributes={"VisibilityTimeout": "3"})
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="rec-poison-dlq")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sqs.create_queue(
        QueueName="rec-poison",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )
    sqs.create_queue(
        QueueName="rec-orders.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "5"},
    )
    aws.client("s3").create_bucket(
        Bucket="rec-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    clear_calls()
    running = LocalRuntime(recording_app, aws, emulator, s3_retry_seconds=1)
    running.start()
    yield running
    running.stop()


def send(aws: boto3.Session, queue: str, bodies: list[str], **extra: Any) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, **extra)


def test_it_hands_the_handler_batches_no_larger_than_batch_size(runtime: LocalRuntime, aws: boto3.Session) -> None:
    send(aws, "rec-batches", [f"m{i}" for i in range(12)])
    batches = wait_for(lambda: (b := calls()["batches"]) and sum(len(batch) for batch in b) == 12 and b)
    assert max(len(batch) for batch in batches) <= 5
    assert len(batches) >= 3


def test_it_retries_only_the_records_a_handler_reports_failed(runtime: LocalRuntime, aws: boto3.Session) -> None:
    # WHEN a batch holds good and bad records and the handler reports the bad ones failed
    send(aws, "rec-partial", ["good-1", "bad-1", "good-2"])
    # THEN the bad record comes back after the visibility timeout; the good ones never do
    wait_for(lambda: calls()["partial"].count("bad-1") >= 3, timeout=20)
    handed = calls()["partial"]
    assert handed.count("good-1") == 1
    assert handed.count("good-2") == 1


def test_a_failed_message_stays_invisible_for_the_visibility_timeout(runtime: LocalRuntime, aws: boto3.Session) -> None:
    send(aws, "rec-partial", ["bad-timed"])
    wait_for(lambda: calls()["partial"].count("bad-timed") == 1)
    first = time.monotonic()
    wait_for(lambda: calls()["partial"].count("bad-timed") == 2)
    assert time.monotonic() - first >= 0.9  # the queue's VisibilityTimeout is 1 s


def test_it_moves_a_message_to_the_dead_letter_queue_after_max_receive_count(
    runtime: LocalRuntime, aws: boto3.Session
) -> None:
    send(aws, "rec-poison", ["poison-pill"])
    sqs = aws.client("sqs")
    dlq = sqs.get_queue_url(QueueName="rec-poison-dlq")["QueueUrl"]
    parked = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=30)
    assert parked[0]["Body"] == "poison-pill"
    assert [count for _, count in calls()["poison"]] == ["1", "2", "3"]


def test_it_keeps_the_order_of_a_fifo_message_group(runtime: LocalRuntime, aws: boto3.Session) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName="rec-orders.fifo")["QueueUrl"]
    for i in range(10):
        for group in ("a", "b"):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"group": group, "n": i}), MessageGroupId=group)
    wait_for(lambda: len(calls()["orders"]) == 20)
    for group in ("a", "b"):
        assert [o["n"] for o in calls()["orders"] if o["group"] == group] == list(range(10))


def test_it_delivers_s3_notifications_matching_prefix_and_suffix(runtime: LocalRuntime, aws: boto3.Session) -> None:
    s3 = aws.client("s3")
    s3.put_object(Bucket="rec-bucket", Key="incoming/a file.json", Body=b"{}")
    s3.put_object(Bucket="rec-bucket", Key="incoming/skip.csv", Body=b"")
    s3.put_object(Bucket="rec-bucket", Key="elsewhere/skip.json", Body=b"{}")
    wait_for(lambda: calls()["uploaded"])
    time.sleep(1.5)
    assert calls()["uploaded"] == [["rec-bucket", "incoming/a file.json"]]


def test_asked_to_it_hands_every_sqs_batch_and_s3_event_over_twice(runtime: LocalRuntime, aws: boto3.Session) -> None:
    # GIVEN deliveries doubled, as SQS (at least once) and S3 notifications may do
    runtime.deliver_twice(1.0)
    # WHEN a message and an upload arrive
    send(aws, "rec-orders.fifo", ['{"n": 1}'], MessageGroupId="g")
    aws.client("s3").put_object(Bucket="rec-bucket", Key="incoming/twice.json", Body=b"{}")
    # THEN each handler sees it twice, and the message is gone after
    wait_for(lambda: len(calls()["orders"]) == 2 and len(calls()["uploaded"]) == 2)
    assert calls()["orders"] == [{"n": 1}, {"n": 1}]
    assert calls()["uploaded"] == [["rec-bucket", "incoming/twice.json"]] * 2
    assert runtime.wait_until_idle(timeout=10)
    assert sum(p.stats.duplicated_messages for p in runtime.pollers) == 2


def test_a_cron_schedule_fires_when_its_time_comes(runtime: LocalRuntime) -> None:
    nightly = runtime.schedules["nightly"]
    assert (nightly.next_at.hour, nightly.next_at.minute) == (3, 0)
    # WHEN the clock reaches the rule's next fire time
    nightly.next_at = datetime.now(UTC)
    # THEN the scheduler runs the function with a scheduled event and plans the next run
    wait_for(lambda: calls()["nightly"] == ["Scheduled Event"])
    assert nightly.next_at > datetime.now(UTC)


def test_a_schedule_can_be_fired_on_demand_over_http(runtime: LocalRuntime, emulator: Emulator) -> None:
    import requests

    response = requests.post(f"{emulator.endpoint}/_devstack/fire/nightly", timeout=10)
    assert response.status_code == 200
    assert calls()["nightly"] == ["Scheduled Event"]
    unknown = requests.post(f"{emulator.endpoint}/_devstack/fire/nope", timeout=10)
    assert unknown.status_code == 404


def test_a_step_functions_task_state_runs_our_lambda_function(runtime: LocalRuntime, aws: boto3.Session) -> None:
    sfn = aws.client("stepfunctions")
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:eu-central-1:123456789012:function:recorder-local-double",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="doubler", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"value": 21}))
    done = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] != "RUNNING" and d,
        timeout=30,
    )
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"value": 42}


def test_an_asynchronous_invoke_answers_at_once_and_the_function_runs_after(
    runtime: LocalRuntime, aws: boto3.Session
) -> None:
    began = time.monotonic()
    response = aws.client("lambda").invoke(
        FunctionName="recorder-local-slow_note",
        InvocationType="Event",
        Payload=json.dumps({"seconds": 2, "note": "done"}).encode(),
    )
    assert response["StatusCode"] == 202 and time.monotonic() - began < 1.5
    assert calls()["slow_note"] == []
    assert wait_for(lambda: calls()["slow_note"] == ["done"])


def test_handlers_run_in_worker_processes_up_to_the_declared_concurrency(
    runtime: LocalRuntime, aws: boto3.Session
) -> None:
    # WHEN three slow messages arrive for a function of maximum concurrency 2
    send(aws, "rec-slow", ["a:1.5", "b:1.5", "c:1.5"])
    done = wait_for(lambda: len(calls()["slow_done"]) == 3 and calls(), timeout=20)
    # THEN two ran at once, each in a worker process of its own, never this one, and the third reused one
    starts = {s["name"]: s for s in done["slow"]}
    ends = {s["name"]: s["at"] for s in done["slow_done"]}
    first, second, third = sorted(starts.values(), key=lambda s: s["at"])
    assert second["at"] < ends[first["name"]]
    assert third["at"] >= min(ends.values()) - 0.05
    assert len({first["pid"], second["pid"]}) == 2 and os.getpid() not in {first["pid"], second["pid"]}
    assert third["pid"] in {first["pid"], second["pid"]}
    assert runtime.status()["sandboxes"]["recorder-local-slow"]["started"] == 2


def test_a_worker_killed_mid_batch_is_replaced_and_its_batch_comes_back(
    runtime: LocalRuntime, aws: boto3.Session
) -> None:
    # GIVEN a handler in the middle of its batch
    send(aws, "rec-slow", ["victim:2"])
    started = wait_for(lambda: calls()["slow"])
    # WHEN its worker process is killed
    assert runtime.kill_a_worker("slow")
    assert not runtime.idle()  # the message is in flight until its visibility timeout ends
    # THEN the message comes back after the visibility timeout, to a new worker, and completes
    done = wait_for(lambda: calls()["slow_done"], timeout=20)
    retried = calls()["slow"][-1]
    assert retried["receive_count"] == "2" and retried["pid"] != started[0]["pid"]
    assert done[0]["name"] == "victim" and done[0]["pid"] == retried["pid"]
    assert retried["at"] - started[0]["at"] >= 2.9  # the queue's VisibilityTimeout is 3 s
    assert runtime.pollers[[p.function_name for p in runtime.pollers].index("recorder-local-slow")].stats.failed_batches
    assert runtime.wait_until_idle(timeout=20)


def test_it_is_not_idle_while_an_invoked_function_runs(runtime: LocalRuntime, aws: boto3.Session) -> None:
    aws.client("lambda").invoke(
        FunctionName="recorder-local-slow_note",
        InvocationType="Event",
        Payload=json.dumps({"seconds": 2, "note": "later"}).encode(),
    )
    wait_for(lambda: runtime.status()["sandboxes"]["recorder-local-slow_note"]["running"])
    assert not runtime.wait_until_idle(timeout=0.5)
    assert runtime.wait_until_idle(timeout=10)
    assert calls()["slow_note"] == ["later"]


def test_killing_a_worker_of_a_function_without_one_says_so(runtime: LocalRuntime) -> None:
    assert runtime.kill_a_worker("recorder-local-double") is False
    with pytest.raises(LookupError):
        runtime.kill_a_worker("nope")


def test_an_asynchronous_invoke_failing_its_retries_lands_in_the_failure_queue_and_is_replayed(
    runtime: LocalRuntime, aws: boto3.Session, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a function that fails while a marker file exists, and the app's on-failure queue
    sqs, failing = aws.client("sqs"), tmp_path / "fail"
    url = sqs.create_queue(QueueName="recorder-local-async-failures")["QueueUrl"]
    monkeypatch.setattr(emulator.front, "async_retry_delays", (0.1, 0.1))
    failing.touch()
    event = {"n": 1, "fail_while": str(failing)}

    # WHEN it is invoked asynchronously
    aws.client("lambda").invoke(
        FunctionName="recorder-local-flaky", InvocationType="Event", Payload=json.dumps(event).encode()
    )

    # THEN it ran three times (Lambda's two retries), then Lambda's invocation record was queued
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages"))
    record = json.loads(messages[0]["Body"])
    assert calls()["flaky"] == [1, 1, 1]
    assert record["requestPayload"] == event and record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["functionArn"].split(":")[6] == "recorder-local-flaky"

    # WHEN the cause is gone and the failure queue is replayed
    failing.unlink()
    replayed = replay_failed_invocations(sqs, aws.client("lambda"), url, {"recorder-local-flaky"})

    # THEN the event ran once more, and the queue is empty
    assert (replayed.invoked, replayed.left) == (1, 0)
    assert wait_for(lambda: calls()["flaky"] == [1, 1, 1, 1])
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None


def test_an_s3_event_failing_its_retries_lands_in_the_failure_queue_and_is_replayed(
    runtime: LocalRuntime, aws: boto3.Session
) -> None:
    # GIVEN an S3 handler that fails on one upload, and the app's on-failure queue
    sqs, failing = aws.client("sqs"), Path(failing_uploads())
    url = sqs.create_queue(QueueName="recorder-local-async-failures")["QueueUrl"]
    failing.touch()
    try:
        # WHEN the upload's event fails three times (Lambda's two retries)
        aws.client("s3").put_object(Bucket="rec-bucket", Key="incoming/fail/a.json", Body=b"{}")
        messages = wait_for(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages"), 30)

        # THEN Lambda's invocation record of the S3 event is on the queue, and no DLQ holds it
        record = json.loads(messages[0]["Body"])
        assert record["requestContext"]["functionArn"].split(":")[6] == "recorder-local-uploaded"
        assert unquote_plus(record["requestPayload"]["Records"][0]["s3"]["object"]["key"]) == "incoming/fail/a.json"
        assert calls()["uploaded"] == [["rec-bucket", "incoming/fail/a.json"]] * 3
        assert runtime.replay_s3_dead_letters() == 0
    finally:
        failing.unlink()

    # WHEN the cause is gone and the failure queue is replayed
    replayed = replay_failed_invocations(sqs, aws.client("lambda"), url, {"recorder-local-uploaded"})

    # THEN the handler ran once more on the same event, and the queue is empty
    assert (replayed.invoked, replayed.left) == (1, 0)
    assert wait_for(lambda: len(calls()["uploaded"]) == 4)
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None


def test_a_scheduled_run_failing_its_retries_lands_in_the_failure_queue_and_is_replayed(
    runtime: LocalRuntime, aws: boto3.Session, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scheduled function that fails, and the app's on-failure queue
    sqs, failing = aws.client("sqs"), Path(failing_nightly())
    url = sqs.create_queue(QueueName="recorder-local-async-failures")["QueueUrl"]
    monkeypatch.setattr(emulator.front, "async_retry_delays", (0.1, 0.1))
    failing.touch()
    try:
        # WHEN its rule fires and the run fails three times (Lambda's two retries)
        runtime.schedules["nightly"].next_at = datetime.now(UTC)
        messages = wait_for(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages"))

        # THEN Lambda's invocation record of the scheduled event is on the queue
        record = json.loads(messages[0]["Body"])
        assert record["requestContext"]["functionArn"].split(":")[6] == "recorder-local-nightly"
        assert record["requestPayload"]["detail-type"] == "Scheduled Event"
        assert calls()["nightly"] == ["Scheduled Event"] * 3
    finally:
        failing.unlink()

    # WHEN the cause is gone and the failure queue is replayed
    replayed = replay_failed_invocations(sqs, aws.client("lambda"), url, {"recorder-local-nightly"})

    # THEN the function ran once more, and the queue is empty
    assert (replayed.invoked, replayed.left) == (1, 0)
    assert wait_for(lambda: len(calls()["nightly"]) == 4)
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None

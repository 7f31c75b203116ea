"""The emulator and the SAP stand-in in processes of their own (for benches) answer, and stop cleanly."""

from __future__ import annotations

import boto3
import pytest
import requests

from devstack.emulator_process import EmulatorProcess
from devstack.standin_process import StandInProcess


def test_it_serves_aws_calls_resets_and_stops() -> None:
    emulator = EmulatorProcess()
    emulator.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=emulator.endpoint,
            region_name="eu-central-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        s3.create_bucket(Bucket="bench-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bench-bucket"]
        emulator.reset()
        assert s3.list_buckets()["Buckets"] == []
    finally:
        emulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(emulator.endpoint, timeout=2)


def test_the_stand_in_process_answers_its_inspection_and_stops() -> None:
    with StandInProcess(capacity=5) as standin:
        assert standin.stats().get("requests", 0) == 0
        assert standin.records()["counts"]["duplicates"] == 0
        url = standin.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)

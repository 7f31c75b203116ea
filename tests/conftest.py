"""Fixtures shared by every tier: one AWS emulator per test session, reset between tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest

# Set before any client exists: boto3 finds the emulator through AWS_ENDPOINT_URL, and
# these fake credentials keep a developer's real AWS profile out of every test.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "STAGE": "local",
    }
)
os.environ.pop("AWS_PROFILE", None)

if TYPE_CHECKING:
    from devstack.emulator import Emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    from devstack.emulator import Emulator

    running = Emulator()
    running.start()
    os.environ["AWS_ENDPOINT_URL"] = running.endpoint
    yield running
    running.stop()
    os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture
def aws(emulator: Emulator) -> Iterator[boto3.Session]:
    """A boto3 session on a freshly reset emulator (no resources)."""
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # a local stack's, gone with it
    emulator.reset()
    from chalicelib import wiring

    wiring.reset()
    yield boto3.Session(region_name="eu-central-1")


@pytest.fixture
def stack(aws: boto3.Session) -> boto3.Session:
    """A boto3 session on a reset emulator holding every resource of stage `local`."""
    from chalicelib.resources import for_stage
    from devstack.provision import provision

    provision(for_stage("local"), aws)
    return aws

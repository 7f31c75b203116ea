"""Fixtures of the intake tests on the emulator: the platforms' stand-ins, their secrets and
settings, and `app.py` with its functions answering the emulator's Invoke."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.resources import for_stage
from devstack.emulator import Emulator
from devstack.platforms import LocalPlatforms, put_source_settings
from devstack.runtime import function_name, resolve_handler
from devstack.stack import load_app

RESOURCES = for_stage("local")


@pytest.fixture
def local_platforms() -> Iterator[LocalPlatforms]:
    """The stand-ins, fresh for each test, holding the demo data `make run` pulls."""
    running = LocalPlatforms().start()
    running.seed_demo_data()
    yield running
    running.stop()


@pytest.fixture
def app_module(stack: boto3.Session, emulator: Emulator, local_platforms: LocalPlatforms) -> ModuleType:
    secrets = stack.client("secretsmanager")
    for key, value in local_platforms.secret_values().items():
        secrets.put_secret_value(SecretId=RESOURCES.secret(key).name, SecretString=value)
    put_source_settings(wiring.source_states())
    module = load_app()
    for function in module.app.pure_lambda_functions:
        emulator.register_function(
            function_name(module.app, "local", function.name), resolve_handler(module, function.handler_string)
        )
    return module


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app, stage_name="local") as test_client:
        yield test_client

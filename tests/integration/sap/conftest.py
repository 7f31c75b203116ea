"""A running SAP stand-in per test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.sap.client import SapClient
from chalicelib.sap.credentials import SapCredentials
from sapstandin import StandIn


@pytest.fixture(scope="module")
def running_standin() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


@pytest.fixture
def standin(running_standin: StandIn) -> StandIn:
    running_standin.reset()
    running_standin.set_capacity(None, retry_after=1, retry_after_format="seconds")
    return running_standin


@pytest.fixture
def sap_client(standin: StandIn) -> SapClient:
    return SapClient(standin.url, SapCredentials(standin.url, standin.user, standin.password), read_timeout=2.0)

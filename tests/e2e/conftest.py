"""The whole local stack as a user runs it (`python -m devstack up`), spoken to over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningStack:
    api_url: str
    emulator_url: str

    def client(self, service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=self.emulator_url,
            region_name="eu-central-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def wait_until_idle(self, timeout: float = 120) -> None:
        response = requests.post(f"{self.emulator_url}/_devstack/idle", json={"timeout": timeout}, timeout=timeout + 10)
        assert response.ok and response.json()["idle"], "the pipeline did not settle in time"


@contextlib.contextmanager
def running_stack(output: IO[str] | None = None) -> Iterator[RunningStack]:
    """`python -m devstack up` on free ports, until the block ends (then Ctrl-C, as a user stops it).

    `output`: a file for the stack's log; a busy stack can fill an unread pipe and stall."""
    api_port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    ports = ["--api-port", str(api_port), "--emulator-port", str(emulator_port)]
    command = [sys.executable, "-m", "devstack", "up", *ports]
    # a file, not a pipe: the stack prints a JSON line per log and per invocation's metrics,
    # and a pipe nobody reads would fill and block it
    with contextlib.ExitStack() as files:
        log = output if output is not None else files.enter_context(tempfile.TemporaryFile(mode="w+"))
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        stack = RunningStack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{emulator_port}")
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError("devstack exited:\n" + log.read()[-20000:])
            try:
                if requests.get(f"{stack.api_url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("devstack did not start within 60 s")
            time.sleep(0.3)
        yield stack
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


@pytest.fixture(scope="session")
def devstack() -> Iterator[RunningStack]:
    with running_stack() as stack:
        yield stack


def admin_token(stack: RunningStack, name: str = "e2e") -> str:
    from chalicelib.auth.tokens import TokenStore

    return TokenStore("data-engine-local-config", stack.client("dynamodb")).create(name, "admin", 1).token


@pytest.fixture(scope="session")
def token(devstack: RunningStack) -> str:
    return admin_token(devstack)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""A function's handlers run in worker processes of their own, reused, replaced when they die."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.sandboxes import FunctionSandboxes, SandboxDied, forkserver
from tests.integration.devstack import sandbox_handlers

MODULE = sandbox_handlers.__name__


@pytest.fixture
def sandboxes(request: pytest.FixtureRequest) -> Iterator[FunctionSandboxes]:
    attribute = getattr(request, "param", "where")
    running = FunctionSandboxes("fn-local-where", MODULE, attribute, 2, forkserver([MODULE]))
    yield running
    running.close()


def test_it_runs_the_handler_in_another_process_and_reuses_it(sandboxes: FunctionSandboxes) -> None:
    first = sandboxes.invoke({"echo": "one"})
    second = sandboxes.invoke({"echo": "two"})
    assert first["pid"] != os.getpid() and first["pid"] == second["pid"]
    assert (first["function"], first["echo"], second["echo"]) == ("fn-local-where", "one", "two")
    assert sandboxes.started == 1 and sandboxes.running == 0
    assert sandboxes.usage.invocations == 2 and sandboxes.usage.seconds > 0


@pytest.mark.parametrize("sandboxes", ["refuse"], indirect=True)
def test_a_handler_error_reaches_the_caller_and_the_sandbox_stays(sandboxes: FunctionSandboxes) -> None:
    with pytest.raises(sandbox_handlers.Refused, match="refused bad input"):
        sandboxes.invoke({"why": "bad input"})
    with pytest.raises(sandbox_handlers.Refused):
        sandboxes.invoke({"why": "again"})
    assert sandboxes.started == 1


def test_it_runs_no_more_than_its_concurrency_at_once(sandboxes: FunctionSandboxes) -> None:
    began = time.monotonic()
    with ThreadPoolExecutor(4) as callers:
        answers = list(callers.map(lambda n: sandboxes.invoke({"seconds": 1, "echo": n}), range(4)))
    # two at a time: two rounds of a second each, in two processes
    assert time.monotonic() - began >= 1.9
    assert len({a["pid"] for a in answers}) == 2 and sandboxes.started == 2
    assert [a["echo"] for a in answers] == [0, 1, 2, 3]


def test_warming_starts_the_sandboxes_before_the_first_invocation(sandboxes: FunctionSandboxes) -> None:
    sandboxes.warm()
    assert sandboxes.started == 2 and sandboxes.running == 0


def test_a_sandbox_killed_mid_invocation_fails_it_and_a_new_one_takes_its_place(
    sandboxes: FunctionSandboxes,
) -> None:
    # GIVEN an invocation under way
    outcome: dict[str, BaseException] = {}

    def call() -> None:
        try:
            sandboxes.invoke({"seconds": 5})
        except SandboxDied as error:
            outcome["error"] = error

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while not sandboxes.running or not sandboxes.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # WHEN its process is killed
    assert sandboxes.kill_one()
    caller.join(timeout=10)
    # THEN the invocation fails at once, and the next one runs in a new process
    assert isinstance(outcome.get("error"), SandboxDied)
    assert sandboxes.started == 0
    assert sandboxes.invoke({"echo": "after"})["echo"] == "after"
    assert sandboxes.started == 1


def test_killing_an_idle_sandbox_loses_no_later_invocation(sandboxes: FunctionSandboxes) -> None:
    first = sandboxes.invoke({})["pid"]
    assert sandboxes.kill_one()
    assert sandboxes.invoke({})["pid"] != first
    assert not FunctionSandboxes("none", MODULE, "where", 1, forkserver([MODULE])).kill_one()

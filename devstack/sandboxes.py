"""Each function's handlers in worker processes of their own, as Lambda runs each invocation in a sandbox.

A function gets up to `concurrency` sandboxes, each a one-process `ProcessPoolExecutor`
forked from a forkserver that imported the app once (`preload`), so a sandbox starts in
milliseconds and serves every later invocation (a warm start). A sandbox whose process dies
mid-invocation (killed, out of memory) fails that invocation with `SandboxDied` and is
replaced by the next one started; the caller treats it as a handler error, so an SQS batch
reappears after its visibility timeout, as with Lambda.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from devstack.emulator import LambdaContext

log = logging.getLogger(__name__)


class SandboxDied(RuntimeError):
    """The worker process running an invocation ended before answering."""


@dataclass
class Usage:
    """What a function's sandboxes did: invocations, wall seconds and the processes' CPU seconds."""

    invocations: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def run_handler(module: str, attribute: str, function_name: str, event: Any) -> tuple[Any, float]:
    """In the sandbox: the handler's answer to `event`, and the CPU seconds it took."""
    handler = getattr(importlib.import_module(module), attribute)
    cpu = time.process_time()
    result = handler(event, LambdaContext(function_name))
    return result, time.process_time() - cpu


def forkserver(preload: list[str]) -> Any:
    """The multiprocessing context sandboxes start from, importing `preload` (and this module)
    once for all of them.

    The forkserver starts on first use, with this process's environment and `sys.path` at that
    moment: the environment the functions see must be in place by then."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *preload])
    return context


def ignore_interrupts() -> None:
    """Ctrl-C reaches every process of the terminal's group: a sandbox leaves it to the stack,
    which stops its sandboxes in order (a worker interrupted mid-wait printed a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Sandbox:
    def __init__(self, context: Any) -> None:
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=ignore_interrupts)
        self.pid: int = self.executor.submit(os.getpid).result()  # starts (forks) the process now
        self.dead = False

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class FunctionSandboxes:
    """One function's sandboxes: started when first needed, at most `concurrency` at once, reused."""

    def __init__(self, name: str, module: str, attribute: str, concurrency: int, context: Any) -> None:
        self.name = name
        self.module = module
        self.attribute = attribute
        self.concurrency = max(1, concurrency)
        self.usage = Usage()
        self._context = context
        self._idle: list[_Sandbox] = []
        self._busy: set[_Sandbox] = set()
        self._starting = 0  # started for an invocation waiting for it
        self._warming = 0  # started ahead of the invocations
        self._changed = threading.Condition()
        self._closed = False

    @property
    def running(self) -> int:
        """Invocations in progress."""
        with self._changed:
            return len(self._busy) + self._starting

    @property
    def started(self) -> int:
        with self._changed:
            return len(self._idle) + len(self._busy)

    def take_usage(self) -> Usage:
        """The usage so far, starting afresh."""
        with self._changed:
            usage, self.usage = self.usage, Usage()
        return usage

    def warm(self) -> None:
        """Start sandboxes up to `concurrency` ahead of the first invocations, one by one."""
        while True:
            with self._changed:
                if self._closed or self._count() >= self.concurrency:
                    return
                self._warming += 1
            try:
                sandbox = _Sandbox(self._context)
            except BaseException:
                with self._changed:
                    self._warming -= 1
                raise
            with self._changed:
                self._warming -= 1
                self._idle.append(sandbox)
                self._changed.notify_all()
            if self._closed:
                self.close()

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event` in a free sandbox (waiting for one at the concurrency limit)."""
        sandbox = self._acquire()
        began = time.perf_counter()
        cpu = 0.0
        try:
            try:
                future = sandbox.executor.submit(run_handler, self.module, self.attribute, self.name, event)
            except BrokenProcessPool:  # it died while idle: run in a fresh one instead
                sandbox.dead = True
                self._release(sandbox)
                sandbox = self._acquire()
                future = sandbox.executor.submit(run_handler, self.module, self.attribute, self.name, event)
            try:
                result, cpu = future.result()
            except BrokenProcessPool as error:
                sandbox.dead = True
                raise SandboxDied(f"the sandbox of {self.name} (pid {sandbox.pid}) died mid-invocation") from error
            return result
        finally:
            with self._changed:
                self.usage.invocations += 1
                self.usage.seconds += time.perf_counter() - began
                self.usage.cpu_seconds += cpu
            self._release(sandbox)

    def kill_one(self) -> bool:
        """SIGKILL one sandbox's process, a busy one first (its invocation fails); False if none runs."""
        with self._changed:
            victim = next(iter(self._busy), None)
            if victim is None and self._idle:
                victim = self._idle.pop()
                victim.dead = True
                victim.close()
            if victim is None:
                return False
        with contextlib.suppress(ProcessLookupError):  # it died already
            os.kill(victim.pid, signal.SIGKILL)
        log.warning("killed the sandbox of %s (pid %d)", self.name, victim.pid)
        return True

    def close(self) -> None:
        """Stop every sandbox: idle ones at once, busy ones killed after a short grace."""
        with self._changed:
            self._closed = True
            sandboxes = [*self._idle, *self._busy]
            self._idle = []
            self._changed.notify_all()
        for sandbox in sandboxes:
            sandbox.close()
        deadline = time.monotonic() + 5
        while self.running and time.monotonic() < deadline:
            time.sleep(0.1)
        with self._changed:
            left = list(self._busy)
        for sandbox in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sandbox.pid, signal.SIGKILL)

    def _acquire(self) -> _Sandbox:
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError(f"the sandboxes of {self.name} are closed")
                if self._idle:
                    sandbox = self._idle.pop()
                    self._busy.add(sandbox)
                    return sandbox
                if self._count() < self.concurrency:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            sandbox = _Sandbox(self._context)
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
            raise
        with self._changed:
            self._starting -= 1
            self._busy.add(sandbox)
        return sandbox

    def _count(self) -> int:
        return len(self._idle) + len(self._busy) + self._starting + self._warming

    def _release(self, sandbox: _Sandbox) -> None:
        with self._changed:
            self._busy.discard(sandbox)
            if sandbox.dead or self._closed:
                sandbox.close()
            else:
                self._idle.append(sandbox)
            self._changed.notify_all()

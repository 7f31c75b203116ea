"""moto in a process of its own, for benches: AWS's services do not share the functions' CPU.

`Emulator` serves moto and our functions' Lambda Invoke front from the process that runs
the handlers, which is what the local stack needs (Step Functions task states call back
into our functions). A bench of the queue handlers needs no Invoke front, and in one
process every DynamoDB and SQS call of the emulator competes with the handlers for one
interpreter. `EmulatorProcess` has the parts of `Emulator`'s interface the local runtime
uses; a function registered with it cannot be invoked through the emulator.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any, Callable

import requests

from devstack.emulator import check_port_free


class EmulatorProcess:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.functions: dict[str, Callable[..., Any]] = {}  # known by name only: no Invoke front
        self.control_routes: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.port:
            check_port_free(self.host, self.port)
        else:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        self._child = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                raise RuntimeError(f"the emulator process exited with {self._child.returncode}")
            try:
                self.configure()
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the emulator process did not answer within 30 s")

    def configure(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/config", json={"lambda": {"use_docker": False}},
                      timeout=10).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        self.configure()

    def stop(self) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
        self._child = None

    def register_function(self, name: str, function: Callable[..., Any]) -> None:
        self.functions[name] = function

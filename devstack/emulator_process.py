"""moto in a process of its own, for benches: AWS's services do not share the functions' CPU.

`Emulator` serves moto and our functions' Lambda Invoke front from the process that runs
the handlers, which is what the local stack needs (Step Functions task states call back
into our functions). A bench of the queue handlers needs no Invoke front, and in one
process every DynamoDB and SQS call of the emulator competes with the handlers for one
interpreter. `EmulatorProcess` has the parts of `Emulator`'s interface the local runtime
uses; a function registered with it cannot be invoked through the emulator.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import requests

from devstack.child_process import free_port, start_child, stop_child
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
            self.port = free_port(self.host)
        self._child = start_child(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            self.configure,
            "the emulator process",
        )

    def configure(self) -> None:
        requests.post(
            f"{self.endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10
        ).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        self.configure()

    def stop(self) -> None:
        stop_child(self._child)
        self._child = None

    def register_function(self, name: str, function: Callable[..., Any]) -> None:
        self.functions[name] = function

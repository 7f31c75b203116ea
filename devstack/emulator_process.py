"""moto in a process of its own, for benches: AWS's services do not share the functions' CPU.

`Emulator` serves moto and our functions' Lambda Invoke front from the process that runs
the handlers, which is what the local stack needs (Step Functions task states call back
into our functions). A bench of the queue handlers needs no Invoke front, and in one
process every DynamoDB and SQS call of the emulator competes with the handlers for one
interpreter. `EmulatorProcess` has the parts of `Emulator`'s interface the local runtime
uses; a function registered with it cannot be invoked through the emulator. With
`door_counts=True` the child is `devstack.emulator`'s server, which counts every AWS request
(`request_counts()`).
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
    def __init__(self, host: str = "127.0.0.1", port: int = 0, door_counts: bool = False) -> None:
        self.host = host
        self.port = port
        self.door_counts = door_counts
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
        server = (
            ["devstack.emulator", "--host", self.host, "--port"]
            if self.door_counts
            else ["moto.server", "-H", self.host, "-p"]
        )
        self._child = start_child(
            [sys.executable, "-m", *server, str(self.port)],
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

    def request_counts(self, reset: bool = False) -> list[dict[str, Any]]:
        """The AWS requests the emulator served (only with `door_counts`), see `DoorCounts`."""
        response = requests.post(f"{self.endpoint}/_devstack/requests", json={"reset": reset}, timeout=30)
        response.raise_for_status()
        return list(response.json())

    def register_function(self, name: str, function: Callable[..., Any]) -> None:
        self.functions[name] = function

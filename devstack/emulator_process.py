"""The AWS emulator in a process of its own: AWS's services do not share the functions' CPU.

The child is `python -m devstack.emulator` (moto, counting every AWS request at its door:
`request_counts()`). The functions registered here stay in this process, served by a
`FunctionFront` on a port of its own; the child passes their Lambda Invoke calls (Step
Functions' task states among them) and the control routes it does not serve itself on to
it. So `EmulatorProcess` answers as `Emulator` does, from another process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.child_process import free_port, start_child, stop_child
from devstack.emulator import MOTO_CONFIG, FunctionFront, LambdaFunction, check_port_free


class EmulatorProcess:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.front = FunctionFront()
        self.functions = self.front.functions
        self.control_routes: dict[str, Callable[[dict[str, Any]], Any]] = self.front.control_routes
        self._child: subprocess.Popen[bytes] | None = None
        self._front_server: BaseWSGIServer | None = None
        self._front_thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.port:
            check_port_free(self.host, self.port)
        else:
            self.port = free_port(self.host)
        self._front_server = make_server(self.host, 0, self.front, threaded=True)
        self._front_thread = threading.Thread(
            target=self._front_server.serve_forever, name="function-front", daemon=True
        )
        self._front_thread.start()
        self._child = start_child(
            [sys.executable, "-m", "devstack.emulator", "--host", self.host, "--port", str(self.port)],
            self.configure,
            "the emulator process",
        )
        front_url = f"http://{self.host}:{self._front_server.server_address[1]}"
        self._forward({"url": front_url, "functions": sorted(self.functions)})

    def configure(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Forget every resource and item (moto's reset), keeping registered functions."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        self.configure()

    def stop(self) -> None:
        stop_child(self._child)
        self._child = None
        if self._front_server is not None:
            self._front_server.shutdown()
            self._front_server.server_close()
            self._front_server = None
        if self._front_thread is not None:
            self._front_thread.join(timeout=10)

    def request_counts(self, reset: bool = False) -> list[dict[str, Any]]:
        """The AWS requests the emulator served, see `DoorCounts`."""
        response = requests.post(f"{self.endpoint}/_devstack/requests", json={"reset": reset}, timeout=30)
        response.raise_for_status()
        return list(response.json())

    def set_faults(self, rules: list[dict[str, Any]], clear: bool = False) -> dict[str, Any]:
        """Make AWS misbehave at the child's door (`devstack/faults.py`)."""
        return self._control("faults", {"rules": rules, "clear": clear})

    def faults_injected(self) -> dict[str, int]:
        """Faults injected so far, by `service:code`."""
        return dict(self._control("faults", {})["injected"])

    def _control(self, route: str, request: dict[str, Any]) -> Any:
        response = requests.post(f"{self.endpoint}/_devstack/{route}", json=request, timeout=30)
        response.raise_for_status()
        return response.json()

    def register_function(self, name: str, function: LambdaFunction) -> None:
        """`function` answers the emulator's Lambda Invoke calls for `name` (run in this process)."""
        self.functions[name] = function
        if self._child is not None:
            self._forward({"functions": [name]})

    def _forward(self, request: dict[str, Any]) -> None:
        requests.post(f"{self.endpoint}/_devstack/forward", json=request, timeout=10).raise_for_status()

"""The AWS emulator in a process of its own: AWS's services do not share the functions' CPU.

The child is `python -m devstack.emulator` (moto, counting every AWS request at its door:
`request_counts()`). The functions registered here stay in this process, served by a
`FunctionFront` on a port of its own; the child passes their Lambda Invoke calls (Step
Functions' task states among them) and the control routes it does not serve itself on to
it. So `EmulatorProcess` answers as `Emulator` does, from another process.

With `own_dynamodb`, DynamoDB is served by a second child of its own (the same emulator,
its own door counts and faults), so moto's two busiest services work on two cores. The
stack's clients reach it through `AWS_ENDPOINT_URL_DYNAMODB` (`environment()`, also at
`POST /_devstack/endpoints`); a client that knows the main endpoint only is relayed there.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.child_process import free_port, start_child, stop_child
from devstack.emulator import MOTO_CONFIG, FunctionFront, LambdaFunction, check_port_free


class EmulatorProcess:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, own_dynamodb: bool = False) -> None:
        self.host = host
        self.port = port
        self.dynamodb_port: int | None = None
        self.own_dynamodb = own_dynamodb
        self.front = FunctionFront()
        self.functions = self.front.functions
        self.control_routes: dict[str, Callable[[dict[str, Any]], Any]] = self.front.control_routes
        self.control_routes["endpoints"] = lambda request: self.environment()
        self._child: subprocess.Popen[bytes] | None = None
        self._dynamodb_child: subprocess.Popen[bytes] | None = None
        self._front_server: BaseWSGIServer | None = None
        self._front_thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def dynamodb_endpoint(self) -> str | None:
        """The DynamoDB child's endpoint, None when DynamoDB is served by the main one."""
        return f"http://{self.host}:{self.dynamodb_port}" if self.dynamodb_port else None

    @property
    def dynamodb_pid(self) -> int | None:
        """The DynamoDB child's process id (benches read its CPU time), None without one."""
        return self._dynamodb_child.pid if self._dynamodb_child else None

    @property
    def endpoints(self) -> list[str]:
        """Every child's endpoint: the main one first."""
        return [self.endpoint, *([self.dynamodb_endpoint] if self.dynamodb_endpoint else [])]

    def environment(self) -> dict[str, str]:
        """The endpoint variables a client needs (botocore reads the per-service one first)."""
        variables = {"AWS_ENDPOINT_URL": self.endpoint}
        if self.dynamodb_endpoint:
            variables["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
        return variables

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
        if self.own_dynamodb:
            port = free_port(self.host)
            self._dynamodb_child = start_child(
                [
                    sys.executable,
                    "-m",
                    "devstack.emulator",
                    "--host",
                    self.host,
                    "--port",
                    str(port),
                    "--service",
                    "dynamodb",
                ],
                lambda: _configure(f"http://{self.host}:{port}"),
                "the emulator's DynamoDB process",
            )
            self.dynamodb_port = port
            # a client given the main endpoint alone (the AWS CLI's --endpoint-url) is relayed there
            self._forward({"services": {"dynamodb": self.dynamodb_endpoint}})

    def configure(self) -> None:
        _configure(self.endpoint)

    def reset(self) -> None:
        """Forget every resource and item (moto's reset), keeping registered functions."""
        for endpoint in self.endpoints:
            requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
            _configure(endpoint)

    def stop(self) -> None:
        stop_child(self._dynamodb_child)
        self._dynamodb_child = None
        self.dynamodb_port = None
        stop_child(self._child)
        self._child = None
        if self._front_server is not None:
            self._front_server.shutdown()
            self._front_server.server_close()
            self._front_server = None
        if self._front_thread is not None:
            self._front_thread.join(timeout=10)

    def request_counts(self, reset: bool = False) -> list[dict[str, Any]]:
        """The AWS requests the emulator served (both children's), see `DoorCounts`."""
        rows: list[dict[str, Any]] = []
        for endpoint in self.endpoints:
            response = requests.post(f"{endpoint}/_devstack/requests", json={"reset": reset}, timeout=30)
            response.raise_for_status()
            rows.extend(response.json())
        return sorted(rows, key=lambda row: (row["service"], row["operation"], row["resource"]))

    def set_faults(self, rules: list[dict[str, Any]], clear: bool = False) -> dict[str, Any]:
        """Make AWS misbehave at the door of the child that serves each rule's service (`devstack/faults.py`)."""
        answers = [
            self._control(
                endpoint, "faults", {"rules": [r for r in rules if self._serves(endpoint, r)], "clear": clear}
            )
            for endpoint in self.endpoints
        ]
        return {"rules": [r for a in answers for r in a["rules"]], "injected": _summed(a["injected"] for a in answers)}

    def faults_injected(self) -> dict[str, int]:
        """Faults injected so far, by `service:code`."""
        return _summed(self._control(endpoint, "faults", {})["injected"] for endpoint in self.endpoints)

    def _serves(self, endpoint: str, rule: dict[str, Any]) -> bool:
        own = self.dynamodb_port is not None and rule.get("service") == "dynamodb"
        return own == (endpoint != self.endpoint)

    @staticmethod
    def _control(endpoint: str, route: str, request: dict[str, Any]) -> Any:
        response = requests.post(f"{endpoint}/_devstack/{route}", json=request, timeout=30)
        response.raise_for_status()
        return response.json()

    def register_function(self, name: str, function: LambdaFunction) -> None:
        """`function` answers the emulator's Lambda Invoke calls for `name` (run in this process)."""
        self.functions[name] = function
        if self._child is not None:
            self._forward({"functions": [name]})

    def _forward(self, request: dict[str, Any]) -> None:
        requests.post(f"{self.endpoint}/_devstack/forward", json=request, timeout=10).raise_for_status()


def _configure(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10).raise_for_status()


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    return dict(sorted(sum(map(Counter, counts), Counter()).items()))

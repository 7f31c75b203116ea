"""The stand-in in a process of its own (`python -m sapstandin`), for the bench.

`StandInProcess` has the lifecycle and inspection methods of `StandIn`, answered by the
child's `/_standin/` endpoints, so a caller that runs the AWS emulator and the handlers
in its own process does not also share its interpreter with SAP.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import requests

from devstack.child_process import free_port, start_child, stop_child


class StandInProcess:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        capacity: float | None = None,
        user: str = "DATA_ENGINE",
        password: str = "Welcome1!",
    ) -> None:
        self.host, self.port, self.capacity = host, port, capacity
        self.user, self.password = user, password
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StandInProcess:
        self.port = self.port or free_port(self.host)
        command = [
            sys.executable,
            "-m",
            "sapstandin",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--user",
            self.user,
            "--password",
            self.password,
        ]
        if self.capacity is not None:
            command += ["--capacity", str(self.capacity)]
        self._child = start_child(command, self.stats, "the SAP stand-in")
        return self

    def stop(self) -> None:
        stop_child(self._child)
        self._child = None

    def __enter__(self) -> StandInProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def records(self) -> dict[str, Any]:
        return self._control("records")

    def add_fault(self, **fields: Any) -> None:
        """Script a fault (`sapstandin.faults.Fault`'s fields), as `StandIn.add_fault`."""
        requests.post(f"{self.url}/_standin/faults", json=fields, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_standin/faults", timeout=10).raise_for_status()

    def stats(self) -> dict[str, int]:
        return self._control("stats")

    def _control(self, action: str) -> Any:
        response = requests.get(f"{self.url}/_standin/{action}", timeout=10)
        response.raise_for_status()
        return response.json()

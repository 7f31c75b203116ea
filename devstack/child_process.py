"""A local service in a process of its own: started on a free port, awaited, stopped cleanly.

Benches run the emulator and the SAP stand-in this way (`emulator_process.py`,
`standin_process.py`), so neither shares an interpreter with the handlers they serve.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import requests


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start_child(
    command: list[str], ready: Callable[[], object], name: str, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """Start `command`; return once `ready()` stops raising ConnectionError."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{name} exited with {child.returncode}")
        try:
            ready()
            return child
        except requests.ConnectionError:
            time.sleep(0.1)
    stop_child(child)
    raise RuntimeError(f"{name} did not answer within {timeout:g} s")


def stop_child(child: subprocess.Popen[bytes] | None) -> None:
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()

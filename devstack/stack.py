"""The whole local stack in one object: emulator, stage `local`, runtime and REST API.

Used by `python -m devstack up` and by the end-to-end tests, so both run the same thing:
the emulator in a process of its own, the pollers, the scheduler, the SAP and platform
stand-ins in this one, every handler in its function's worker processes (`sandboxes.py`),
the REST API in `chalice local`'s process.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import boto3
import requests

from chalicelib.resources import Resources, for_stage
from devstack.emulator import Emulator, check_port_free
from devstack.emulator_process import EmulatorProcess
from devstack.platforms import LocalPlatforms, put_source_settings
from devstack.provision import provision
from devstack.runtime import LocalRuntime
from sapstandin import StandIn

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-central-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class DevStack:
    def __init__(
        self,
        emulator_port: int = 4566,
        api_port: int | None = 8000,
        host: str = "127.0.0.1",
        sap_port: int = 0,
        sap_capacity: float | None = 50.0,
        visibility_timeout: int | None = None,
    ) -> None:
        """`sap_port` 0 picks a free port for the SAP stand-in; `sap_capacity` is its requests/s;
        `visibility_timeout` (seconds) replaces the queues' declared ones (a chaos run's)."""
        self.host = host
        self.visibility_timeout = visibility_timeout
        self.api_port = api_port
        self.emulator: Emulator | EmulatorProcess = EmulatorProcess(host=host, port=emulator_port, own_dynamodb=True)
        self.sap = StandIn(host, sap_port, capacity=sap_capacity)
        self.platforms = LocalPlatforms(host)
        self.resources: Resources = for_stage("local")
        self.runtime: LocalRuntime | None = None
        self.session: Any = None
        self._api: subprocess.Popen[bytes] | None = None
        self._api_log: IO[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def api_pid(self) -> int:
        """The process id of `chalice local` (started with an `api_port`)."""
        if self._api is None:
            raise RuntimeError("the stack runs no REST API")
        return self._api.pid

    def environment(self) -> dict[str, str]:
        """What every local function (and `chalice local`) sees, as in Lambda."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            **self.emulator.environment(),
            **self.resources.environment(),
        }

    def start(self) -> None:
        if self.api_port:
            check_port_free(self.host, self.api_port)
        self.emulator.start()
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(self.environment())
        self.session = boto3.Session(region_name=REGION)
        self.sap.start()
        self.platforms.start()
        self.platforms.seed_demo_data()
        # the deployed path: SAP_SECRET names the secret, which points at the stand-in; the
        # platforms' secrets point at their stand-ins
        provision(
            self.resources,
            self.session,
            secret_values={
                "sap": json.dumps({"base_url": self.sap.url, "user": self.sap.user, "password": self.sap.password}),
                **self.platforms.secret_values(),
            },
            visibility_timeout=self.visibility_timeout,
        )
        from chalicelib import wiring

        put_source_settings(wiring.source_states())
        settings = self.resources.settings
        self.runtime = LocalRuntime(
            load_app(),
            self.session,
            self.emulator,
            concurrency=settings.pipeline_concurrency,
            default_concurrency=settings.default_concurrency,
        )
        self.runtime.start()
        if self.api_port:
            self._start_api()

    def _start_api(self) -> None:
        """`chalice local` in a child process. Its request log goes to a temporary file, not a
        pipe: an unread pipe fills after a few hundred requests and stalls every answer."""
        chalice = Path(sys.executable).parent / "chalice"
        self._api_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(), with the child
        self._api = subprocess.Popen(
            [
                str(chalice),
                "local",
                "--stage",
                "local",
                "--host",
                self.host,
                "--port",
                str(self.api_port),
                "--no-autoreload",
            ],
            cwd=ROOT,
            env={**os.environ, **self.environment()},
            stdout=subprocess.DEVNULL,
            stderr=self._api_log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._api.poll() is not None:
                raise RuntimeError("chalice local exited: " + self._api_log_tail())
            try:
                requests.get(f"{self.api_url}/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError("chalice local did not answer within 30 s")

    def _api_log_tail(self, size: int = 2000) -> str:
        if self._api_log is None:
            return ""
        self._api_log.seek(0)
        return self._api_log.read().decode(errors="replace")[-size:]

    def stop(self) -> None:
        if self.runtime is not None:  # first: its pollers would poll an emulator going down
            self.runtime.stop()
        if self._api is not None and self._api.poll() is None:
            self._api.terminate()
            try:
                self._api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._api.kill()
        if self._api_log is not None:
            self._api_log.close()
        self.sap.stop()
        self.platforms.stop()
        self.emulator.stop()
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # a later client must not look for it

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_app() -> ModuleType:
    """Import `app.py` from the project root, as Lambda does."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("app")

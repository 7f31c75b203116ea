"""The AWS emulator: moto in server mode on loopback, fronted by a Lambda Invoke answerer.

One HTTP server serves moto's whole API, except Lambda's Invoke call
(`POST /2015-03-31/functions/{name}/invocations`), which it answers by running the
registered Python function. Step Functions in moto call Lambda through this same
server (`MOTO_PORT`), so task states run our real functions. Every AWS request is counted
at the door (`door_counts.py`; `POST /_devstack/requests` reads the counts).

`python -m devstack.emulator --port N` serves it in a process of its own (no functions).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler  # type: ignore[attr-defined]
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.door_counts import DoorCounts

log = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call drowns the rest

LambdaFunction = Callable[[Any, Any], Any]
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class PortInUse(RuntimeError):
    pass


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop whatever holds it "
                f"(e.g. `lsof -i :{port}`) or choose another port"
            ) from error


class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    def __init__(self, function_name: str, timeout_seconds: int = 900) -> None:
        import time
        import uuid

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Emulator:
    """moto plus our Lambda functions behind one loopback HTTP server."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.functions: dict[str, LambdaFunction] = {}
        self.door = DoorCounts()
        self.control_routes: dict[str, Callable[[dict[str, Any]], Any]] = {
            "requests": lambda request: self.door.snapshot(reset=bool(request.get("reset")))
        }
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.port:
            check_port_free(self.host, self.port)
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        # Step Functions in moto call Lambda and other services on localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        self.configure()

    def configure(self) -> None:
        """Make Step Functions execute real ASL and never try Docker for Lambda."""
        requests.post(
            f"{self.endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
            timeout=10,
        ).raise_for_status()

    def reset(self) -> None:
        """Forget every resource and item (moto's reset), keeping registered functions."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        self.configure()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def request_counts(self, reset: bool = False) -> list[dict[str, Any]]:
        """The AWS requests served so far, see `DoorCounts`."""
        return self.door.snapshot(reset=reset)

    def register_function(self, name: str, function: LambdaFunction) -> None:
        self.functions[name] = function

    # -- WSGI -------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST":
            match = _INVOKE_PATH.match(path)
            if match:
                name = unquote(match.group("name")).split(":function:")[-1].split(":")[0]
                if name in self.functions:
                    return self.door.count(
                        environ, lambda env, respond: self._invoke(name, env, respond), start_response
                    )
            if path.startswith("/_devstack/"):
                return self._control(path.removeprefix("/_devstack/"), environ, start_response)
        return self.door.count(environ, self._moto_app, start_response)

    def _invoke(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = _read_body(environ)
        event = json.loads(body) if body else {}
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            # asynchronous, as Lambda: 202 at once, the function runs on its own
            threading.Thread(target=self._run_async, args=(name, event), name=f"invoke-{name}", daemon=True).start()
            start_response("202 Accepted", [("Content-Type", "application/json")])
            return [b""]
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            result = self.functions[name](event, LambdaContext(name))
            payload = json.dumps(result, default=str)
        except Exception as error:  # noqa: BLE001 - a function error is the caller's to see, as in Lambda
            log.warning("function %s failed: %s", name, type(error).__name__)
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            payload = json.dumps(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_exception(error)[-5:],
                }
            )
        start_response("200 OK", headers)
        return [payload.encode()]

    def _run_async(self, name: str, event: Any) -> None:
        try:
            self.functions[name](event, LambdaContext(name))
        except Exception as error:  # noqa: BLE001 - Lambda would log it and retry twice; the function records its own failure
            log.warning("function %s failed (asynchronous invoke): %s", name, type(error).__name__)

    def _control(self, route: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        handler = self.control_routes.get(route.split("/")[0])
        if handler is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"unknown control route {route!r}"}).encode()]
        body = _read_body(environ)
        try:
            result = handler({"path": route, **(json.loads(body) if body else {})})
            status = "200 OK"
        except LookupError as error:
            result, status = {"error": str(error)}, "404 Not Found"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(result, default=str).encode()]


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def main() -> None:
    """Serve the emulator (moto, the door counts) until killed."""
    parser = argparse.ArgumentParser(description="the AWS emulator in a process of its own")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    emulator = Emulator(args.host, args.port)
    emulator.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()

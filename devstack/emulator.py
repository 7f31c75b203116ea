"""The AWS emulator: moto in server mode on loopback, fronted by a Lambda Invoke answerer.

One HTTP server serves moto's whole API, except Lambda's Invoke call
(`POST /2015-03-31/functions/{name}/invocations`), which it answers by running the
registered Python function (`FunctionFront`), and devstack's control routes
(`POST /_devstack/{route}`). Step Functions in moto call Lambda through this same server
(`MOTO_PORT`), so task states run our real functions. Every AWS request is counted at the
door (`door_counts.py`; `POST /_devstack/requests` reads the counts).

`python -m devstack.emulator --port N` serves it in a process of its own; there the
functions live in the process that started it, which serves them with a `FunctionFront`
of its own and names them with `POST /_devstack/forward` (`EmulatorProcess`): the
emulator passes their Invoke calls and the control routes it does not know on to it.
"""

from __future__ import annotations

import argparse
import http
import io
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import requests
import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler  # type: ignore[attr-defined]
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.door_counts import DoorCounts, identify, queue_named
from devstack.faults import FaultRules, error_answer

log = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call drowns the rest

LambdaFunction = Callable[[Any, Any], Any]
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
FUNCTION_TIMEOUT_SECONDS = 900  # Lambda's longest
# Lambda retries a failed asynchronous invoke twice (a minute, then two, later); here sooner
ASYNC_RETRY_DELAYS = (1.0, 2.0)
# Step Functions execute real ASL; Lambda never tries Docker
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


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


class FunctionFront:
    """Our functions' Lambda Invoke answerer and devstack's control routes, as WSGI parts."""

    def __init__(self) -> None:
        self.functions: dict[str, LambdaFunction] = {}
        self.control_routes: dict[str, Callable[[dict[str, Any]], Any]] = {}
        # called with (function, event, error) once an asynchronous invoke failed its retries,
        # as Lambda hands the event to the function's on-failure destination
        self.on_async_failure: Callable[[str, Any, Exception], object] | None = None
        self.async_retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The whole front as a WSGI app: Invoke of a registered function, or a control route."""
        name = invoked_function(environ)
        if name is not None and name in self.functions:
            return self.invoke(name, environ, start_response)
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith("/_devstack/"):
            return self.control(path.removeprefix("/_devstack/"), environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [json.dumps({"error": f"nothing here answers {path!r}"}).encode()]

    def invoke(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = _read_body(environ)
        event = json.loads(body) if body else {}
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            # asynchronous, as Lambda: 202 at once, the function runs on its own
            threading.Thread(target=self.run_async, args=(name, event), name=f"invoke-{name}", daemon=True).start()
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

    def run_async(self, name: str, event: Any) -> None:
        """Run an asynchronous invoke as Lambda does: two retries, then the on-failure destination."""
        for delay in (*self.async_retry_delays, None):
            try:
                self.functions[name](event, LambdaContext(name))
                return
            except Exception as error:  # noqa: BLE001 - Lambda logs it and retries
                log.warning("function %s failed (asynchronous invoke): %s", name, type(error).__name__)
                if delay is not None:
                    time.sleep(delay)
                elif self.on_async_failure is not None:
                    self.on_async_failure(name, event, error)

    def control(self, route: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
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
        except ValueError as error:
            result, status = {"error": str(error)}, "400 Bad Request"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(result, default=str).encode()]


# moto's SQS deletes rebuild a queue's message list without its lock: two deletes at once
# put a deleted message back (in flight, to come back after the visibility timeout) and a
# send during a delete is lost. So these calls run one at a time per queue (a webhook's send
# does not wait behind another queue's batch); receives (which may wait) do not, and the
# local runtime's pollers take turns receiving from a queue themselves.
QUEUE_WRITES = frozenset(
    f"AmazonSQS.{action}"
    for action in (
        "SendMessage",
        "SendMessageBatch",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    )
)


class Emulator:
    """moto plus our Lambda functions behind one loopback HTTP server.

    With `service` ("dynamodb"), it serves that one service (and moto's `/moto-api`) from a
    waitress server: keep-alive connections and a pool of threads instead of a connection and
    a thread per request, which costs moto's busiest service a fifth of its CPU. The full
    emulator stays on werkzeug: S3 needs moto's header handling, and SQS long polls a thread each.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, service: str | None = None) -> None:
        self.host = host
        self.port = port
        self.service = service
        self.front = FunctionFront()
        self.functions = self.front.functions
        self.control_routes = self.front.control_routes
        self.door = DoorCounts()
        self.faults = FaultRules()
        self.control_routes["requests"] = lambda request: self.door.snapshot(reset=bool(request.get("reset")))
        self.control_routes["faults"] = self.faults.control
        self.control_routes["forward"] = self._forward
        self._forward_url: str | None = None
        self._forwarded: set[str] = set()
        self._services_elsewhere: dict[str, str] = {}  # service -> the emulator process that serves it
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        if service is not None:
            self._moto_app = _one_service(service, self._moto_app)
        self._queue_writes: dict[str, threading.Lock] = {}  # by queue name
        self._queue_writes_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._waitress: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """The endpoint variable a client needs: every service is here."""
        return {"AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> None:
        if self.port:
            check_port_free(self.host, self.port)
        if self.service is not None:
            self._start_waitress()
            return
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        # Step Functions in moto call Lambda and other services on localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        self.configure()

    def _start_waitress(self) -> None:
        self._waitress = waitress.create_server(self._wsgi, host=self.host, port=self.port, threads=8)
        self.port = int(self._waitress.effective_port)
        self._thread = threading.Thread(target=self._waitress.run, name="emulator", daemon=True)
        self._thread.start()
        self.configure()

    def configure(self) -> None:
        """Make Step Functions execute real ASL and never try Docker for Lambda."""
        requests.post(f"{self.endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Forget every resource and item (moto's reset), keeping registered functions."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        self.configure()

    def stop(self) -> None:
        if self._waitress is not None:
            self._waitress.close()
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

    def set_faults(self, rules: list[dict[str, Any]], clear: bool = False) -> dict[str, Any]:
        """Make AWS misbehave (`FaultRule` fields per rule); `clear` first drops the rules in force."""
        return self.faults.control({"rules": rules, "clear": clear})

    def faults_injected(self) -> dict[str, int]:
        """Faults injected so far, by `service:code`."""
        return self.faults.counts()

    def _forward(self, request: dict[str, Any]) -> dict[str, Any]:
        """`{"url", "functions", "services"}`: where the functions named (and unknown control
        routes) are served, and the services another emulator process serves (`{name: url}`)."""
        self._forward_url = request.get("url", self._forward_url)
        self._forwarded.update(request.get("functions", []))
        self._services_elsewhere.update(request.get("services", {}))
        return {"url": self._forward_url, "functions": sorted(self._forwarded), "services": self._services_elsewhere}

    # -- WSGI -------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        name = invoked_function(environ)
        if name in self.functions:
            return self.door.count(environ, lambda env, respond: self.front.invoke(name, env, respond), start_response)
        if name in self._forwarded:
            return self.door.count(environ, self._pass_on, start_response)
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith("/_devstack/"):
            route = path.removeprefix("/_devstack/")
            if route.split("/")[0] in self.control_routes or self._forward_url is None:
                return self.front.control(route, environ, start_response)
            return self._pass_on(environ, start_response)
        service, operation = identify(environ)
        elsewhere = self._services_elsewhere.get(service or "")
        if elsewhere is not None:  # a client that knows this endpoint only: counted where it is served
            return _relay(elsewhere, environ, start_response)
        faulted = self._fault(environ, start_response, service, operation)
        if faulted is not None:
            return faulted
        if environ.get("HTTP_X_AMZ_TARGET") in QUEUE_WRITES:
            with self._queue_write_lock(environ):  # answered in full before the next one starts
                return list(self.door.count(environ, self._moto_app, start_response))
        return self.door.count(environ, self._moto_app, start_response)

    def _queue_write_lock(self, environ: dict[str, Any]) -> threading.Lock:
        """The lock of the queue a write names (its body is read, and put back)."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        with self._queue_writes_lock:
            return self._queue_writes.setdefault(queue_named(body), threading.Lock())

    def _fault(
        self, environ: dict[str, Any], start_response: Callable[..., Any], service: str | None, operation: str | None
    ) -> list[bytes] | None:
        """A scripted AWS error for this request (`devstack/faults.py`), else None. A faulted
        request is not counted at the door: AWS bills no throttled or failed request."""
        if service is None:
            return None
        rule = self.faults.take(service, operation)
        if rule is None:
            return None
        _read_body(environ)  # the client sent it; read it so the connection stays usable
        answer = error_answer(rule, json_protocol="amz-json" in environ.get("CONTENT_TYPE", ""))
        start_response(
            f"{answer.status} {http.HTTPStatus(answer.status).phrase}",
            [*answer.headers, ("Content-Length", str(len(answer.body)))],
        )
        return [answer.body]

    def _pass_on(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The request as the functions' own front answers it (a function runs up to 15 minutes)."""
        headers = {"Content-Type": environ.get("CONTENT_TYPE") or "application/json"}
        if "HTTP_X_AMZ_INVOCATION_TYPE" in environ:
            headers["X-Amz-Invocation-Type"] = environ["HTTP_X_AMZ_INVOCATION_TYPE"]
        answer = requests.post(
            f"{self._forward_url}{environ.get('PATH_INFO', '')}",
            data=_read_body(environ),
            headers=headers,
            timeout=FUNCTION_TIMEOUT_SECONDS + 60,
        )
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() in ("content-type", "x-amz-function-error")]
        start_response(f"{answer.status_code} {answer.reason}", kept)
        return [answer.content]


def invoked_function(environ: dict[str, Any]) -> str | None:
    """The function name of a Lambda Invoke call (from a name or an ARN), else None."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
    if match is None:
        return None
    return unquote(match.group("name")).split(":function:")[-1].split(":")[0]


def _one_service(service: str, everything: Callable[..., Any]) -> Callable[..., Any]:
    """moto's app for `service` alone (no per-request lookup of the service), `everything` for `/moto-api`."""
    backend = create_backend_app(service)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return everything(environ, start_response)
        return backend(environ, start_response)

    return app


def _relay(url: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The request as the emulator process at `url` answers it, signature and all."""
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    query = environ.get("QUERY_STRING")
    answer = requests.request(
        environ.get("REQUEST_METHOD", "POST"),
        f"{url}{environ.get('PATH_INFO', '')}{'?' + query if query else ''}",
        data=_read_body(environ),
        headers=headers,
        timeout=FUNCTION_TIMEOUT_SECONDS,
    )
    dropped = {"content-length", "transfer-encoding", "connection", "content-encoding"}
    start_response(
        f"{answer.status_code} {answer.reason}",
        [(key, value) for key, value in answer.headers.items() if key.lower() not in dropped],
    )
    return [answer.content]


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def main() -> None:
    """Serve the emulator (moto, the door counts, functions forwarded) until killed."""
    parser = argparse.ArgumentParser(description="the AWS emulator in a process of its own")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service", help="serve this one service (dynamodb), see `Emulator`")
    args = parser.parse_args()
    # Ctrl-C reaches the whole terminal group: the stack that started this process stops its
    # pollers first and then this (SIGTERM), so none polls an emulator already gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    emulator = Emulator(args.host, args.port, service=args.service)
    emulator.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()

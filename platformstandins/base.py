"""What every platform stand-in shares: scripted faults, the `/_standin/` control routes,
request counts, and serving on a loopback port in a thread.

Faults are SAP's stand-in's (`sapstandin.faults`): `status` (e.g. 429 with Retry-After,
503) for the next N requests, `down` for a while, `slow` answers. A platform adds its
own control routes (seeding data, expiring tokens) by overriding `control_route`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sapstandin.faults import Fault, FaultScript, retry_after_header

logging.getLogger("werkzeug").setLevel(logging.ERROR)

CONTROL_PREFIX = "/_standin/"


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value, default=str), status=status, content_type="application/json", headers=headers)


class PlatformApp:
    """A WSGI app: control routes, then faults, then the platform's own `serve`."""

    platform = "platform"

    def __init__(self) -> None:
        self.faults = FaultScript()
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self.control(request)
        self.count("requests")
        fault = self.faults.take(request.path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind in ("status", "down"):
                return self.counted(self.fault_response(fault))
        return self.counted(self.serve(request))

    # -- for subclasses ------------------------------------------------------------------

    def serve(self, request: Request) -> Response:
        """The platform's answer to an API request."""
        raise NotImplementedError

    def error_response(self, status: int, message: str) -> Response:
        """The platform's error body for a scripted fault."""
        return json_response(status, {"error": message})

    def control_route(self, request: Request, action: str, body: Any) -> Response | None:
        """A platform's own control route (`/_standin/{action}`), or None."""
        return None

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self.stats.clear()

    # -- shared ----------------------------------------------------------------------------

    def fault_response(self, fault: Fault) -> Response:
        response = self.error_response(fault.status, "scripted fault")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = retry_after_header(fault.retry_after, fault.retry_after_format)
        return response

    def control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        body = request.get_json(silent=True)
        if action == "faults":
            if request.method == "POST":
                try:
                    for fault in body if isinstance(body, list) else [body or {}]:
                        self.faults.add(Fault.from_json(fault))
                except (TypeError, ValueError) as error:
                    return json_response(400, {"error": str(error)})
                return json_response(201, {"faults": self.faults.pending()})
            if request.method == "DELETE":
                self.faults.clear()
            return json_response(200, {"faults": self.faults.pending()})
        if action == "stats" and request.method == "GET":
            with self._lock:
                return json_response(200, dict(self.stats))
        if action == "reset" and request.method == "POST":
            self.reset()
            return json_response(200, {"reset": True})
        answer = self.control_route(request, action, body)
        if answer is not None:
            return answer
        return json_response(404, {"error": f"no control route {request.method} {request.path}"})

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.stats[name] += by

    def counted(self, response: Response) -> Response:
        self.count(f"status_{response.status_code}")
        return response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Served:
    """Serves a `PlatformApp` on a loopback port in a background thread."""

    def __init__(self, app: PlatformApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self._server: BaseWSGIServer | None = None

    def start(self) -> Served:
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name=f"{self.app.platform}-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""Run the stand-in on a loopback port in a background thread (tests, devstack, bench)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sapstandin.faults import Fault
from sapstandin.odata_app import SERVICE_PREFIX, StandInApp

logging.getLogger("werkzeug").setLevel(logging.ERROR)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class StandIn:
    """The stand-in SAP. `start()` serves it on `url`; the methods script its behaviour.

    Every method has an HTTP twin under `/_standin/` (faults, capacity, csrf/expire,
    records, stats, reset, jobs/delete-obsolete-contacts) for processes that do not share
    this object.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        capacity: float | None = None,
        user: str = "DATA_ENGINE",
        password: str = "Welcome1!",
        csrf_lifetime: float | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.app = StandInApp(user=user, password=password, capacity=capacity, csrf_lifetime=csrf_lifetime)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> StandIn:
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="sap-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (what SAP_BASE_URL holds); service roots hang below it."""
        return f"http://{self.host}:{self.port}"

    def service_url(self, service: str) -> str:
        return f"{self.url}{SERVICE_PREFIX}{service}/"

    @property
    def user(self) -> str:
        return self.app.user

    @property
    def password(self) -> str:
        return self.app.password

    # -- scripting ---------------------------------------------------------------------------

    def add_fault(self, **fields: Any) -> None:
        self.app.faults.add(Fault.from_json(fields))

    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        retry_after: float | None = None,
        retry_after_format: str = "seconds",
        path_contains: str | None = "$batch",
    ) -> None:
        self.add_fault(
            kind="status",
            count=count,
            status=status,
            retry_after=retry_after,
            retry_after_format=retry_after_format,
            path_contains=path_contains,
        )

    def go_down(self, seconds: float, status: int = 503, *, retry_after: float | None = None) -> None:
        self.add_fault(kind="down", seconds=seconds, status=status, retry_after=retry_after)

    def reset_connections(self, count: int = 1, *, when: str = "before", path_contains: str | None = "$batch") -> None:
        self.add_fault(kind="reset", count=count, when=when, path_contains=path_contains)

    def slow_down(
        self, delay: float, count: int = 1, *, when: str = "before", path_contains: str | None = "$batch"
    ) -> None:
        self.add_fault(kind="slow", delay=delay, count=count, when=when, path_contains=path_contains)

    def set_capacity(
        self,
        capacity: float | None,
        *,
        retry_after: float | None = None,
        retry_after_format: str | None = None,
        burst_seconds: float | None = None,
    ) -> None:
        self.app.capacity.configure(
            capacity, retry_after=retry_after, retry_after_format=retry_after_format, burst_seconds=burst_seconds
        )

    def expire_csrf_tokens(self) -> None:
        self.app.expire_csrf_tokens()

    def clear_faults(self) -> None:
        self.app.faults.clear()

    def reset(self) -> None:
        self.app.reset()

    # -- inspection --------------------------------------------------------------------------

    def records(self) -> dict[str, Any]:
        return self.app.store.snapshot()

    def delete_obsolete_contacts(self) -> dict[str, int]:
        """Run SAP's contact deletion jobs now (what they deleted, by kind)."""
        return self.app.store.delete_obsolete_contacts()

    def stats(self) -> dict[str, int]:
        return dict(self.app.stats)

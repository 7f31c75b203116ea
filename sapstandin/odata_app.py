"""The stand-in's WSGI app: SAP Gateway's OData V2 surface plus `/_standin/` control endpoints.

Order of checks on a service request, as at an SAP front door: scripted faults, capacity
(429 + Retry-After), Basic auth (401), CSRF for modifying requests (403 Required), then
the OData request itself. `$metadata` is exempt from faults and capacity.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.wrappers import Request, Response

from sapstandin import batch_format, query_options
from sapstandin.entity_store import EntityStore, ODataError, parse_keys
from sapstandin.faults import CapacityLimiter, Fault, FaultScript, retry_after_header
from sapstandin.service_models import SERVICE_NAMES, ServiceModel, load

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/sap/opu/odata/sap/"
_SERVICE_PATH = re.compile(r"^/sap/opu/odata/sap/(?P<service>[A-Z_]+)(?:;v=\d+)?/?(?P<rest>.*)$")
SESSION_COOKIE = "SAP_SESSIONID_STI_100"
MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


class ResetConnection(ConnectionResetError):
    """Raised to make the server drop the connection with a TCP reset."""


def error_body(service: str, status: int, code: str, message: str, target: str = "") -> bytes:
    """SAP Gateway's OData V2 error JSON."""
    transaction = uuid.uuid4().hex.upper()
    return json.dumps(
        {
            "error": {
                "code": code,
                "message": {"lang": "en", "value": message},
                "innererror": {
                    "application": {
                        "component_id": "CEC-MKT-DM-IC",
                        "service_namespace": "/SAP/",
                        "service_id": service,
                        "service_version": "0001",
                    },
                    "transactionid": transaction,
                    "timestamp": datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f")[:21],
                    "Error_Resolution": {
                        "SAP_Transaction": "For backend administrators: use ADT feed reader "
                        '"SAP Gateway Error Log" or run transaction '
                        "/IWFND/ERROR_LOG on SAP Gateway hub system and search "
                        "for entries with the timestamp above for more details",
                        "SAP_Note": "See SAP Note 1797736 for error analysis "
                        "(https://service.sap.com/sap/support/notes/1797736)",
                    },
                    "errordetails": [
                        {
                            "code": code,
                            "message": message,
                            "propertyref": target,
                            "severity": "error",
                            "target": target,
                            "transition": False,
                        }
                    ],
                },
            }
        }
    ).encode()


class StandInApp:
    def __init__(
        self,
        *,
        user: str = "DATA_ENGINE",
        password: str = "Welcome1!",
        capacity: float | None = None,
        csrf_lifetime: float | None = None,
    ) -> None:
        self.user, self.password = user, password
        self.csrf_lifetime = csrf_lifetime
        self.services: dict[str, ServiceModel] = {name: load(name) for name in SERVICE_NAMES}
        self.store = EntityStore()
        self.faults = FaultScript()
        self.capacity = CapacityLimiter(capacity)
        self.sessions: dict[str, tuple[str, float]] = {}
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    # -- WSGI ------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.handle(request)
        except ResetConnection:
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                # linger 0: the server's close sends RST; the shutdown ends the connection now
                # (the server would otherwise wait on it for the next keep-alive request)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            raise
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_standin/"):
            return self.control(request)
        match = _SERVICE_PATH.match(request.path)
        if not match or match.group("service") not in self.services:
            return self._error(
                "", 404, "/IWFND/MED/170", f"No service found for namespace '', name '{request.path}', version '0001'"
            )
        service, rest = self.services[match.group("service")], match.group("rest")
        if rest == "$metadata":
            return self._metadata(request, service)
        self._count("requests")
        fault = self.faults.take(request.path)
        if fault is not None and fault.when == "before":
            early = self._play(fault, service)
            if early is not None:
                return self._counted(early)
        if not self.capacity.admit():
            response = self._error(service.name, 429, "TOO_MANY_REQUESTS", "Too many requests; try again later")
            response.headers["Retry-After"] = retry_after_header(
                self.capacity.retry_after, self.capacity.retry_after_format
            )
            return self._counted(response)
        denied = self._authenticate(request, service)
        if denied is not None:
            return self._counted(denied)
        csrf = self._csrf(request, service)
        if isinstance(csrf, Response):
            return self._counted(csrf)
        response = self._serve(request, service, rest)
        if isinstance(csrf, tuple):
            token, session = csrf
            response.headers["x-csrf-token"] = token
            response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True)
        if fault is not None and fault.when == "after":
            self._play(fault, service)  # SAP applied the request; now the answer gets lost or late
        return self._counted(response)

    # -- front door -------------------------------------------------------------------------

    def _play(self, fault: Fault, service: ServiceModel) -> Response | None:
        self._count(f"faults_{fault.kind}")  # what was played, for a chaos run's tally
        if fault.kind == "reset":
            self._count("resets")
            raise ResetConnection("scripted connection reset")
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return None
        response = self._error(service.name, fault.status, "SCRIPTED_FAULT", "Service temporarily unavailable")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = retry_after_header(fault.retry_after, fault.retry_after_format)
        return response

    def _authenticate(self, request: Request, service: ServiceModel) -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if secrets.compare_digest(f"{user}:{password}", f"{self.user}:{self.password}"):
                return None
        response = Response("Logon failed", status=401, content_type="text/plain")
        response.headers["WWW-Authenticate"] = 'Basic realm="SAP NetWeaver Application Server [STI/100]"'
        return response

    def _csrf(self, request: Request, service: ServiceModel) -> Response | tuple[str, str] | None:
        """A fresh token for `x-csrf-token: Fetch`; 403 Required for a modifying request without a valid one."""
        header = request.headers.get("x-csrf-token", "")
        session = request.cookies.get(SESSION_COOKIE)
        if request.method == "GET" and header.lower() == "fetch":
            session = session or secrets.token_hex(16)
            token = secrets.token_urlsafe(18)
            with self._lock:
                self.sessions[session] = (token, time.monotonic())
            self._count("csrf_fetches")
            return token, session
        if request.method not in MODIFYING:
            return None
        with self._lock:
            known = self.sessions.get(session or "")
        fresh = known is not None and (self.csrf_lifetime is None or time.monotonic() - known[1] < self.csrf_lifetime)
        if fresh and known is not None and secrets.compare_digest(header, known[0]):
            return None
        self._count("csrf_rejections")
        response = Response("CSRF token validation failed", status=403, content_type="text/plain")
        response.headers["x-csrf-token"] = "Required"
        return response

    # -- OData --------------------------------------------------------------------------------

    def _metadata(self, request: Request, service: ServiceModel) -> Response:
        denied = self._authenticate(request, service)
        if denied is not None:
            return denied
        return Response(service.edmx, status=200, content_type="application/xml")

    def _serve(self, request: Request, service: ServiceModel, rest: str) -> Response:
        try:
            if rest == "":
                if request.method != "GET":
                    raise ODataError(405, "/IWBEP/CM_MGW_RT/020", "Method not allowed on the service root")
                return self._json(200, {"d": {"EntitySets": sorted(service.entity_sets)}})
            if rest == "$batch":
                if request.method != "POST":
                    raise ODataError(405, "/IWBEP/CM_MGW_RT/020", "$batch needs POST")
                return self._batch(request, service)
            query = request.query_string.decode()
            if request.method == "GET":
                status, body = self._read(service, rest + ("?" + query if query else ""))
                return Response(body, status=status, content_type="application/json")
            with self.store.lock:
                undo: list[Any] = []
                written = self.store.write(
                    service, request.method, unquote(rest), request.get_data(), undo, query=query
                )
            self._count(f"writes_{request.method}")
            return self._written(service, written)
        except ODataError as error:
            return self._error(service.name, error.status, error.code, error.message, error.target)

    def _written(self, service: ServiceModel, written: Any) -> Response:
        if written.entity is None:
            return Response(status=written.status)
        response = self._json(written.status, {"d": written.entity})
        if written.location:
            response.headers["Location"] = SERVICE_PREFIX + service.name + "/" + written.location
        return response

    def _read(self, service: ServiceModel, target: str) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        path = unquote(path)
        args = dict(parse_qsl(query, keep_blank_values=True))
        name, _, predicate = path.partition("(")
        entity_set = service.entity_sets.get(name)
        try:
            if entity_set is None:
                raise ODataError(404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{name}'")
            if predicate:
                row = self.store.get(entity_set, parse_keys(predicate.rstrip(")"), entity_set))
                if "$select" in args:
                    row = query_options.apply([row], {"$select": args["$select"]})[0]
                return 200, json.dumps({"d": row}).encode()
            if name == "Interactions" and "$filter" not in args:
                raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Filter required for entity set Interactions")
            rows = query_options.apply(self.store.rows(entity_set), args)
            return 200, json.dumps({"d": {"results": rows}}).encode()
        except ODataError as error:
            return error.status, error_body(service.name, error.status, error.code, error.message, error.target)

    def _batch(self, request: Request, service: ServiceModel) -> Response:
        try:
            items = batch_format.parse(
                request.get_data(), request.headers.get("Content-Type", ""), SERVICE_PREFIX + service.name + "/"
            )
        except batch_format.MalformedBatch as error:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/058", f"Malformed $batch request: {error}") from error
        self._count("batches")
        answers: list[Any] = []
        with self.store.lock:
            for item in items:
                if isinstance(item, list):
                    answers.append(self._changeset(service, item))
                else:
                    status, body = self._read(service, item.path)
                    answers.append(batch_format.InnerResponse(status, body))
        body, content_type = batch_format.render(answers)
        return Response(body, status=202, content_type=content_type)

    def _changeset(self, service: ServiceModel, requests: list[batch_format.InnerRequest]) -> Any:
        self._count("changesets")
        undo: list[Any] = []
        responses = []
        try:
            for inner in requests:
                path, _, query = inner.path.partition("?")
                written = self.store.write(service, inner.method, unquote(path), inner.body, undo, query=query)
                headers = {}
                if written.location:
                    headers["Location"] = SERVICE_PREFIX + service.name + "/" + written.location
                body = json.dumps({"d": written.entity}).encode() if written.entity is not None else b""
                responses.append(batch_format.InnerResponse(written.status, body, headers, inner.content_id))
        except ODataError as error:
            for take_back in reversed(undo):  # atomic: nothing of a failed changeset stays
                take_back()
            self._count("changesets_failed")
            return batch_format.InnerResponse(
                error.status, error_body(service.name, error.status, error.code, error.message, error.target)
            )
        self._count("changesets_applied")
        return responses

    # -- control -----------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        action = request.path[len("/_standin/") :].strip("/")
        body = request.get_json(silent=True) or {}
        if action == "records" and request.method == "GET":
            return self._json(200, self.store.snapshot())
        if action == "stats" and request.method == "GET":
            return self._json(200, dict(self.stats))
        if action == "reset" and request.method == "POST":
            self.reset()
            return self._json(200, {"reset": True})
        if action == "faults":
            if request.method == "POST":
                try:
                    for fault in body if isinstance(body, list) else [body]:
                        self.faults.add(Fault.from_json(fault))
                except (TypeError, ValueError) as error:
                    return self._json(400, {"error": str(error)})
                return self._json(201, {"faults": self.faults.pending()})
            if request.method == "DELETE":
                self.faults.clear()
                return self._json(200, {"faults": []})
            return self._json(200, {"faults": self.faults.pending()})
        if action == "capacity" and request.method == "POST":
            self.capacity.configure(
                body.get("capacity"),
                burst_seconds=body.get("burst_seconds"),
                retry_after=body.get("retry_after"),
                retry_after_format=body.get("retry_after_format"),
            )
            return self._json(200, {"capacity": self.capacity.capacity})
        if action == "jobs/delete-obsolete-contacts" and request.method == "POST":
            return self._json(200, {"deleted": self.store.delete_obsolete_contacts()})
        if action == "csrf/expire" and request.method == "POST":
            self.expire_csrf_tokens()
            return self._json(200, {"expired": True})
        return self._json(404, {"error": f"no control endpoint {request.method} {request.path}"})

    def reset(self) -> None:
        self.store.reset()
        self.faults.clear()
        with self._lock:
            self.stats.clear()
            self.sessions.clear()

    def expire_csrf_tokens(self) -> None:
        with self._lock:
            self.sessions.clear()

    # -- helpers -------------------------------------------------------------------------------

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.stats[name] += by

    def _counted(self, response: Response) -> Response:
        self._count(f"status_{response.status_code}")
        return response

    def _json(self, status: int, value: Any) -> Response:
        return Response(json.dumps(value, default=str), status=status, content_type="application/json")

    def _error(self, service: str, status: int, code: str, message: str, target: str = "") -> Response:
        return Response(
            error_body(service, status, code, message, target), status=status, content_type="application/json"
        )

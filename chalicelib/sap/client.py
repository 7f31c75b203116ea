"""The SAP OData V2 client: CSRF token and cookies, Basic auth, `$batch`, outcome per changeset.

pyodata builds `$batch` too, but leaves CSRF, retries and per-part classification to
the caller and needs a live `$metadata` round trip; this client owns exactly those parts
and nothing else. Whether and when to retry is the dispatcher's decision: the client
only says, per changeset, accepted / rejected (with SAP's message) / retryable.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

import requests

from chalicelib.retries import parse_retry_after
from chalicelib.sap import batch
from chalicelib.sap.credentials import SapCredentials
from chalicelib.sap.exceptions import SapAuthenticationFailed, SapProtocolError, SapUnavailable

log = logging.getLogger(__name__)

SERVICE_PATH = "/sap/opu/odata/sap/{service}/"
# Statuses worth another try later; every other 4xx is SAP saying "no" to this payload.
RETRYABLE_STATUSES = frozenset({408, 409, 423, 425, 429})
# How many interactions one lookup asks for (an `or` chain in $filter keeps URLs short).
LOOKUP_CHUNK = 10

Kind = Literal["accepted", "rejected", "retryable"]


@dataclass(frozen=True)
class ChangesetOutcome:
    ref: str
    kind: Kind
    status: int
    code: str | None = None
    message: str | None = None  # SAP's text, unredacted: callers redact before storing
    retry_after: float | None = None
    # the last response's body of an accepted changeset (a retrieval's entity); kept out of repr
    body: bytes = field(default=b"", repr=False)


class SapGateway(Protocol):
    """The port the dispatcher talks to; `SapClient` is the real one."""

    def send_batch(self, service: str, changesets: list[batch.Changeset]) -> list[ChangesetOutcome]: ...

    def find_interactions(
        self, service: str, keys: list[tuple[str, str, str, str]]
    ) -> set[tuple[str, str, str, str]]: ...


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


class SapClient:
    def __init__(
        self,
        base_url: str,
        credentials: SapCredentials,
        session: requests.Session | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or _pooled_session()
        self.session.auth = (credentials.user, credentials.password)
        self.timeout = (connect_timeout, read_timeout)
        self._token: str | None = None
        self._lock = threading.Lock()
        # what SAP answered, by status (requests answered), for the bench and metrics
        self.statuses: Counter[int] = Counter()

    @classmethod
    def from_credentials(cls, credentials: SapCredentials, session: requests.Session | None = None) -> SapClient:
        return cls(credentials.base_url, credentials, session)

    def service_url(self, service: str) -> str:
        return self.base_url + SERVICE_PATH.format(service=service)

    # -- CSRF ----------------------------------------------------------------------------

    def csrf_token(self, service: str) -> str:
        """The session's CSRF token, fetched once (a GET with `x-csrf-token: Fetch`) and reused."""
        with self._lock:
            if self._token is None:
                response = self._send(
                    "GET",
                    self.service_url(service),
                    headers={"x-csrf-token": "Fetch", "Accept": "application/json"},
                    idempotent=True,
                )
                self._raise_for_transport_status(response)
                token = response.headers.get("x-csrf-token")
                if not token or token.lower() == "required":
                    raise SapProtocolError("SAP answered a CSRF fetch without a token")
                self._token = token
            return self._token

    def has_csrf_token(self) -> bool:
        """False when the next request must first fetch a token (one more request to SAP)."""
        return self._token is not None

    def forget_csrf_token(self) -> None:
        with self._lock:
            self._token = None

    # -- $batch --------------------------------------------------------------------------

    def send_batch(self, service: str, changesets: list[batch.Changeset]) -> list[ChangesetOutcome]:
        """Send one `$batch` (one changeset each); an outcome per changeset, in order.

        Raises `SapUnavailable` when the request as a whole failed (429, 5xx, timeout,
        reset: `in_doubt` tells whether SAP may have applied it), `SapAuthenticationFailed`
        on 401 and `SapProtocolError` when the answer is not a valid `$batch` response.
        """
        request = batch.build(changesets)
        response = None
        for _ in range(2):  # a second time only after SAP demanded a fresh CSRF token
            token = self.csrf_token(service)
            response = self._send(
                "POST",
                self.service_url(service) + "$batch",
                idempotent=False,
                data=request.body,
                headers={"Content-Type": request.content_type, "Accept": "multipart/mixed", "x-csrf-token": token},
            )
            if response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required":
                log.info("SAP asked for a new CSRF token")
                self.forget_csrf_token()
                continue
            break
        assert response is not None
        self._raise_for_transport_status(response)
        if response.status_code != 202:
            raise SapProtocolError(f"$batch answered HTTP {response.status_code}, expected 202")
        results = batch.parse(response.content, response.headers.get("Content-Type", ""), changesets)
        return [_outcome(result) for result in results]

    # -- lookups (in-doubt reconciliation) ----------------------------------------------

    def find_interactions(self, service: str, keys: list[tuple[str, str, str, str]]) -> set[tuple[str, str, str, str]]:
        """Which of these (SourceSystem, InteractionSourceObjectType, InteractionSourceObject,
        InteractionType) SAP holds."""
        found: set[tuple[str, str, str, str]] = set()
        fields = ("SourceSystem", "InteractionSourceObjectType", "InteractionSourceObject", "InteractionType")
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            clauses = [
                " and ".join(f"{name} eq {_literal(value)}" for name, value in zip(fields, key)) for key in chunk
            ]
            query = (
                "$filter="
                + quote(" or ".join(f"({clause})" for clause in clauses), safe="()'")
                + "&$select="
                + ",".join(fields)
                + f"&$top={len(chunk) * 50}"
            )
            response = self._send(
                "GET",
                self.service_url(service) + "Interactions?" + query,
                headers={"Accept": "application/json"},
                idempotent=True,
            )
            self._raise_for_transport_status(response)
            if response.status_code != 200:
                raise SapProtocolError(f"interaction lookup answered HTTP {response.status_code}")
            for row in response.json()["d"]["results"]:
                found.add(tuple(row.get(name, "") for name in fields))
        return found

    # -- transport -----------------------------------------------------------------------

    def _send(self, method: str, url: str, *, idempotent: bool, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as error:
            raise SapUnavailable(f"could not connect: {type(error).__name__}") from error
        except requests.ConnectionError as error:
            refused = "NewConnectionError" in repr(error) or "Connection refused" in repr(error)
            raise SapUnavailable(
                f"connection failed: {type(error).__name__}", in_doubt=not (refused or idempotent)
            ) from error
        except requests.Timeout as error:
            raise SapUnavailable("SAP did not answer in time", in_doubt=not idempotent) from error
        self.statuses[response.status_code] += 1
        return response

    def _raise_for_transport_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            raise SapAuthenticationFailed(f"SAP refused the communication user ({status})")
        if is_retryable_status(status):
            raise SapUnavailable(
                f"SAP answered HTTP {status}",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _outcome(result: batch.ChangesetResult) -> ChangesetOutcome:
    if result.accepted:
        return ChangesetOutcome(result.ref, "accepted", result.responses[0].status, body=result.responses[-1].body)
    error = result.error
    assert error is not None
    code, message = batch.error_message(error)
    if is_retryable_status(error.status):
        return ChangesetOutcome(
            result.ref, "retryable", error.status, code, message, parse_retry_after(error.headers.get("retry-after"))
        )
    return ChangesetOutcome(result.ref, "rejected", error.status, code, message)


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session

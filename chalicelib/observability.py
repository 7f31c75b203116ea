"""Structured JSON logs and business metrics (CloudWatch embedded metric format), in one place.

`Observer`, registered by `app.py` as Chalice middleware for every event, makes each
invocation log JSON lines (Powertools `Logger`; every `chalicelib` logger goes through the
same formatter) carrying the function name, Lambda's request id and the invocation's
correlation ids: the API request id, the file id of an S3 event, the message ids of an SQS
batch; `correlated()` narrows them inside a batch (a chunk). Pipeline modules call `count()`
and `gauge()` where their counts are known; the invocation's metrics are printed once, at
its end, as EMF lines (Powertools `EphemeralMetrics`), one per set of dimensions. Outside an
invocation both do nothing. Locally the same lines go to the console (stdout).

Ids, codes and counts only: a correlation id that is not a plain identifier
(`[A-Za-z0-9._:-]`, the State Keeper's rule) is dropped, a dimension value counts as `other`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import EphemeralMetrics
from chalice.app import CloudWatchEvent, LambdaFunctionEvent, Request, S3Event, SQSEvent

# the Powertools logger's name is its service: app.py's own logger, not Chalice's `app.log` ("data-engine")
SERVICE = "data_engine"
# the loggers it formats for besides its own (their children propagate to them)
LOGGER_NAMES = frozenset({"chalicelib"})
OTHER = "other"  # the dimension value of anything that is not a plain identifier
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
# what an EMF line carries besides its metrics and dimensions (searchable, not billed as metrics)
_METADATA = ("function_name", "function_request_id", "correlation_id")
_MAX_MESSAGE_IDS = 10  # an SQS batch's ids (Lambda hands at most 10 messages to FIFO handlers)


def identifier(value: Any) -> str | None:
    """`value` when it is a plain identifier, else None: what may go into a log key or dimension."""
    return value if isinstance(value, str) and _IDENTIFIER.match(value) else None


class ConsoleHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is when a line is logged (Lambda's log stream; a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout  # not setStream: that flushes the previous stream, maybe closed by now
        super().emit(record)


_logger: Logger | None = None
_configure_lock = threading.Lock()


def logger() -> Logger:
    """The Powertools logger; built once, and every `chalicelib` logger then formats through it."""
    global _logger
    with _configure_lock:
        if _logger is None:
            built = Logger(service=SERVICE, logger_handler=ConsoleHandler(), utc=True)
            for name in LOGGER_NAMES:
                logging.getLogger(name)  # registered, so the copy below finds it (children propagate to it)
            copy_config_to_registered_loggers(source_logger=built, include=set(LOGGER_NAMES))
            _logger = built
    return _logger


@contextmanager
def log_level(level: str | int) -> Iterator[None]:
    """One level for the Powertools logger and every logger it formats for, inside only (tests, debugging)."""
    names = [SERVICE, *LOGGER_NAMES]
    logger()
    before = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, previous in before.items():
            logging.getLogger(name).setLevel(previous)


# -- metrics -------------------------------------------------------------------------------

Dimensions = tuple[tuple[str, str], ...]


@dataclass
class _Metric:
    unit: str
    values: list[float] = field(default_factory=list)
    summed: bool = True  # a count (one summed value) or a gauge (every value kept)


@dataclass
class Invocation:
    """What one invocation measured, by dimension set, until it is flushed."""

    metrics: dict[Dimensions, dict[str, _Metric]] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, dimensions: Dimensions, *, summed: bool) -> None:
        metric = self.metrics.setdefault(dimensions, {}).setdefault(name, _Metric(unit, summed=summed))
        if summed and metric.values:
            metric.values[0] += value
        else:
            metric.values.append(float(value))


_local = threading.local()


def _current() -> Invocation | None:
    stack: list[Invocation] = getattr(_local, "invocations", [])
    return stack[-1] if stack else None


def _dimensions(given: dict[str, str | None]) -> Dimensions:
    """The dimensions given a value; one that is not an identifier counts as `other`, never as itself."""
    return tuple(sorted((name, identifier(value) or OTHER) for name, value in given.items() if value is not None))


def count(name: str, value: float = 1, **dimensions: str | None) -> None:
    """Add `value` to the invocation's count `name` for these dimensions (None ones left out)."""
    invocation = _current()
    if invocation is not None and value:
        invocation.add(name, value, "Count", _dimensions(dimensions), summed=True)


def gauge(name: str, value: float, unit: str = "None", **dimensions: str | None) -> None:
    """Record a value (a rate, a cost) as it was at this moment; every value is kept."""
    invocation = _current()
    if invocation is not None:
        invocation.add(name, value, unit, _dimensions(dimensions), summed=False)


def _emf(namespace: str, dimensions: Dimensions, metrics: dict[str, _Metric], metadata: dict[str, Any]) -> Any:
    emf = EphemeralMetrics(namespace=namespace, service=SERVICE)
    for name, value in dimensions:
        emf.add_dimension(name=name, value=value)
    for key, value in metadata.items():
        emf.add_metadata(key=key, value=value)
    for name, metric in metrics.items():
        for number in metric.values:
            emf.add_metric(name=name, unit=metric.unit, value=number)
    return emf


def flush(invocation: Invocation, namespace: str, metadata: dict[str, Any]) -> None:
    """Print the invocation's metrics: one EMF line per dimension set, as CloudWatch Logs reads them."""
    for dimensions, metrics in invocation.metrics.items():
        _emf(namespace, dimensions, metrics, metadata).flush_metrics()


# -- correlation ---------------------------------------------------------------------------


@contextmanager
def correlated(**keys: str | None) -> Iterator[None]:
    """Log keys (ids only) for the lines logged inside, e.g. a chunk's ids within a batch."""
    if _current() is None:  # outside an invocation (a unit test's direct call): nothing to narrow
        yield
        return
    safe = {name: value for name, value in keys.items() if identifier(value) is not None}
    log = logger()
    before = log.thread_safe_get_current_keys()
    log.thread_safe_append_keys(**safe)
    try:
        yield
    finally:
        log.thread_safe_clear_keys()
        log.thread_safe_append_keys(**before)


@contextmanager
def invocation(namespace: str, keys: dict[str, Any]) -> Iterator[Invocation]:
    """One invocation: its log keys set, its metrics collected here and flushed at its end."""
    log = logger()
    before = log.thread_safe_get_current_keys()
    log.thread_safe_clear_keys()
    log.thread_safe_append_keys(**keys)
    current = Invocation()
    stack: list[Invocation] = _local.__dict__.setdefault("invocations", [])
    stack.append(current)
    try:
        yield current
    finally:
        stack.pop()
        try:
            metadata: dict[str, Any] = {
                k: keys[k] for k in ("function_name", "function_request_id", "correlation_id") if k in keys
            }
            flush(current, namespace, metadata)
        finally:
            log.thread_safe_clear_keys()
            log.thread_safe_append_keys(**before)


# -- the middleware --------------------------------------------------------------------------


def _context_keys(context: Any) -> dict[str, Any]:
    name = getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    keys = {
        "function_name": identifier(name),
        "function_request_id": identifier(getattr(context, "aws_request_id", None)),
    }
    return {k: v for k, v in keys.items() if v}


class Observer:
    """The Chalice middleware (`app.py` registers it for all events): log keys and metrics per invocation."""

    def __init__(self, namespace: str, file_id_of: Callable[[str], str]) -> None:
        """`namespace`: the stage's metric namespace; `file_id_of`: a raw key's file id (S3 events)."""
        self.namespace = namespace
        self.file_id_of = file_id_of
        self._cold = True
        logger()

    def __call__(self, event: Any, get_response: Callable[[Any], Any]) -> Any:
        with invocation(self.namespace, self.keys(event)):
            return get_response(event)

    def keys(self, event: Any) -> dict[str, Any]:
        """The invocation's log keys: function, request id, cold start, correlation ids (ids only)."""
        cold, self._cold = self._cold, False
        keys: dict[str, Any] = {"cold_start": cold}
        if isinstance(event, Request):
            keys |= _context_keys(event.lambda_context)
            context = event.context or {}
            keys["correlation_id"] = identifier(context.get("requestId"))
            keys["http_method"] = identifier(event.method)
            keys["resource_path"] = (
                context.get("resourcePath") if isinstance(context.get("resourcePath"), str) else None
            )
        elif isinstance(event, SQSEvent):
            keys |= _context_keys(event.context)
            ids = [identifier(record.to_dict().get("messageId")) for record in event]
            message_ids = [i for i in ids if i][:_MAX_MESSAGE_IDS]
            keys["message_ids"] = message_ids
            if len(message_ids) == 1:
                keys["correlation_id"] = message_ids[0]
        elif isinstance(event, S3Event):
            keys |= _context_keys(event.context)
            keys["correlation_id"] = keys["file_id"] = identifier(self.file_id_of(event.key))
        elif isinstance(event, CloudWatchEvent):
            keys |= _context_keys(event.context)
            keys["correlation_id"] = identifier(event.event_id)
        elif isinstance(event, LambdaFunctionEvent):
            keys |= _context_keys(event.context)
            payload = event.event if isinstance(event.event, dict) else {}
            for name in ("job_id", "run_id", "pull_id", "file_id"):
                if identifier(payload.get(name)):
                    keys[name] = keys["correlation_id"] = payload[name]
        else:
            keys |= _context_keys(getattr(event, "context", None))
        return {k: v for k, v in keys.items() if v is not None}

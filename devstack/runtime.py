"""Discovers every event source of a Chalice app and runs it as AWS would, locally.

Nothing here knows the Data Engine's handlers: adding an `@app.on_sqs_message`,
`@app.on_s3_event`, `@app.schedule` or `@app.lambda_function` needs no change here.
The pollers and the scheduler run in this process; every handler runs in a sandbox, a
worker process of its function (`sandboxes.py`), at most the function's concurrency at once:
its event source's `maximum_concurrency`, else its declared reserved concurrency.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError
from chalice.app import (
    Chalice,
    S3EventConfig,
    ScheduledEventConfig,
    ScheduleExpression,
    SQSEventConfig,
)

from chalicelib.queues import move_messages
from chalicelib.resources import for_stage
from devstack.emulator import Emulator, LambdaContext
from devstack.emulator_process import EmulatorProcess
from devstack.events import scheduled_event
from devstack.pollers import Handler, QueuePoller, S3NotificationPoller
from devstack.sandboxes import FunctionSandboxes, Usage, forkserver
from devstack.schedules import next_fire

log = logging.getLogger(__name__)

S3_NOTIFY_MAX_RECEIVE = 3  # Lambda retries a failed asynchronous S3 invocation twice


def resolve_handler(app_module: ModuleType, handler_string: str) -> Handler:
    """Chalice's handler string (`app.function`) to the callable Lambda would run."""
    return getattr(app_module, handler_string.rpartition(".")[2])


LOCAL_ACCOUNT = "123456789012"  # the emulator's account


def function_name(app: Chalice, stage: str, name: str) -> str:
    """The deployed Lambda function name Chalice gives a handler."""
    return f"{app.app_name}-{stage}-{name}"


@dataclass
class ScheduledFunction:
    name: str
    rule_name: str
    expression: str
    handler: Handler
    next_at: datetime
    fired: int = 0


class LocalRuntime:
    def __init__(
        self,
        app_module: ModuleType,
        session: Any,
        emulator: Emulator | EmulatorProcess,
        stage: str = "local",
        poll_wait_seconds: int = 1,
        concurrency: Mapping[str, int] | None = None,
        default_concurrency: int = 1,
        s3_retry_seconds: int = 30,
    ) -> None:
        """`app_module` is the module holding the Chalice app as `app`, as Lambda loads it (the
        sandboxes import it by name). `concurrency` is the reserved concurrency declared per
        function (by its name in the app), `default_concurrency` that of the others.
        `s3_retry_seconds`: how long a failed S3 event waits before its retry (Lambda waits
        about one and then two minutes)."""
        self.app_module = app_module
        self.app: Chalice = app_module.app
        self.stage = stage
        self.session = session
        self.emulator = emulator
        self.poll_wait_seconds = poll_wait_seconds
        self.concurrency = dict(concurrency or {})
        self.default_concurrency = default_concurrency
        self.s3_retry_seconds = s3_retry_seconds
        self.pollers: list[QueuePoller] = []
        self.s3_dead_letters: dict[str, str] = {}  # S3-notification queue URL -> its DLQ's
        self.schedules: dict[str, ScheduledFunction] = {}
        self.sandboxes: dict[str, FunctionSandboxes] = {}  # by the function's name in the app
        self._context: Any = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._warming: list[threading.Thread] = []

    # -- set-up ----------------------------------------------------------------------

    def start(self) -> None:
        self._context = forkserver([self.app_module.__name__])
        sqs = self.session.client("sqs")
        s3_sources: list[S3EventConfig] = []
        for source in self.app.event_sources:
            if isinstance(source, SQSEventConfig):
                self.pollers.append(self._sqs_poller(sqs, source))
            elif isinstance(source, S3EventConfig):
                s3_sources.append(source)
            elif isinstance(source, ScheduledEventConfig):
                self._add_schedule(source)
            else:
                log.warning("the local runtime has no support for %s (%s)", type(source).__name__, source.name)
        self.pollers.extend(self._s3_pollers(sqs, s3_sources))
        # every function can be invoked by its name, as in Lambda (a replay of a failed S3 event
        # or schedule run invokes its handler); an event source's handler keeps its sandboxes
        for function in (*self.app.pure_lambda_functions, *self.app.event_sources):
            self.emulator.register_function(
                function_name(self.app, self.stage, function.name),
                self._handler(function.name, function.handler_string),
            )
        self.emulator.front.on_async_failure = self._failed_invocation
        self.emulator.control_routes["fire"] = lambda request: self.fire(request["path"].split("/", 1)[1])
        self.emulator.control_routes["status"] = lambda request: self.status()
        self.emulator.control_routes["idle"] = lambda request: {
            "idle": self.wait_until_idle(float(request.get("timeout", 60)))
        }
        # the event sources' sandboxes start now, in the background (the first batches wait for them)
        for name in [s.name for s in self.app.event_sources if isinstance(s, SQSEventConfig | S3EventConfig)]:
            warm = threading.Thread(target=self.sandboxes[name].warm, name=f"warm-{name}", daemon=True)
            warm.start()
            self._warming.append(warm)
        for poller in self.pollers:
            poller.start()
        self._scheduler = threading.Thread(target=self._run_schedules, name="schedules", daemon=True)
        self._scheduler.start()

    def _handler(self, name: str, handler_string: str, concurrency: int | None = None) -> Handler:
        """What Lambda runs for the app's function `name`: the handler, in one of its sandboxes."""
        sandboxes = self.sandboxes.get(name)
        if sandboxes is None:
            sandboxes = self.sandboxes[name] = FunctionSandboxes(
                function_name(self.app, self.stage, name),
                self.app_module.__name__,
                handler_string.rpartition(".")[2],
                concurrency or self.concurrency.get(name, self.default_concurrency),
                self._context,
            )
        return lambda event, context: sandboxes.invoke(event)

    def _sqs_poller(self, sqs: Any, source: SQSEventConfig) -> QueuePoller:
        queue_name = source.queue or str(source.queue_arn).rsplit(":", 1)[-1]
        handler = self._handler(source.name, source.handler_string, source.maximum_concurrency)
        return QueuePoller(
            sqs,
            sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
            handler,
            function_name(self.app, self.stage, source.name),
            batch_size=source.batch_size,
            batching_window=source.maximum_batching_window_in_seconds,
            wait_seconds=self.poll_wait_seconds,
            concurrency=self.sandboxes[source.name].concurrency,
        )

    def _s3_pollers(self, sqs: Any, sources: list[S3EventConfig]) -> list[QueuePoller]:
        """Route each bucket's notifications to one local queue per handler."""
        import json

        pollers: list[QueuePoller] = []
        per_bucket: dict[str, list[dict[str, Any]]] = {}
        for source in sources:
            name = function_name(self.app, self.stage, source.name)
            dlq_url = sqs.create_queue(QueueName=f"devstack-s3-{name}-dlq")["QueueUrl"]
            dlq_arn = _queue_arn(sqs, dlq_url)
            url = sqs.create_queue(
                QueueName=f"devstack-s3-{name}",
                Attributes={
                    "VisibilityTimeout": str(self.s3_retry_seconds),
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(S3_NOTIFY_MAX_RECEIVE)}
                    ),
                },
            )["QueueUrl"]
            self.s3_dead_letters[url] = dlq_url
            rules = [{"Name": "prefix", "Value": source.prefix}] if source.prefix else []
            rules += [{"Name": "suffix", "Value": source.suffix}] if source.suffix else []
            config: dict[str, Any] = {"QueueArn": _queue_arn(sqs, url), "Events": source.events}
            if rules:
                config["Filter"] = {"Key": {"FilterRules": rules}}
            per_bucket.setdefault(source.bucket, []).append(config)
            handler = self._handler(source.name, source.handler_string)
            poller = S3NotificationPoller(
                sqs,
                url,
                handler,
                name,
                batch_size=10,
                wait_seconds=self.poll_wait_seconds,
                concurrency=self.sandboxes[source.name].concurrency,
            )
            poller.max_receives, poller.on_exhausted = S3_NOTIFY_MAX_RECEIVE, self._failed_invocation
            pollers.append(poller)
        s3 = self.session.client("s3")
        for bucket, configs in per_bucket.items():
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs}
            )
        return pollers

    def _add_schedule(self, source: ScheduledEventConfig) -> None:
        expression = source.schedule_expression
        if isinstance(expression, ScheduleExpression):
            expression = expression.to_string()
        now = datetime.now(UTC)
        self.schedules[source.name] = ScheduledFunction(
            name=source.name,
            rule_name=function_name(self.app, self.stage, source.name) + "-event",
            expression=expression,
            handler=self._handler(source.name, source.handler_string),
            next_at=next_fire(expression, now),
        )

    # -- running ---------------------------------------------------------------------

    def _run_schedules(self) -> None:
        while not self._stop.wait(0.5):
            now = datetime.now(UTC)
            for scheduled in self.schedules.values():
                if scheduled.next_at <= now:
                    scheduled.next_at = next_fire(scheduled.expression, now)
                    # a rule invokes its function asynchronously, each fire on its own: retried
                    # twice, then left on the on-failure queue, as Lambda does
                    scheduled.fired += 1
                    name = function_name(self.app, self.stage, scheduled.name)
                    event = scheduled_event(scheduled.rule_name)
                    threading.Thread(
                        target=self.emulator.front.run_async, args=(name, event), name=f"rule-{name}", daemon=True
                    ).start()

    def fire(self, name: str) -> dict[str, Any]:
        """Run a scheduled function now, as its rule would; returns what it returned."""
        if name not in self.schedules:
            raise LookupError(f"no schedule named {name!r}; known: {', '.join(sorted(self.schedules))}")
        return {"schedule": name, "result": self._fire(self.schedules[name])}

    def _fire(self, scheduled: ScheduledFunction) -> Any:
        scheduled.fired += 1
        return scheduled.handler(scheduled_event(scheduled.rule_name), LambdaContext(scheduled.name))

    def status(self) -> dict[str, Any]:
        return {
            "pollers": {p.function_name: vars(p.stats) for p in self.pollers},
            "schedules": {
                s.name: {"expression": s.expression, "next_at": s.next_at.isoformat(), "fired": s.fired}
                for s in self.schedules.values()
            },
            "functions": sorted(self.emulator.functions),
            "sandboxes": {
                s.name: {"concurrency": s.concurrency, "started": s.started, "running": s.running, **vars(s.usage)}
                for s in self.sandboxes.values()
            },
        }

    def usage(self, reset: bool = False) -> dict[str, Usage]:
        """Each function's invocations and seconds in its sandboxes so far (by its name in the app)."""
        return {name: s.take_usage() if reset else s.usage for name, s in self.sandboxes.items()}

    def kill_a_worker(self, name: str) -> bool:
        """SIGKILL one worker process of function `name` (in the app, or deployed), a busy one
        first: its invocation fails (an SQS batch comes back after the visibility timeout) and a
        new sandbox takes its place. False when the function has none running."""
        sandboxes = self.sandboxes.get(name) or next((s for s in self.sandboxes.values() if s.name == name), None)
        if sandboxes is None:
            raise LookupError(f"no function named {name!r}; known: {', '.join(sorted(self.sandboxes))}")
        return sandboxes.kill_one()

    def _failed_invocation(self, function: str, event: Any, error: Exception) -> bool:
        """An asynchronous invoke (or S3 event) that failed its retries, put on the stage's
        on-failure queue as Lambda's invocation record (`POST /async-failures/replay` invokes
        it again); False when no queue took it."""
        declared = for_stage(self.stage, self.app.app_name)
        if declared.async_failures is None:
            return False
        region = self.session.region_name or "us-east-1"
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{function}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": type(error).__name__},  # Lambda adds the message; not here
        }
        sqs = self.session.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=declared.async_failures.name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
        except ClientError as error:  # the event is lost, as when Lambda has no destination
            log.warning("%s: no on-failure queue took its failed event (%s)", function, error.response["Error"]["Code"])
            return False
        return True

    def replay_s3_dead_letters(self, limit: int = 1000) -> int:
        """S3 events that failed three times and that the on-failure queue did not take (they
        wait in a DLQ of their notification queue) handed back to their queue; returns how many."""
        sqs = self.session.client("sqs")
        return sum(move_messages(sqs, dlq, url, limit) for url, dlq in self.s3_dead_letters.items())

    def deliver_twice(self, share: float) -> None:
        """Hand `share` of every poller's deliveries (SQS batches, S3 events) to its handler twice."""
        for poller in self.pollers:
            poller.duplicate_share = share

    def _running(self) -> bool:
        return any(p.busy for p in self.pollers) or any(s.running for s in self.sandboxes.values())

    def idle(self) -> bool:
        """True when no handler runs anywhere and no polled queue holds a message, visible or not."""
        if self._running():
            return False
        sqs = self.session.client("sqs")
        for poller in self.pollers:
            try:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=poller.queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
            except ClientError:  # SQS misbehaving (a chaos run's faults): ask again later
                return False
            if any(int(value) for value in attributes.values()):
                return False
        return not self._running()

    def wait_until_idle(self, timeout: float = 60.0, settle: float = 0.5) -> bool:
        """Wait until `idle()` holds twice `settle` seconds apart; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                time.sleep(settle)
                if self.idle():
                    return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self._stop.set()
        self.emulator.front.on_async_failure = None
        for poller in self.pollers:
            poller.halt()
        idle_until = time.monotonic() + 1.0  # one second for every idle poller together
        for poller in self.pollers:
            poller.stop(idle_until)
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        for thread in self._warming:
            thread.join(timeout=30)
        for sandboxes in self.sandboxes.values():
            sandboxes.close()


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

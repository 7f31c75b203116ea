"""Builds the real dependencies (AWS clients, adapters) from configuration, lazily.

The only module that builds clients; only the routes and `app.py`'s handlers, above it,
import it. Nothing is created at import time, so a test's or the local runtime's emulator
(`AWS_ENDPOINT_URL`) is always in place first. Modules of heavy libraries (pyarrow,
DuckDB) are imported inside the builders that need them, so a function that never uses
them never loads them.

Tests and the local runtime replace a piece with `override(name=piece)`, e.g.
`override(mailer=RecordingMailer())`: every builder answers its override first. `reset()`
drops what was built and every override.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import boto3
from botocore.config import Config

from chalicelib.auth.audit import AuditLog
from chalicelib.auth.tokens import TokenStore
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.mail import SesMailer
from chalicelib.resources import ASYNC_FUNCTIONS, FUNCTION_TIMEOUT, Resources, current
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.handler import StateKeeper
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import StateReporter
from chalicelib.state_keeper.store import DEFAULT_HISTORY_RETENTION

if TYPE_CHECKING:
    from chalicelib.anonymization.policies import DynamoRetentionPolicies
    from chalicelib.anonymization.run import AnonymizationRun
    from chalicelib.anonymization.run_records import DynamoAnonymizationRuns
    from chalicelib.erasure.requests import DynamoErasureRequests
    from chalicelib.erasure.workflow import ErasureWorkflow
    from chalicelib.ingest.dead_letters import DeadChunks
    from chalicelib.ingest.mapping_store import DynamoMappings
    from chalicelib.ingest.normalize_chunk import ChunkNormalizer
    from chalicelib.ingest.split_file import FileSplitter
    from chalicelib.intake.collect_deliveries import DeliveryCollector
    from chalicelib.intake.deliveries import WebhookInbox
    from chalicelib.intake.pulls import Pull
    from chalicelib.intake.run_pulls import SourcePulls
    from chalicelib.intake.source_states import DynamoSourceStates
    from chalicelib.lake_access.catalog import LakeTable
    from chalicelib.lake_access.compaction import LakeCompaction
    from chalicelib.lake_access.query_engine import QueryEngine
    from chalicelib.lake_access.rewrite_object import SubjectOf
    from chalicelib.operations.daily_summary import SummarySources
    from chalicelib.operations.incidents import DynamoIncidents
    from chalicelib.queues import InvocationsReplayed
    from chalicelib.sap.client import SapClient
    from chalicelib.sap.dead_letters import ParkedLetters, Replayed
    from chalicelib.sap.erasure import SapErasure
    from chalicelib.sap.handler import SapDispatchHandler
    from chalicelib.sap.ledger import DynamoDbLedger
    from chalicelib.sap.outbox import SapOutbox
    from chalicelib.sap.throttle import DynamoDbThrottle
    from chalicelib.subjects.tombstones import DynamoTombstones

P = ParamSpec("P")
R = TypeVar("R")

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


_BUILDERS: list[Callable[..., Any]] = []  # every builder, as `override` knows them
_BUILT: list[Any] = []  # the caches of the cached ones, which `reset` clears
_OVERRIDES: dict[str, Any] = {}


def override(**pieces: Any) -> None:
    """Replace built pieces by builder name, e.g. `override(mailer=RecordingMailer())`."""
    unknown = set(pieces) - {builder.__name__ for builder in _BUILDERS}
    if unknown:
        raise KeyError(f"no builder named {', '.join(sorted(unknown))}")
    _OVERRIDES.update(pieces)


def reset() -> None:
    """Forget every client and adapter built so far, and every override (tests, stage switches)."""
    from chalicelib.normalize.sources import use_declared_sources

    use_declared_sources(None)
    _OVERRIDES.clear()
    for cached in _BUILT:
        cached.cache_clear()


def builder(*, cached: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a builder: it answers its override first; `cached` ones build once per process."""

    def mark(function: Callable[P, R]) -> Callable[P, R]:
        build: Callable[P, R] = function
        if cached:
            build = functools.cache(function)  # type: ignore[assignment]
            _BUILT.append(build)

        @functools.wraps(function)
        def piece(*args: P.args, **kwargs: P.kwargs) -> R:
            if function.__name__ in _OVERRIDES:
                return _OVERRIDES[function.__name__]
            return build(*args, **kwargs)

        _BUILDERS.append(piece)
        return piece

    return mark


@builder()
def client(service: str) -> Any:
    """A boto3 client for `service`, shared by everything in this process."""
    return boto3.session.Session().client(service, config=_CLIENT_CONFIG)


@builder()
def resources() -> Resources:
    return current()


@builder()
def queue_url(name: str) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


@builder()
def token_store() -> TokenStore:
    return TokenStore(resources().table("config").name, client("dynamodb"))


@builder()
def audit_log() -> AuditLog:
    """Who changed what through the API (the config table's `audit` partition)."""
    return AuditLog(resources().table("config").name, client("dynamodb"))


@builder()
def mailer() -> SesMailer:
    declared = resources()
    return SesMailer(declared.mail_from, list(declared.mail_to), client("ses"))


@builder()
def incidents() -> DynamoIncidents:
    """The alert incidents (config table partition `incidents`) the dead-letter watch keeps."""
    from chalicelib.operations.incidents import DynamoIncidents

    return DynamoIncidents(resources().table("config").name, client("dynamodb"))


@builder()
def summary_mailer() -> SesMailer:
    """SES to the stage's daily-summary recipients (`resources.Alerting.summary_to`)."""
    declared = resources()
    return SesMailer(declared.mail_from, list(declared.alerting.summary_to), client("ses"))


@builder(cached=False)
def summary_sources() -> SummarySources:
    """What the daily summary reads: State Keeper, queues, SAP throttle, erasure jobs, incidents."""
    from chalicelib.lake_access.object_store import S3ObjectStore
    from chalicelib.operations.daily_summary import SummarySources

    return SummarySources(
        resources=resources(),
        store=state_store(),
        sqs=client("sqs"),
        throttle=sap_throttle(),
        erasure_requests=erasure_requests(),
        objects=S3ObjectStore(client("s3")),
        incidents=incidents(),
    )


@builder()
def subject_key() -> bytes:
    """The key of the pseudonymous subject ids (HMAC of the normalized email)."""
    secret = client("secretsmanager").get_secret_value(SecretId=resources().secret("subject-key").name)
    return secret["SecretString"].encode("utf-8")


@builder(cached=False)
def state_reporter() -> StateReporter:
    """A new reporter (a context manager that sends what it buffered on exit)."""
    return StateReporter(queue_url(resources().queue("state-changes").name), client("sqs"))


@builder()
def state_store() -> DynamoStateStore:
    days = os.environ.get("STATE_HISTORY_RETENTION_DAYS")
    retention = timedelta(days=int(days)) if days else DEFAULT_HISTORY_RETENTION
    return DynamoStateStore(resources().table("state").name, client("dynamodb"), history_retention=retention)


@builder()
def state_keeper() -> StateKeeper:
    return StateKeeper(state_store())


@builder()
def state_queries() -> StateQueries:
    token_key = hmac.new(subject_key(), b"state-keeper next tokens", hashlib.sha256).digest()
    return StateQueries(state_store(), token_key)


@builder()
def file_outcomes() -> FileOutcomeStore:
    return FileOutcomeStore(resources().table("state").name, client("dynamodb"))


@builder()
def mappings() -> DynamoMappings:
    """The declared source mappings; building them lets `connector_for` find them too."""
    from chalicelib.ingest.mapping_store import DynamoMappings
    from chalicelib.normalize.sources import use_declared_sources

    store = DynamoMappings(resources().table("config").name, client("dynamodb"))
    use_declared_sources(store.connector)
    return store


@builder()
def ingest() -> FileSplitter:
    from chalicelib.ingest.split_file import FileSplitter

    mappings()
    return FileSplitter(client("s3"), client("sqs"), queue_url(resources().queue("normalize").name), file_outcomes())


@builder()
def normalizer() -> ChunkNormalizer:
    from chalicelib.ingest.normalize_chunk import ChunkNormalizer

    mappings()
    declared = resources()
    return ChunkNormalizer(
        client("s3"),
        declared.bucket("lake").name,
        declared.bucket("quarantine").name,
        subject_key(),
        state_reporter,
        sap_outbox(),
        erasure_tombstones(),
    )


@builder()
def erasure_tombstones() -> DynamoTombstones:
    """The erased subjects (pseudonymous ids and times) that normalize and dispatch drop."""
    from chalicelib.subjects.tombstones import DynamoTombstones

    return DynamoTombstones(resources().table("config").name, client("dynamodb"))


# -- SAP dispatch -----------------------------------------------------------------------


@builder()
def sap_outbox() -> SapOutbox:
    """Where the normalize step queues valid records: `sap_outbox().send(records) -> OutboxResult`."""
    from chalicelib.sap.outbox import SapOutbox

    return SapOutbox(queue_url(resources().queue("sap-dispatch").name), client("sqs"))


@builder()
def sap_client() -> SapClient:
    """One SAP client per container: its CSRF token and cookies outlive a batch."""
    from chalicelib.sap.client import SapClient
    from chalicelib.sap.credentials import load_credentials

    return SapClient.from_credentials(load_credentials(client))


@builder()
def sap_throttle() -> DynamoDbThrottle:
    from chalicelib.sap.throttle import DynamoDbThrottle

    return DynamoDbThrottle(resources().table("config").name, client("dynamodb"))


@builder()
def sap_ledger() -> DynamoDbLedger:
    from chalicelib.sap.ledger import DynamoDbLedger

    return DynamoDbLedger(resources().table("sap-ledger").name, client("dynamodb"))


@builder()
def dispatcher() -> SapDispatchHandler:
    """The `dispatch_to_sap` handler; `SAP_RECORDS_PER_REQUEST` sets the records per `$batch`,
    `SAP_LEASE_SECONDS` the ledger's lease (local runs with short visibility timeouts only: the
    deployed functions keep the default, which outlasts their timeout)."""
    from chalicelib.sap.dispatcher import DispatchOptions
    from chalicelib.sap.handler import SapDispatchHandler

    options = DispatchOptions(
        records_per_request=int(os.environ.get("SAP_RECORDS_PER_REQUEST", "100")),
        lease_seconds=float(os.environ.get("SAP_LEASE_SECONDS", DispatchOptions.lease_seconds)),
    )
    return SapDispatchHandler(
        sap_client,
        sap_throttle(),
        sap_ledger(),
        client("sqs"),
        queue_url(resources().queue("sap-dispatch").name),
        state_reporter,
        tombstones=erasure_tombstones(),
        options=options,
    )


@builder()
def sap_erasure() -> SapErasure:
    """Erases subjects' contacts in SAP (the erasure workflow's SAP task), on the shared throttle."""
    from chalicelib.sap.erasure import SapErasure

    return SapErasure(sap_client(), sap_throttle())


def park_sap_dead_letters() -> ParkedLetters:
    from chalicelib.sap.dead_letters import park_dead_letters

    dlq = resources().queue("sap-dispatch").dead_letter
    assert dlq is not None
    return park_dead_letters(client("sqs"), queue_url(dlq.name), sap_ledger(), state_reporter)


def replay_sap_dead_letters(limit: int = 1000) -> Replayed:
    from chalicelib.sap.dead_letters import replay_dead_letters

    queue = resources().queue("sap-dispatch")
    assert queue.dead_letter is not None
    return replay_dead_letters(
        client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name), sap_ledger(), state_reporter, limit
    )


def retry_parked_document(document_id: str) -> bool:
    """One PARKED document sent again from the SAP DLQ (`POST /documents/{id}/retry`)."""
    from chalicelib.sap.dead_letters import retry_parked_record

    queue = resources().queue("sap-dispatch")
    assert queue.dead_letter is not None
    return retry_parked_record(
        client("sqs"),
        queue_url(queue.dead_letter.name),
        queue_url(queue.name),
        sap_ledger(),
        state_reporter,
        document_id,
    )


def retry_rejected_document(document_id: str, file_id: str) -> str | None:
    """One REJECTED_BY_SAP document read again from its raw file and queued for SAP alone.

    None when queued; else why not (a code): `FILE_UNKNOWN`, `RECORD_GONE` (erased or the
    file rewritten), `NOW_INVALID`, `NOT_FOR_SAP`, or `NOT_REJECTED` (the ledger disagrees).
    """
    from chalicelib.ingest.read_again import normalized_again
    from chalicelib.normalize.schema import NormalizedRecord
    from chalicelib.sap.outbox import Unsendable
    from chalicelib.sap.retry import resend_rejected

    mappings()
    outcome = file_outcomes().get(file_id)
    if outcome is None:
        return "FILE_UNKNOWN"
    record = normalized_again(client("s3"), resources().bucket("raw").name, outcome, document_id, subject_key())
    if record is None:
        return "RECORD_GONE"
    if not isinstance(record, NormalizedRecord):
        return "NOW_INVALID"
    queue = queue_url(resources().queue("sap-dispatch").name)
    try:
        sent = resend_rejected(record, sap_ledger(), client("sqs"), queue, state_reporter)
    except Unsendable:
        return "NOT_FOR_SAP"
    return None if sent else "NOT_REJECTED"


def park_normalize_dead_letters() -> DeadChunks:
    from chalicelib.ingest.dead_letters import park_dead_chunks

    dlq = resources().queue("normalize").dead_letter
    assert dlq is not None
    return park_dead_chunks(client("sqs"), queue_url(dlq.name), state_reporter)


def replay_normalize_dead_letters(limit: int = 1000) -> int:
    from chalicelib.queues import move_messages

    queue = resources().queue("normalize")
    assert queue.dead_letter is not None
    return move_messages(client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name), limit)


def replay_async_failures(limit: int = 1000) -> InvocationsReplayed:
    """Failed asynchronous invocations (an S3 event whose split failed, a scheduled run)
    invoked again, each in the function it failed in."""
    from chalicelib.queues import replay_failed_invocations

    declared = resources()
    functions = {f"{declared.app}-{declared.stage}-{name}" for name in ASYNC_FUNCTIONS}
    return replay_failed_invocations(
        client("sqs"), client("lambda"), queue_url(declared.failure_queue().name), functions, limit
    )


def replay_state_change_dead_letters(limit: int = 1000) -> int:
    """State changes the State Keeper could not record (its DLQ) moved back to its queue: a
    change is recorded once however often it comes (the State Keeper is idempotent)."""
    from chalicelib.queues import move_messages

    queue = resources().queue("state-changes")
    assert queue.dead_letter is not None
    return move_messages(client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name), limit)


# -- GDPR -------------------------------------------------------------------------------


@builder(cached=False)
def lake_table() -> LakeTable:
    from chalicelib.lake_access.catalog import LakeTable

    declared = resources()
    catalog = declared.catalog()
    return LakeTable(database=catalog.database, name=catalog.table, bucket=declared.bucket("lake").name)


@builder()
def query_engine() -> QueryEngine:
    """Athena in AWS; DuckDB over the same lake objects on the local stack (no Athena there)."""
    declared = resources()
    table = lake_table()
    if declared.stage == "local":
        from chalicelib.lake_access.object_store import S3ObjectStore
        from chalicelib.lake_access.query_engine import DuckDbQueryEngine
        from chalicelib.normalize.lake import lake_schema

        return DuckDbQueryEngine([table], S3ObjectStore(client("s3")), schemas={table.qualified_name: lake_schema()})
    from chalicelib.lake_access.query_engine import AthenaQueryEngine

    def connect() -> Any:
        import pyathena

        return pyathena.connect(
            work_group=declared.catalog().workgroup,
            schema_name=table.database,
            region_name=client("s3").meta.region_name,
        )

    return AthenaQueryEngine(connect)


@builder()
def erasure_requests() -> DynamoErasureRequests:
    from chalicelib.erasure.requests import DynamoErasureRequests

    return DynamoErasureRequests(resources().table("config").name, client("dynamodb"))


@builder()
def retention_policies() -> DynamoRetentionPolicies:
    from chalicelib.anonymization.policies import DynamoRetentionPolicies

    return DynamoRetentionPolicies(resources().table("config").name, client("dynamodb"))


@builder()
def subject_of_for() -> Callable[[str, str], SubjectOf]:
    from chalicelib.lake_access.raw_subjects import subject_of_for as build

    mappings()
    return build(subject_key())


@builder()
def erasure_workflow() -> ErasureWorkflow:
    from chalicelib.erasure.workflow import ErasureWorkflow
    from chalicelib.lake_access.object_store import S3ObjectStore
    from chalicelib.state_keeper.subject_links import SubjectLinks

    declared = resources()
    return ErasureWorkflow(
        requests=erasure_requests(),
        engine=query_engine(),
        object_store=lambda: S3ObjectStore(client("s3")),
        table=lake_table(),
        raw_bucket=declared.bucket("raw").name,
        quarantine_bucket=declared.bucket("quarantine").name,
        work_bucket=declared.bucket(declared.catalog().results_bucket).name,
        subject_of_for=subject_of_for(),
        traces=SubjectLinks(declared.table("state").name, state_reporter, client("dynamodb")),
        mailer=mailer(),
        sap=sap_erasure,
        tombstones=erasure_tombstones(),
        settle_seconds=erasure_settle_seconds(),
        app=declared.app,
        stage=declared.stage,
    )


def erasure_settle_seconds() -> float:
    """How long the erasure's first find waits after writing the tombstones.

    A normalize or dispatch run that read the tombstones just before they were written
    may still write for up to a function timeout; the find scans after that. No wait on
    the local stack (one process, nothing in flight that tests do not drive).
    """
    configured = os.environ.get("ERASURE_SETTLE_SECONDS")
    if configured:
        return float(configured)
    return 0.0 if resources().stage == "local" else float(FUNCTION_TIMEOUT + 5)


@builder()
def state_machine_arn(key: str) -> str:
    """The ARN of a declared state machine, in this account and region."""
    account = client("sts").get_caller_identity()["Account"]
    region = client("stepfunctions").meta.region_name
    return f"arn:aws:states:{region}:{account}:stateMachine:{resources().state_machine(key).name}"


@builder()
def lake_compaction() -> LakeCompaction:
    """Compaction of the lake's small objects; it never runs beside an erasure job."""
    from chalicelib.lake_access.compaction import LakeCompaction
    from chalicelib.lake_access.object_store import S3ObjectStore

    erasure = state_machine_arn("gdpr-erasure")

    def erasure_running() -> bool:
        running = client("stepfunctions").list_executions(stateMachineArn=erasure, statusFilter="RUNNING", maxResults=1)
        return bool(running.get("executions"))

    # new work starts only in the first half of the function's time: a run ends well
    # before an erasure started meanwhile scans (`erasure_settle_seconds`)
    return LakeCompaction(
        S3ObjectStore(client("s3")),
        resources().bucket("lake").name,
        erasure_running,
        budget_seconds=FUNCTION_TIMEOUT / 2,
    )


@builder(cached=False)
def anonymization_runs() -> DynamoAnonymizationRuns:
    from chalicelib.anonymization.run_records import DynamoAnonymizationRuns

    return DynamoAnonymizationRuns(resources().table("config").name, client("dynamodb"))


def start_reprocess(file_id: str) -> None:
    """Hand a file's reprocessing to the `reprocess_file` function, asynchronously."""
    declared = resources()
    client("lambda").invoke(
        FunctionName=f"{declared.app}-{declared.stage}-reprocess_file",
        InvocationType="Event",
        Payload=json.dumps({"file_id": file_id}).encode(),
    )


def start_anonymization_run(run_id: str) -> None:
    """Hand a recorded run to its function, asynchronously (the API answers at once)."""
    declared = resources()
    client("lambda").invoke(
        FunctionName=f"{declared.app}-{declared.stage}-gdpr_anonymization_run",
        InvocationType="Event",
        Payload=json.dumps({"run_id": run_id}).encode(),
    )


@builder(cached=False)
def anonymization_run() -> AnonymizationRun:
    """A run with the policies as they are now (read per run, so a change applies next run)."""
    from chalicelib.anonymization.anonymize import KeyedPseudonymizer
    from chalicelib.anonymization.marks import DynamoAnonymizationMarks
    from chalicelib.anonymization.run import AnonymizationRun
    from chalicelib.lake_access.object_store import S3ObjectStore

    mappings()
    declared = resources()
    pseudonym_key = hmac.new(subject_key(), b"gdpr pseudonyms", hashlib.sha256).digest()
    marks = DynamoAnonymizationMarks(declared.table("config").name, client("dynamodb"))
    return AnonymizationRun(
        S3ObjectStore(client("s3")),
        declared.bucket("lake").name,
        declared.bucket("raw").name,
        list(retention_policies().all().values()),
        KeyedPseudonymizer(pseudonym_key),
        state_reporter,
        marks=marks,
    )


# -- intake: the platforms' webhooks and pulls ------------------------------------------


@builder()
def platform_secret(key: str) -> dict[str, Any]:
    """A platform's credentials (a declared secret holding JSON); never logged."""
    secret = client("secretsmanager").get_secret_value(SecretId=resources().secret(key).name)
    value: dict[str, Any] = json.loads(secret["SecretString"])
    return value


@builder()
def source_states() -> DynamoSourceStates:
    from chalicelib.intake.source_states import DynamoSourceStates

    return DynamoSourceStates(resources().table("config").name, client("dynamodb"))


@builder()
def webhook_inbox() -> WebhookInbox:
    from chalicelib.intake.deliveries import WebhookInbox

    return WebhookInbox(queue_url(resources().queue("webhooks").name), client("sqs"))


def platform_http(platform: str) -> Any:
    from chalicelib.intake.platform_http import PlatformHttp

    return PlatformHttp(platform)


@builder()
def delivery_collector() -> DeliveryCollector:
    """The `collect_webhooks` handler: Google leads as they came, Meta and Eventbrite fetched."""
    from chalicelib.intake import eventbrite, meta
    from chalicelib.intake.collect_deliveries import DeliveryCollector

    def meta_leads(items: list[Any]) -> list[dict[str, Any]]:
        api = meta.from_secret(platform_secret("meta"), platform_http("meta"))
        found = api.leads([item.delivery_id for item in items])
        return list(found.values())

    def eventbrite_attendees(items: list[Any]) -> list[dict[str, Any]]:
        secret = platform_secret("eventbrite")
        api = eventbrite.from_secret(secret, platform_http("eventbrite"))
        settings = source_states().settings("eventbrite")
        if settings is None:
            return []
        attendees: list[dict[str, Any]] = []
        for item in items:  # checked again: the queue is ours, but the guard is cheap
            target = eventbrite.check_api_url(
                item.data["api_url"], str(secret.get("api_url") or eventbrite.DEFAULT_API_BASE)
            )
            attendees += [
                attendee
                for attendee in api.fetch(target)
                if eventbrite.allowed(attendee, settings.follow, settings.organization)
            ]
        return attendees

    declared = resources()
    local = declared.stage == "local"
    return DeliveryCollector(
        client("s3"),
        declared.bucket("raw").name,
        source_states(),
        {
            "google-ads": lambda items: [item.data for item in items],
            "meta": meta_leads,
            "eventbrite": eventbrite_attendees,
        },
        client("sqs"),
        queue_url(declared.queue("webhooks").name),
        retry_base_seconds=float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "1" if local else "30")),
    )


def platform_pulls() -> dict[str, Callable[[], Pull]]:
    """Each pulled platform's pull, built from its secret when it runs."""
    from chalicelib.intake import amazon, eventbrite, meta

    local = resources().stage == "local"
    return {
        "meta": lambda: meta.MetaLeadsPull(meta.from_secret(platform_secret("meta"), platform_http("meta"))),
        "eventbrite": lambda: eventbrite.EventbritePull(
            eventbrite.from_secret(platform_secret("eventbrite"), platform_http("eventbrite"))
        ),
        # a report is polled for up to 20 times 15 s; a pull that gives up leaves the report
        # pending in its cursor and the next run finishes it (no second report)
        "amazon": lambda: amazon.AmazonReportPull(
            amazon.from_secret(platform_secret("amazon-sp-api"), platform_http("amazon")),
            poll_seconds=float(os.environ.get("AMAZON_REPORT_POLL_SECONDS", "1" if local else "15")),
            max_polls=20,
        ),
    }


@builder()
def source_pulls() -> SourcePulls:
    from chalicelib.intake.run_pulls import SourcePulls

    return SourcePulls(source_states(), client("s3"), resources().bucket("raw").name, platform_pulls())


def start_source_pull(name: str, pull_id: str) -> None:
    """Hand a recorded pull run to the `pull_source` function, asynchronously."""
    declared = resources()
    client("lambda").invoke(
        FunctionName=f"{declared.app}-{declared.stage}-pull_source",
        InvocationType="Event",
        Payload=json.dumps({"source": name, "pull_id": pull_id}).encode(),
    )


def replay_webhook_dead_letters(limit: int = 1000) -> int:
    from chalicelib.queues import move_messages

    queue = resources().queue("webhooks")
    assert queue.dead_letter is not None
    return move_messages(client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name), limit)

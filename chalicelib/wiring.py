"""Builds the real dependencies (AWS clients, adapters) from configuration, lazily.

Nothing is created at import time, so a test's or the local runtime's emulator
(`AWS_ENDPOINT_URL`) is always in place first. Tests call `reset()` to drop what was built.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
from datetime import timedelta
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.auth.tokens import TokenStore
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.mail import SesMailer
from chalicelib.resources import Resources, current
from chalicelib.state_keeper.dynamo_store import DynamoStateStore
from chalicelib.state_keeper.handler import StateKeeper
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import StateReporter
from chalicelib.state_keeper.store import DEFAULT_HISTORY_RETENTION

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for `service`, shared by everything in this process."""
    return boto3.session.Session().client(service, config=_CLIENT_CONFIG)


@functools.cache
def resources() -> Resources:
    return current()


def reset() -> None:
    """Forget every client and adapter built so far (tests, stage switches)."""
    client.cache_clear()
    resources.cache_clear()
    for builder in _BUILDERS:
        builder.cache_clear()


_BUILDERS: list[Any] = []


def cached_builder(function: Any) -> Any:
    """Mark an adapter builder: cached per process, dropped by `reset()`."""
    cached = functools.cache(function)
    _BUILDERS.append(cached)
    return cached


@cached_builder
def queue_url(name: str) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


@cached_builder
def token_store() -> TokenStore:
    return TokenStore(resources().table("config").name, client("dynamodb"))


@cached_builder
def mailer() -> SesMailer:
    declared = resources()
    return SesMailer(declared.mail_from, list(declared.mail_to), client("ses"))


@cached_builder
def subject_key() -> bytes:
    """The key of the pseudonymous subject ids (HMAC of the normalized email)."""
    secret = client("secretsmanager").get_secret_value(SecretId=resources().secret("subject-key").name)
    return secret["SecretString"].encode("utf-8")


def state_reporter() -> StateReporter:
    """A new reporter (a context manager that sends what it buffered on exit)."""
    return StateReporter(queue_url(resources().queue("state-changes").name), client("sqs"))


@cached_builder
def state_store() -> DynamoStateStore:
    days = os.environ.get("STATE_HISTORY_RETENTION_DAYS")
    retention = timedelta(days=int(days)) if days else DEFAULT_HISTORY_RETENTION
    return DynamoStateStore(resources().table("state").name, client("dynamodb"), history_retention=retention)


@cached_builder
def state_keeper() -> StateKeeper:
    return StateKeeper(state_store())


@cached_builder
def state_queries() -> StateQueries:
    token_key = hmac.new(subject_key(), b"state-keeper next tokens", hashlib.sha256).digest()
    return StateQueries(state_store(), token_key)


@cached_builder
def file_outcomes() -> FileOutcomeStore:
    return FileOutcomeStore(resources().table("state").name, client("dynamodb"))


@cached_builder
def ingest() -> Any:
    from chalicelib.ingest.split_file import FileSplitter

    return FileSplitter(client("s3"), client("sqs"), queue_url(resources().queue("normalize").name),
                        file_outcomes())


@cached_builder
def normalizer() -> Any:
    from chalicelib.ingest.normalize_chunk import ChunkNormalizer

    declared = resources()
    return ChunkNormalizer(client("s3"), declared.bucket("lake").name, declared.bucket("quarantine").name,
                           subject_key(), state_reporter, sap_outbox(), erasure_tombstones())


@cached_builder
def erasure_tombstones() -> Any:
    """The erased subjects (pseudonymous ids and times) that normalize and dispatch drop."""
    from chalicelib.subjects.tombstones import DynamoTombstones

    return DynamoTombstones(resources().table("config").name, client("dynamodb"))


# -- SAP dispatch -----------------------------------------------------------------------

@cached_builder
def sap_outbox() -> Any:
    """Where the normalize step queues valid records: `sap_outbox().send(records) -> OutboxResult`."""
    from chalicelib.sap.outbox import SapOutbox

    return SapOutbox(queue_url(resources().queue("sap-dispatch").name), client("sqs"))


@cached_builder
def sap_client() -> Any:
    """One SAP client per container: its CSRF token and cookies outlive a batch."""
    from chalicelib.sap.client import SapClient
    from chalicelib.sap.credentials import load_credentials

    return SapClient.from_credentials(load_credentials(secrets_client=client("secretsmanager")))


@cached_builder
def sap_throttle() -> Any:
    from chalicelib.sap.throttle import DynamoDbThrottle

    return DynamoDbThrottle(resources().table("config").name, client("dynamodb"))


@cached_builder
def sap_ledger() -> Any:
    from chalicelib.sap.ledger import DynamoDbLedger

    return DynamoDbLedger(resources().table("sap-ledger").name, client("dynamodb"))


@cached_builder
def dispatcher() -> Any:
    """The `dispatch_to_sap` handler; `SAP_RECORDS_PER_REQUEST` sets the records per `$batch`."""
    from chalicelib.sap.dispatcher import DispatchOptions
    from chalicelib.sap.handler import SapDispatchHandler

    options = DispatchOptions(records_per_request=int(os.environ.get("SAP_RECORDS_PER_REQUEST", "100")))
    return SapDispatchHandler(sap_client, sap_throttle(), sap_ledger(), client("sqs"),
                              queue_url(resources().queue("sap-dispatch").name), state_reporter,
                              tombstones=erasure_tombstones(), options=options)


@cached_builder
def sap_erasure() -> Any:
    """Erases subjects' contacts in SAP (the erasure workflow's SAP task), on the shared throttle."""
    from chalicelib.sap.erasure import SapErasure

    return SapErasure(sap_client(), sap_throttle())


def park_sap_dead_letters() -> Any:
    from chalicelib.sap.dead_letters import park_dead_letters

    dlq = resources().queue("sap-dispatch").dead_letter
    assert dlq is not None
    return park_dead_letters(client("sqs"), queue_url(dlq.name), sap_ledger(), state_reporter)


def replay_sap_dead_letters(limit: int = 1000) -> Any:
    from chalicelib.sap.dead_letters import replay_dead_letters

    queue = resources().queue("sap-dispatch")
    assert queue.dead_letter is not None
    return replay_dead_letters(client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name),
                               sap_ledger(), state_reporter, limit)


def park_normalize_dead_letters() -> Any:
    from chalicelib.ingest.dead_letters import park_dead_chunks

    dlq = resources().queue("normalize").dead_letter
    assert dlq is not None
    return park_dead_chunks(client("sqs"), queue_url(dlq.name), state_reporter)


def replay_normalize_dead_letters(limit: int = 1000) -> int:
    from chalicelib.ingest.dead_letters import replay_dead_chunks

    queue = resources().queue("normalize")
    assert queue.dead_letter is not None
    return replay_dead_chunks(client("sqs"), queue_url(queue.dead_letter.name), queue_url(queue.name), limit)


# -- GDPR -------------------------------------------------------------------------------

def lake_table() -> Any:
    from chalicelib.gdpr.catalog import LakeTable

    declared = resources()
    catalog = declared.lake_catalog
    return LakeTable(database=catalog.database, name=catalog.table, bucket=declared.bucket("lake").name)


@cached_builder
def query_engine() -> Any:
    """Athena in AWS; DuckDB over the same lake objects on the local stack (no Athena there)."""
    declared = resources()
    table = lake_table()
    if declared.stage == "local":
        from chalicelib.gdpr.object_store import S3ObjectStore
        from chalicelib.gdpr.query_engine import DuckDbQueryEngine
        from chalicelib.normalize.lake import lake_schema

        return DuckDbQueryEngine([table], S3ObjectStore(client("s3")), schemas={table.qualified_name: lake_schema()})
    from chalicelib.gdpr.query_engine import AthenaQueryEngine

    return AthenaQueryEngine(declared.lake_catalog.workgroup, table.database,
                             region=client("s3").meta.region_name)


@cached_builder
def erasure_requests() -> Any:
    from chalicelib.gdpr.erasure_requests import DynamoErasureRequests

    return DynamoErasureRequests(resources().table("config").name, client("dynamodb"))


@cached_builder
def retention_policies() -> Any:
    from chalicelib.gdpr.retention_policies import DynamoRetentionPolicies

    return DynamoRetentionPolicies(resources().table("config").name, client("dynamodb"))


@cached_builder
def subject_of_for() -> Any:
    from chalicelib.gdpr.raw_subjects import subject_of_for as build

    return build(subject_key())


@cached_builder
def erasure_workflow() -> Any:
    from chalicelib.gdpr.erasure_workflow import ErasureWorkflow
    from chalicelib.gdpr.object_store import S3ObjectStore
    from chalicelib.gdpr.state_keeper_traces import StateKeeperTraces

    declared = resources()
    return ErasureWorkflow(
        requests=erasure_requests(), engine=query_engine(), object_store=lambda: S3ObjectStore(client("s3")),
        table=lake_table(), raw_bucket=declared.bucket("raw").name,
        quarantine_bucket=declared.bucket("quarantine").name,
        work_bucket=declared.bucket(declared.lake_catalog.results_bucket).name,
        subject_of_for=subject_of_for(),
        traces=StateKeeperTraces(declared.table("state").name, state_reporter, client("dynamodb")),
        mailer=mailer(), sap=sap_erasure, tombstones=erasure_tombstones(),
        settle_seconds=erasure_settle_seconds(), app=declared.app, stage=declared.stage)


def erasure_settle_seconds() -> float:
    """How long the erasure's first find waits after writing the tombstones.

    A normalize or dispatch run that read the tombstones just before they were written
    may still write for up to a function timeout; the find scans after that. No wait on
    the local stack (one process, nothing in flight that tests do not drive).
    """
    from chalicelib.resources import FUNCTION_TIMEOUT

    configured = os.environ.get("ERASURE_SETTLE_SECONDS")
    if configured:
        return float(configured)
    return 0.0 if resources().stage == "local" else float(FUNCTION_TIMEOUT + 5)


@cached_builder
def state_machine_arn(key: str) -> str:
    """The ARN of a declared state machine, in this account and region."""
    account = client("sts").get_caller_identity()["Account"]
    region = client("stepfunctions").meta.region_name
    return f"arn:aws:states:{region}:{account}:stateMachine:{resources().state_machine(key).name}"


def anonymization_runs() -> Any:
    from chalicelib.gdpr.anonymization_runs import DynamoAnonymizationRuns

    return DynamoAnonymizationRuns(resources().table("config").name, client("dynamodb"))


def start_anonymization_run(run_id: str) -> None:
    """Hand a recorded run to its function, asynchronously (the API answers at once)."""
    declared = resources()
    client("lambda").invoke(FunctionName=f"{declared.app}-{declared.stage}-gdpr_anonymization_run",
                            InvocationType="Event", Payload=json.dumps({"run_id": run_id}).encode())


def anonymization_run() -> Any:
    """A run with the policies as they are now (read per run, so a change applies next run)."""
    from chalicelib.gdpr.anonymization_marks import DynamoAnonymizationMarks
    from chalicelib.gdpr.anonymization_run import AnonymizationRun
    from chalicelib.gdpr.anonymize import KeyedPseudonymizer
    from chalicelib.gdpr.object_store import S3ObjectStore

    declared = resources()
    pseudonym_key = hmac.new(subject_key(), b"gdpr pseudonyms", hashlib.sha256).digest()
    marks = DynamoAnonymizationMarks(declared.table("config").name, client("dynamodb"))
    return AnonymizationRun(S3ObjectStore(client("s3")), declared.bucket("lake").name, declared.bucket("raw").name,
                            list(retention_policies().all().values()), KeyedPseudonymizer(pseudonym_key),
                            state_reporter, marks=marks)

"""Builds the real dependencies (AWS clients, adapters) from configuration, lazily.

Nothing is created at import time, so a test's or the local runtime's emulator
(`AWS_ENDPOINT_URL`) is always in place first. Tests call `reset()` to drop what was built.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
from datetime import timedelta
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.auth.tokens import TokenStore
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.mail import SesMailer
from chalicelib.resources import Resources, current
from chalicelib.state_keeper.handler import StateKeeper
from chalicelib.state_keeper.queries import StateQueries
from chalicelib.state_keeper.reporter import StateReporter
from chalicelib.state_keeper.store import DEFAULT_HISTORY_RETENTION, DynamoStateStore

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
                           subject_key(), state_reporter, sap_outbox())

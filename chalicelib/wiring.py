"""Builds the real dependencies (AWS clients, adapters) from configuration, lazily.

Nothing is created at import time, so a test's or the local runtime's emulator
(`AWS_ENDPOINT_URL`) is always in place first. Tests call `reset()` to drop what was built.
"""
from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.auth.tokens import TokenStore
from chalicelib.mail import SesMailer
from chalicelib.resources import Resources, current

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

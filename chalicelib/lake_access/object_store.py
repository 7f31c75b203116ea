"""The S3 objects the GDPR work reads and rewrites: a small port, S3 and in-memory.

Every adapter counts the requests it makes (`RequestCounts`), so a job's cost comes
from what it did, not from a guess. Reads can be ranged, so the local query engine
reads only the Parquet column chunks a query needs, as Athena does.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.lake_access.exceptions import ObjectChanged, ObjectMissing

# Headers that describe an object and must survive a rewrite unchanged.
_KEPT_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "StorageClass",
    "ServerSideEncryption",
    "SSEKMSKeyId",
)


@dataclass
class RequestCounts:
    """S3 requests made, by price class (GET-like and PUT-like), and bytes read."""

    get: int = 0
    put: int = 0
    list: int = 0
    delete: int = 0
    bytes_read: int = 0

    def add(self, other: RequestCounts) -> None:
        for name in ("get", "put", "list", "delete", "bytes_read"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {
            "get": self.get,
            "put": self.put,
            "list": self.list,
            "delete": self.delete,
            "bytes_read": self.bytes_read,
        }


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str = ""


@dataclass
class StoredObject:
    """An object's content and everything that describes it."""

    body: bytes
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # ContentType etc., as boto3 names them
    version_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    last_modified: str = ""  # ISO 8601, UTC

    @property
    def content_type(self) -> str:
        return self.headers.get("ContentType", "")


class ObjectStore(Protocol):
    counts: RequestCounts

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]: ...

    def get(self, bucket: str, key: str) -> StoredObject: ...

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes `start` to `end` (exclusive)."""

    def put(
        self, bucket: str, key: str, body: bytes, *, like: StoredObject | None = None, if_match: str | None = None
    ) -> str:
        """Write `body` with `like`'s metadata, headers and tags; returns the new ETag.

        With `if_match`, raise `ObjectChanged` unless the current ETag is that one.
        """

    def delete_version(self, bucket: str, key: str, version_id: str) -> None: ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object (its current version)."""


class S3ObjectStore:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.counts = RequestCounts()

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            self.counts.list += 1
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], item["Size"], item["ETag"].strip('"'), item["LastModified"].isoformat())

    def get(self, bucket: str, key: str) -> StoredObject:
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except self.client.exceptions.NoSuchKey as error:
            raise ObjectMissing(s3_uri(bucket, key)) from error
        body = response["Body"].read()
        self.counts.get += 1
        self.counts.bytes_read += len(body)
        tags: dict[str, str] = {}
        if response.get("TagCount"):
            self.counts.get += 1
            tag_set = self.client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            tags = {tag["Key"]: tag["Value"] for tag in tag_set}
        version = response.get("VersionId")
        return StoredObject(
            body=body,
            etag=response["ETag"].strip('"'),
            metadata=dict(response.get("Metadata", {})),
            headers={name: response[name] for name in _KEPT_HEADERS if response.get(name)},
            version_id=version if version and version != "null" else None,
            tags=tags,
            last_modified=response["LastModified"].astimezone(UTC).isoformat(),
        )

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        body = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()
        self.counts.get += 1
        self.counts.bytes_read += len(body)
        return body

    def put(
        self, bucket: str, key: str, body: bytes, *, like: StoredObject | None = None, if_match: str | None = None
    ) -> str:
        request: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body}
        if like is not None:
            request.update(like.headers)
            request["Metadata"] = like.metadata
            if like.tags:
                from urllib.parse import urlencode

                request["Tagging"] = urlencode(like.tags)
        if if_match is not None:
            request["IfMatch"] = f'"{if_match}"'
        try:
            response = self.client.put_object(**request)
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
            ):
                raise ObjectChanged(f"s3://{bucket}/{key} changed while it was rewritten") from error
            raise
        finally:
            self.counts.put += 1
        return str(response["ETag"]).strip('"')

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        self.counts.delete += 1

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)
        self.counts.delete += 1


class InMemoryObjectStore:
    """Buckets as dicts; versions kept like a versioned bucket when `versioned`."""

    def __init__(self, versioned: bool = False) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.old_versions: dict[tuple[str, str], list[StoredObject]] = {}
        self.versioned = versioned
        self.counts = RequestCounts()
        self._versions = itertools.count(1)
        self.fail_puts = False  # tests: make every PUT fail as S3 might

    def add(
        self,
        bucket: str,
        key: str,
        body: bytes,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> None:
        self.objects[(bucket, key)] = StoredObject(
            body=body,
            etag=hashlib.md5(body).hexdigest(),
            metadata=dict(metadata or {}),
            headers={"ContentType": content_type},
            version_id=str(next(self._versions)) if self.versioned else None,
            last_modified=_now(),
        )

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        self.counts.list += 1
        for (name, key), stored in sorted(self.objects.items()):
            if name == bucket and key.startswith(prefix):
                yield ObjectInfo(key, len(stored.body), stored.etag, stored.last_modified)

    def get(self, bucket: str, key: str) -> StoredObject:
        self.counts.get += 1
        if (bucket, key) not in self.objects:
            raise ObjectMissing(s3_uri(bucket, key))
        stored = self.objects[(bucket, key)]
        self.counts.bytes_read += len(stored.body)
        return StoredObject(
            stored.body,
            stored.etag,
            dict(stored.metadata),
            dict(stored.headers),
            stored.version_id,
            dict(stored.tags),
            stored.last_modified,
        )

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        self.counts.get += 1
        chunk = self.objects[(bucket, key)].body[start:end]
        self.counts.bytes_read += len(chunk)
        return chunk

    def put(
        self, bucket: str, key: str, body: bytes, *, like: StoredObject | None = None, if_match: str | None = None
    ) -> str:
        self.counts.put += 1
        if self.fail_puts:
            raise OSError("simulated S3 failure")
        current = self.objects.get((bucket, key))
        if if_match is not None and (current is None or current.etag != if_match):
            raise ObjectChanged(f"s3://{bucket}/{key} changed while it was rewritten")
        if current is not None and self.versioned:
            self.old_versions.setdefault((bucket, key), []).append(current)
        self.objects[(bucket, key)] = StoredObject(
            body=body,
            etag=hashlib.md5(body).hexdigest(),
            metadata=dict(like.metadata) if like else {},
            headers=dict(like.headers) if like else {},
            version_id=str(next(self._versions)) if self.versioned else None,
            tags=dict(like.tags) if like else {},
            last_modified=_now(),
        )
        return self.objects[(bucket, key)].etag

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        self.counts.delete += 1
        versions = self.old_versions.get((bucket, key), [])
        self.old_versions[(bucket, key)] = [v for v in versions if v.version_id != version_id]

    def delete(self, bucket: str, key: str) -> None:
        self.counts.delete += 1
        self.objects.pop((bucket, key), None)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` to (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key

"""Files pushed over HTTPS (`POST /ingest/{source}`) land in the raw bucket like any other.

The raw key carries the source, so the S3 event that follows knows it without guessing:
`incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}{ext}`. The file id is a hash of the content,
so a platform that posts the same file twice gets the same id and key back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from chalicelib.ingest.exceptions import UnsupportedUpload, UploadTooLarge

# API Gateway takes 10 MB, a synchronous Lambda invocation 6 MB; bigger files go to S3 directly.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024

EXTENSIONS = {
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "text/csv": ".csv",
    "text/tab-separated-values": ".txt",
    "text/plain": ".txt",
}
GZIP_TYPES = {"application/gzip", "application/x-gzip"}
UPLOAD_CONTENT_TYPES = [*EXTENSIONS, *GZIP_TYPES, "multipart/form-data"]


@dataclass(frozen=True)
class Upload:
    file_id: str
    key: str
    bytes: int


def file_id_for(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:20]


def raw_key(source: str, file_id: str, extension: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"incoming/{source}/{now:%Y/%m/%d}/{file_id}{extension}"


def file_id_from_key(key: str) -> str:
    """The file id of a raw key (its last path segment without extensions)."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def extension_for(content_type: str, filename: str | None, content: bytes) -> str:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if filename and "." in filename:
        return "." + filename.split(".", 1)[1].lower()
    if media_type in EXTENSIONS:
        return EXTENSIONS[media_type]
    if media_type in GZIP_TYPES or content[:2] == b"\x1f\x8b":
        raise UnsupportedUpload(
            "a gzip upload needs a file name that says what is inside, e.g. a multipart file part named orders.txt.gz"
        )
    raise UnsupportedUpload(f"unsupported content type {media_type!r}; use one of {', '.join(UPLOAD_CONTENT_TYPES)}")


def file_part(content_type: str, body: bytes) -> tuple[str | None, bytes]:
    """The first file of a multipart/form-data body: (filename, content)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        filename = part.get_filename()
        if filename is not None:
            payload = part.get_payload(decode=True)
            return filename, payload if isinstance(payload, bytes) else b""
    raise UnsupportedUpload("the multipart body has no file part")


def store_upload(
    source: str, content_type: str, body: bytes, bucket: str, s3: Any, now: datetime | None = None
) -> Upload:
    """Validate an upload and write it to the raw bucket; the S3 event takes it from there."""
    if len(body) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(
            f"uploads are limited to {MAX_UPLOAD_BYTES} bytes; put larger files into the raw bucket directly"
        )
    filename = None
    if content_type.lower().startswith("multipart/form-data"):
        filename, body = file_part(content_type, body)
    if not body:
        raise UnsupportedUpload("the upload is empty")
    file_id = file_id_for(body)
    key = raw_key(source, file_id, extension_for(content_type, filename, body), now)
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"source": source})
    return Upload(file_id=file_id, key=key, bytes=len(body))

"""Files pushed over HTTPS (`POST /ingest/{source}`) land in the raw bucket like any other.

The raw key carries the source, so the S3 event that follows knows it without guessing:
`incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}{ext}`. The file id is a hash of the content,
so a platform that posts the same file twice gets the same id and key back. The extension
(from a multipart file name or the content type) must be one the source's format reads,
so every stored key is one the splitter parses.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from chalicelib.ingest.exceptions import UnsupportedUpload, UploadTooLarge
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.formats import key_layout

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


def put_raw_file(s3: Any, bucket: str, source: str, body: bytes, extension: str, now: datetime | None = None) -> str:
    """Write a file of `source` to the raw bucket under its content's id; returns the key
    (the S3 event that follows splits it)."""
    key = raw_key(source, file_id_for(body), extension, now)
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"source": source})
    return key


def file_id_from_key(key: str) -> str:
    """The file id of a raw key (its last path segment without extensions)."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


# a plain file name: no path, no control characters, an extension of letters and digits
_FILE_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,255}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")


def extension_for(content_type: str, filename: str | None, content: bytes, readable: tuple[str, ...]) -> str:
    """The raw key's extension: from the file name, else the content type; one of `readable`
    (the source's extensions), optionally gzipped."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if filename is not None:
        layout = key_layout(filename)
        if not _FILE_NAME.match(filename) or filename.strip(". ") == "" or not _EXTENSION.match(layout.extension):
            raise UnsupportedUpload(
                "the file name must be a plain name with an extension, without path separators or control characters"
            )
        if layout.extension not in readable:
            raise UnsupportedUpload(f"this source reads .{', .'.join(readable)} files (optionally .gz)")
        return f".{layout.extension}" + (".gz" if layout.compressed else "")
    if media_type in EXTENSIONS:
        # the content type tells the encoding, the source its layout (JSON Lines posted as JSON)
        extension = EXTENSIONS[media_type]
        return extension if extension[1:] in readable else f".{readable[0]}"
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
    readable = connector_for(source).file_format.extensions
    key = put_raw_file(s3, bucket, source, body, extension_for(content_type, filename, body, readable), now)
    return Upload(file_id=file_id_from_key(key), key=key, bytes=len(body))

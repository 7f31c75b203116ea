"""Uploads are checked at the edge and land under a key that names their source."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.ingest.exceptions import UnsupportedUpload, UploadTooLarge
from chalicelib.ingest.uploads import MAX_UPLOAD_BYTES, file_id_from_key, store_upload

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def put_object(self, **request: Any) -> None:
        self.objects[request["Key"]] = request


def test_a_json_upload_lands_under_its_source_and_day() -> None:
    s3 = RecordingS3()
    upload = store_upload("eventbrite", "application/json", b'{"attendees": []}', "raw", s3, NOW)
    assert upload.key == f"incoming/eventbrite/2026/11/28/{upload.file_id}.json"
    assert file_id_from_key(upload.key) == upload.file_id
    assert s3.objects[upload.key]["Metadata"] == {"source": "eventbrite"}


def test_the_same_content_gets_the_same_file_id() -> None:
    first = store_upload("canonical", "application/x-ndjson", b"{}\n", "raw", RecordingS3(), NOW)
    second = store_upload("canonical", "application/x-ndjson", b"{}\n", "raw", RecordingS3(), NOW)
    assert first.file_id == second.file_id


def test_a_multipart_file_keeps_the_extensions_of_its_file_name() -> None:
    content = gzip.compress(b"amazon-order-id\tpurchase-date\n")
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="orders.txt.gz"\r\n'
        b"Content-Type: application/gzip\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )
    s3 = RecordingS3()
    upload = store_upload("amazon_orders", "multipart/form-data; boundary=XyZ", body, "raw", s3, NOW)
    assert upload.key.endswith(".txt.gz")
    assert s3.objects[upload.key]["Body"] == content


def test_a_bare_gzip_upload_is_refused_because_its_format_is_unknown() -> None:
    with pytest.raises(UnsupportedUpload, match="file name"):
        store_upload("canonical", "application/gzip", gzip.compress(b"{}"), "raw", RecordingS3(), NOW)


@pytest.mark.parametrize(
    "content_type, body, error",
    [
        ("application/json", b"", UnsupportedUpload),
        ("image/png", b"\x89PNG", UnsupportedUpload),
        ("multipart/form-data; boundary=XyZ", b"--XyZ--\r\n", UnsupportedUpload),
        ("application/json", b"x" * (MAX_UPLOAD_BYTES + 1), UploadTooLarge),
    ],
)
def test_it_refuses_uploads_it_cannot_take(content_type: str, body: bytes, error: type) -> None:
    with pytest.raises(error):
        store_upload("canonical", content_type, body, "raw", RecordingS3(), NOW)

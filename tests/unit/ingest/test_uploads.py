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


def multipart(filename: str, content: bytes) -> bytes:
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + filename.encode() + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )


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


@pytest.mark.parametrize(
    "filename",
    ["x.csv/0123456789abcdef0123", "../orders.txt", "orders", "orders.", "orders.t xt"],
)
def test_a_file_name_the_splitter_could_not_parse_is_refused(filename: str) -> None:
    # GIVEN a multipart upload whose file name is not a plain name with an extension
    body = multipart(filename, b"amazon-order-id\tsku\n1\tTKT-1\n")
    # WHEN it is stored THEN it is refused before anything is written
    s3 = RecordingS3()
    with pytest.raises(UnsupportedUpload):
        store_upload("amazon_orders", "multipart/form-data; boundary=XyZ", body, "raw", s3, NOW)
    assert s3.objects == {}


def test_a_file_name_of_another_format_than_the_source_reads_is_refused() -> None:
    s3 = RecordingS3()
    with pytest.raises(UnsupportedUpload, match=r"\.txt"):
        store_upload("amazon_orders", "multipart/form-data; boundary=XyZ", multipart("o.csv", b"a,b\n"), "raw", s3, NOW)
    assert s3.objects == {}


def test_a_gzipped_file_name_keeps_its_gz() -> None:
    upload = store_upload(
        "amazon_orders",
        "multipart/form-data; boundary=XyZ",
        multipart("Orders.TXT.gz", b"x"),
        "raw",
        RecordingS3(),
        NOW,
    )
    assert upload.key.endswith(".txt.gz")

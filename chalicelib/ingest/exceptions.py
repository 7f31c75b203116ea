from __future__ import annotations


class IngestError(Exception):
    """Base of the ingest package's errors."""


class UnsupportedUpload(IngestError):
    """An upload the engine cannot take: wrong content type, empty, or no file part."""


class UploadTooLarge(IngestError):
    """An upload over the size limit."""


class UnknownFile(IngestError):
    """No file of that id was split (nothing to reprocess)."""

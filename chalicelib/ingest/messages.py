"""The bodies of messages on the normalize queue, and a file's recorded outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ChunkRecord(BaseModel):
    position: int
    source_record_id: str | None = None
    data: dict[str, Any]


class ChunkMessage(BaseModel):
    """Many raw records of one file: one SQS message, so one request for many records."""

    file_id: str
    raw_key: str
    source: str
    chunk: int
    ingested_at: datetime
    records: list[ChunkRecord]
    mapping_version: int | None = None  # a declared source: the mapping version the file is read with

    @property
    def chunk_id(self) -> str:
        return f"{self.file_id}-{self.chunk:05d}"


MISSING_COLUMNS = "MISSING_COLUMNS"  # a delimited file's header lacks columns its connector needs


class Problem(BaseModel):
    code: str
    message: str
    position: int | None = None
    columns: list[str] | None = None  # MISSING_COLUMNS: the connector's column names the header lacks


class FileOutcome(BaseModel):
    """What splitting one raw file found. Holds no record content."""

    file_id: str
    raw_key: str
    source: str | None
    records: int = 0
    chunks: int = 0
    problems: list[Problem] = Field(default_factory=list)
    problems_total: int = 0
    started_at: datetime
    finished_at: datetime | None = None
    mapping_version: int | None = None  # a declared source: the mapping version it was split with

"""Helpers for the normalize tests: read a sample or bytes, normalize everything in it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.normalize.normalizer import normalize
from chalicelib.normalize.schema import NormalizedRecord, Rejected
from chalicelib.normalize.sources import connector_for
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem, RawRecord, ReadLimits

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
INGESTED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SUBJECT_KEY = b"unit-test-subject-key-32-bytes!!"


@dataclass
class FileResult:
    records: list[RawRecord] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    valid: list[NormalizedRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def problem_codes(self) -> list[str]:
        return [p.code for p in self.problems]


def raw_key(source: str, name: str) -> str:
    return f"incoming/{source}/2026/11/28/{name}"


def run(source: str, content: bytes, name: str, limits: ReadLimits | None = None) -> FileResult:
    key = raw_key(source, name)
    result = FileResult()
    connector = connector_for(source)
    items = read_file(io.BytesIO(content), key, connector.file_format, limits or DEFAULT_LIMITS, connector.record_id)
    for item in items:
        if isinstance(item, FileProblem):
            result.problems.append(item)
            continue
        result.records.append(item)
        outcome = normalize(source, item, key, INGESTED_AT, SUBJECT_KEY)
        (result.rejected if isinstance(outcome, Rejected) else result.valid).append(outcome)
    return result


def run_sample(source: str, name: str) -> FileResult:
    path = SAMPLES / source / name
    return run(source, path.read_bytes(), "f0000000001" + "".join(path.suffixes))


@pytest.fixture
def by_record_id():
    def index(result: FileResult) -> dict[str, NormalizedRecord]:
        return {r.lineage.source_record_id: r for r in result.valid}

    return index

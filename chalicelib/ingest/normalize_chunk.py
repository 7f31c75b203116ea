"""Normalize the chunks on the normalize queue: lake, quarantine, SAP queue, State Keeper.

For each chunk message (an invocation's chunks are normalized one by one, their valid
records sent to SAP's queue in one outbox send, so a dispatch message carries many
records rather than one chunk's share of each subject shard):
- every record is normalized (`chalicelib.normalize.normalize`);
- valid records are written to the lake as one Parquet object per (source, event date)
  partition, keyed by the chunk id, so a chunk processed twice overwrites its own objects;
  the same version twice in a chunk (the same record id repeated in a file) is one row,
  and distinct versions of one record are rows of one document (`normalize/versions.py`);
- rejected records go, in their raw form, to the quarantine bucket (one JSON Lines object
  per chunk, keyed by the chunk id), with a sidecar of reason codes that holds no values
  (under `reasons/`, so erasure only reads `quarantine/`);
- valid records are handed to the SAP outbox (the dispatch FIFO queue);
- the State Keeper hears, for every record in one message, RECEIVED (at the file's arrival),
  NORMALIZED or INVALID (with the first reason code and up to 10 (field, code) pairs,
  never a value), and QUEUED_FOR_SAP (or NOT_FOR_SAP with the outbox's reason, e.g. an
  order without a contact): one document write for all.

Before anything is written, the chunk's distinct subjects are looked up in the erasure
tombstones (`chalicelib/subjects/tombstones.py`, one BatchGetItem per 100 subjects).
A record of an erased subject whose interaction happened at or before the erasure (a late
chunk, a DLQ replay, an old file sent again) writes nothing anywhere — not the lake, not
the outbox, and not quarantine either, since its raw form is the personal data that was
erased — and the State Keeper hears RECEIVED, then ERASED with `SUBJECT_ERASED`. A
rejected record counts as the subject of the email its connector finds (the rule the
erasure's quarantine rewrite uses) and as covered when its time cannot be read.

A chunk that fails (S3 or SQS unavailable) is reported as a batch item failure: SQS
brings it back, and after the queue's maxReceiveCount it lands in the normalize DLQ,
watched by `dlq_watch`. Every step is idempotent, so a retry never duplicates anything.
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow.parquet as pq
from pydantic import ValidationError

from chalicelib import observability
from chalicelib.ingest.messages import ChunkMessage
from chalicelib.normalize import field_normalizers
from chalicelib.normalize.lake import lake_objects
from chalicelib.normalize.normalizer import normalize, raw_document_id
from chalicelib.normalize.schema import NormalizedRecord, Rejected
from chalicelib.normalize.sources import connector_for
from chalicelib.normalize.subject_ids import normalized_email
from chalicelib.normalize.versions import distinct_versions, version_at, version_id
from chalicelib.raw_files.records import RawRecord
from chalicelib.state_keeper.lifecycle import State, StateChange, field_reasons
from chalicelib.subjects.pseudonyms import subject_id
from chalicelib.subjects.tombstones import SUBJECT_ERASED, Tombstones, covered

log = logging.getLogger(__name__)

COMPONENT = "normalize"
QUARANTINE_PREFIX = "quarantine/"  # raw records: personal data, erased on request
REASONS_PREFIX = "reasons/"  # reason codes and document ids only


class Outbox(Protocol):
    """Where valid records go next (the SAP dispatch queue)."""

    def send(self, records: list[NormalizedRecord]) -> Any: ...


@dataclass
class ChunkResult:
    chunk_id: str
    valid: int = 0
    invalid: int = 0
    queued: int = 0
    erased: int = 0  # records of erased subjects, dropped
    lake_keys: list[str] = field(default_factory=list)
    quarantine_key: str | None = None


@dataclass
class _Prepared:
    """A chunk normalized and written to the lake and quarantine, its states not yet reported."""

    message: ChunkMessage
    result: ChunkResult
    valid: list[NormalizedRecord]
    rejected: list[tuple[Rejected, dict[str, Any]]]
    erased: list[str]
    normalized_at: datetime


@dataclass
class _Queued:
    """What the outbox made of one chunk's valid records: queued, or not for SAP and why."""

    at: datetime
    queued: list[str] = field(default_factory=list)
    unsendable: dict[str, str] = field(default_factory=dict)


def quarantine_key(message: ChunkMessage) -> str:
    """`quarantine/{source}/{file_id}/{chunk_id}.jsonl`: the rejected raw records of a chunk."""
    return f"{QUARANTINE_PREFIX}{message.source}/{message.file_id}/{message.chunk_id}.jsonl"


def reasons_key(message: ChunkMessage) -> str:
    """`reasons/{source}/{file_id}/{chunk_id}.json`: why, by position; no record values."""
    return f"{REASONS_PREFIX}{message.source}/{message.file_id}/{message.chunk_id}.json"


def parquet_bytes(table: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def utc_now() -> datetime:
    return datetime.now(UTC)


def rejected_subject(source: str, data: Any, key: bytes) -> tuple[str | None, datetime | None]:
    """The subject and interaction time of a rejected raw record, as far as they can be read.

    The subject is the erasure's rule for raw records (the connector's email, normalized
    and keyed); None when there is no valid email. The time is None when unreadable.
    """
    try:
        connector = connector_for(source)
        draft = connector.draft(dict(data))
    except Exception:  # noqa: BLE001 - an odd record has no subject, as at erasure
        return None, None
    email = normalized_email(draft.email) if draft.email not in (None, "") else None
    if email is None:
        return None, None
    try:
        occurred_at = field_normalizers.instant(draft.occurred_at, connector.datetime_formats, connector.local_timezone)
    except Exception:  # noqa: BLE001 - an unreadable time cannot prove the record is newer
        occurred_at = None
    return subject_id(email, key), occurred_at


class ChunkNormalizer:
    def __init__(
        self,
        s3: Any,
        lake_bucket: str,
        quarantine_bucket: str,
        subject_key: bytes,
        reporter: Callable[[], Any],
        outbox: Outbox,
        tombstones: Tombstones,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.s3 = s3
        self.lake_bucket = lake_bucket
        self.quarantine_bucket = quarantine_bucket
        self.subject_key = subject_key
        self.reporter = reporter
        self.outbox = outbox
        self.tombstones = tombstones
        self.clock = clock

    def handle(self, sqs_records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        """The SQS handler's work: each chunk on its own, their valid records sent to SAP's
        queue together (`_send_together`); failed chunks come back."""
        failures: list[dict[str, str]] = []
        prepared: list[tuple[str, _Prepared]] = []
        for record in sqs_records:
            try:
                message = ChunkMessage.model_validate_json(record["body"])
            except ValidationError as error:
                # Not ours: retrying cannot help, the redrive policy parks it in the DLQ.
                log.error("message %s is not a chunk message (%d errors)", record["messageId"], error.error_count())
                failures.append({"itemIdentifier": record["messageId"]})
                continue
            with self._correlated(message):
                try:
                    prepared.append((record["messageId"], self._prepare(message)))
                except Exception as error:  # noqa: BLE001 - one message fails alone, the batch carries on
                    self._failed(message, error)
                    failures.append({"itemIdentifier": record["messageId"]})
        try:
            sent = self._send_together([chunk for _, chunk in prepared])
        except Exception as error:  # noqa: BLE001 - SAP's queue unavailable: every chunk of the send comes back
            for message_id, chunk in prepared:
                with self._correlated(chunk.message):
                    self._failed(chunk.message, error)
                failures.append({"itemIdentifier": message_id})
            return {"batchItemFailures": failures}
        for (message_id, chunk), outbox_result in zip(prepared, sent):
            with self._correlated(chunk.message):
                try:
                    result = self._report(chunk, outbox_result)
                except Exception as error:  # noqa: BLE001 - one message fails alone, the batch carries on
                    self._failed(chunk.message, error)
                    failures.append({"itemIdentifier": message_id})
                    continue
                observability.count("ChunksNormalized", source=chunk.message.source)
                log.info(
                    "chunk %s: %d valid, %d invalid, %d queued for SAP, %d of erased subjects",
                    chunk.message.chunk_id,
                    result.valid,
                    result.invalid,
                    result.queued,
                    result.erased,
                )
        return {"batchItemFailures": failures}

    def normalize_chunk(self, message: ChunkMessage) -> ChunkResult:
        """One chunk alone: lake, quarantine, SAP's queue, State Keeper."""
        chunk = self._prepare(message)
        (outbox_result,) = self._send_together([chunk])
        return self._report(chunk, outbox_result)

    @staticmethod
    def _correlated(message: ChunkMessage) -> Any:
        return observability.correlated(
            correlation_id=message.chunk_id, chunk_id=message.chunk_id, file_id=message.file_id
        )

    @staticmethod
    def _failed(message: ChunkMessage, error: Exception) -> None:
        # where it failed, not the message: an exception may quote a personal value
        log.error(
            "chunk %s failed with %s; SQS will bring it back\n%s",
            message.chunk_id,
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        observability.count("ChunksFailed", source=message.source)

    def _prepare(self, message: ChunkMessage) -> _Prepared:
        """Normalize a chunk and write its lake objects and quarantine; nothing queued or reported yet."""
        result = ChunkResult(chunk_id=message.chunk_id)
        valid: list[NormalizedRecord] = []
        rejected: list[tuple[Rejected, dict[str, Any]]] = []
        for item in message.records:
            raw = RawRecord(item.position, item.source_record_id, item.data)
            outcome = normalize(
                message.source, raw, message.raw_key, message.ingested_at, self.subject_key, message.mapping_version
            )
            if isinstance(outcome, NormalizedRecord):
                valid.append(outcome)
            else:
                rejected.append((outcome, item.data))
        valid, rejected, erased = self._drop_erased(message, distinct_versions(valid), rejected)
        result.valid, result.invalid, result.erased = len(valid), len(rejected), len(erased)

        for lake_object in lake_objects(valid, message.chunk_id):
            self.s3.put_object(
                Bucket=self.lake_bucket,
                Key=lake_object.key,
                Body=parquet_bytes(lake_object.table),
                Metadata={"chunk-id": message.chunk_id},
            )
            result.lake_keys.append(lake_object.key)
        if rejected:
            result.quarantine_key = self._quarantine(message, rejected)
        return _Prepared(message, result, valid, rejected, erased, normalized_at=self.clock())

    def _send_together(self, chunks: list[_Prepared]) -> list[_Queued]:
        """One outbox send for the valid records of all `chunks` (so SAP's messages carry many
        records, not a chunk's share of each subject shard), then what each chunk's share became.

        Stamped before the send: a dispatcher may deliver the first records while the rest are
        still being sent, and its DELIVERED must come after QUEUED_FOR_SAP."""
        queued_at = self.clock()
        records = [record for chunk in chunks for record in chunk.valid]
        if not records:
            return [_Queued(queued_at) for _ in chunks]
        sent = self.outbox.send(records)
        queued = set(sent.queued)
        return [
            _Queued(
                queued_at,
                [r.document_id for r in chunk.valid if r.document_id in queued],
                {
                    r.document_id: sent.unsendable[r.document_id]
                    for r in chunk.valid
                    if r.document_id in sent.unsendable
                },
            )
            for chunk in chunks
        ]

    def _report(self, chunk: _Prepared, sent: _Queued) -> ChunkResult:
        """The State Keeper hears every record's states of the chunk, in one reporter flush."""
        message, result = chunk.message, chunk.result
        normalized_at = chunk.normalized_at
        with self.reporter() as reporter:
            for item in message.records:
                raw = RawRecord(item.position, item.source_record_id, item.data)
                reporter.report(
                    self._change(
                        message,
                        raw_document_id(message.source, raw, message.raw_key),
                        State.RECEIVED,
                        message.ingested_at,
                    )
                )
            for record in chunk.valid:
                reporter.report(
                    self._change(
                        message,
                        record.document_id,
                        State.NORMALIZED,
                        normalized_at,
                        subject_id=record.subject_id,
                        version=record,
                    )
                )
            for outcome, _ in chunk.rejected:
                reporter.report(
                    self._change(
                        message,
                        outcome.document_id,
                        State.INVALID,
                        normalized_at,
                        reason_code=outcome.reasons[0].code.upper() if outcome.reasons else None,
                        reasons=field_reasons((r.field, r.code) for r in outcome.reasons) or None,
                    )
                )
            for document_id in chunk.erased:  # no subject: the erasure removed the link, nothing puts it back
                reporter.report(
                    self._change(message, document_id, State.ERASED, normalized_at, reason_code=SUBJECT_ERASED)
                )
            subjects = {record.document_id: record.subject_id for record in chunk.valid}
            for document_id in dict.fromkeys(sent.queued):
                reporter.report(
                    self._change(message, document_id, State.QUEUED_FOR_SAP, sent.at, subject_id=subjects[document_id])
                )
            for document_id, reason_code in sent.unsendable.items():
                reporter.report(self._change(message, document_id, State.NOT_FOR_SAP, sent.at, reason_code=reason_code))
        result.queued = len(set(sent.queued))
        return result

    def _drop_erased(
        self,
        message: ChunkMessage,
        valid: list[NormalizedRecord],
        rejected: list[tuple[Rejected, dict[str, Any]]],
    ) -> tuple[list[NormalizedRecord], list[tuple[Rejected, dict[str, Any]]], list[str]]:
        """The records to keep, and the document ids of those a tombstone covers."""
        of_rejected = [
            rejected_subject(message.source, data, self.subject_key) if isinstance(data, dict) else (None, None)
            for _, data in rejected
        ]
        subjects = {r.subject_id for r in valid if r.subject_id} | {s for s, _ in of_rejected if s}
        if not subjects:
            return valid, rejected, []
        erased_at = self.tombstones.erased_at(subjects)
        if not erased_at:
            return valid, rejected, []
        kept_valid, kept_rejected, erased = [], [], []
        for record in valid:
            if record.subject_id in erased_at and covered(record.interaction.occurred_at, erased_at[record.subject_id]):
                erased.append(record.document_id)
            else:
                kept_valid.append(record)
        for (outcome, data), (subject, occurred_at) in zip(rejected, of_rejected):
            if subject in erased_at and covered(occurred_at, erased_at[subject]):
                erased.append(outcome.document_id)
            else:
                kept_rejected.append((outcome, data))
        if erased:
            log.info("chunk %s: %d records of erased subjects dropped", message.chunk_id, len(erased))
        return kept_valid, kept_rejected, erased

    def _quarantine(self, message: ChunkMessage, rejected: list[tuple[Rejected, dict[str, Any]]]) -> str:
        key = quarantine_key(message)
        lines = "".join(
            json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n" for _, data in rejected
        )
        self.s3.put_object(
            Bucket=self.quarantine_bucket,
            Key=key,
            Body=lines.encode("utf-8"),
            ContentType="application/x-ndjson",
            Metadata={"source": message.source, "chunk-id": message.chunk_id},
        )
        reasons = [
            {
                "document_id": outcome.document_id,
                "position": outcome.position,
                "reasons": [reason.model_dump() for reason in outcome.reasons],
            }
            for outcome, _ in rejected
        ]
        self.s3.put_object(
            Bucket=self.quarantine_bucket,
            Key=reasons_key(message),
            Body=json.dumps({"source": message.source, "raw_key": message.raw_key, "records": reasons}).encode("utf-8"),
            ContentType="application/json",
        )
        return key

    @staticmethod
    def _change(
        message: ChunkMessage,
        document_id: str,
        state: State,
        at: datetime,
        *,
        subject_id: str | None = None,
        reason_code: str | None = None,
        reasons: tuple[tuple[str, str], ...] | None = None,
        version: NormalizedRecord | None = None,
    ) -> StateChange:
        return StateChange(
            document_id=document_id,
            state=state,
            at=at,
            component=COMPONENT,
            reason_code=reason_code,
            reasons=reasons,
            file_id=message.file_id,
            chunk_id=message.chunk_id,
            source=message.source,
            subject_id=subject_id,
            version_id=version_id(version) if version is not None else None,
            version_at=version_at(version) if version is not None else None,
            interaction=version.interaction.type.value if version is not None else None,
        )

"""Split one raw file into chunk messages on the normalize queue.

The file is read as a stream (gzip too) and cut into chunks of up to 1,000 records or
200 KiB, so memory stays constant whatever the file size. Each chunk is one SQS message,
and the file's outcome (records, chunks, file problems) is recorded. The normalizer
reports the records RECEIVED (at the file's arrival time) together with their next state,
so the State Keeper writes each document once per step, not once more here. A file problem
(not UTF-8, truncated, a record over the size limit ...) is counted and kept in the
outcome; the file's valid records carry on. A delimited file whose header lacks columns its
connector needs (`required_columns`) is a mapping problem of the file, `MISSING_COLUMNS`,
kept first and naming the columns; its records are still normalized and rejected one by one.

A file is split once: its id is a hash of its content, and a file whose outcome is
recorded is not split again. Splitting is also deterministic (the ingest time is the raw
object's LastModified), so a split that died half-way and runs again produces the same
chunks, document ids and lake objects, never a second copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.ingest.exceptions import UnknownFile
from chalicelib.ingest.file_outcomes import FileOutcomeStore
from chalicelib.ingest.messages import MISSING_COLUMNS, ChunkMessage, ChunkRecord, FileOutcome, Problem
from chalicelib.ingest.uploads import file_id_from_key
from chalicelib.normalize.chunking import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, chunks
from chalicelib.normalize.connectors.base import Connector
from chalicelib.normalize.exceptions import MalformedRawKey, UnknownSource
from chalicelib.normalize.mappings import MappedConnector
from chalicelib.normalize.sources import connector_for, source_from_key
from chalicelib.queues import send_batches
from chalicelib.raw_files.reader import read_file
from chalicelib.raw_files.records import DEFAULT_LIMITS, FileProblem, RawRecord, ReadLimits
from chalicelib.raw_files.splitter import Facts

log = logging.getLogger(__name__)

MAX_PROBLEMS_KEPT = 100  # the outcome keeps the first problems and counts all of them
SQS_BATCH = 10


def utc_now() -> datetime:
    return datetime.now(UTC)


class FileSplitter:
    def __init__(
        self,
        s3: Any,
        sqs: Any,
        normalize_queue_url: str,
        outcomes: FileOutcomeStore,
        limits: ReadLimits = DEFAULT_LIMITS,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.s3 = s3
        self.sqs = sqs
        self.normalize_queue_url = normalize_queue_url
        self.outcomes = outcomes
        self.limits = limits
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.clock = clock

    def split_before(self, file_id: str) -> FileOutcome:
        """The outcome of a file split before; `UnknownFile` if there is none."""
        done = self.outcomes.get(file_id)
        if done is None:
            raise UnknownFile(f"no file {file_id!r} was split")
        return done

    @staticmethod
    def read_with_current_mapping(done: FileOutcome) -> bool:
        """Whether a file was split with its source's mapping as it is now (nothing to reprocess)."""
        if done.source is None or done.mapping_version is None or done.finished_at is None:
            return False
        current = connector_for(done.source)
        return isinstance(current, MappedConnector) and current.mapping.version == done.mapping_version

    def reprocess(self, bucket: str, file_id: str) -> FileOutcome:
        """Split a file again from the raw bucket, e.g. after its source's mapping was fixed:
        its documents get a new attempt (same document ids, same lake keys, SAP exactly once).
        A file already read with its source's current mapping is left as it is."""
        done = self.split_before(file_id)
        if self.read_with_current_mapping(done):
            return done
        return self.split_file(bucket, done.raw_key, again=True)

    def split_file(self, bucket: str, key: str, again: bool = False) -> FileOutcome:
        file_id = file_id_from_key(key)
        done = None if again else self.outcomes.get(file_id)
        if done is not None and done.finished_at is not None:
            # Split before: a re-delivered S3 event, the same content posted again, or the
            # raw object rewritten in place by GDPR erasure or anonymization (which must
            # not bring the erased or anonymized records back into the lake).
            log.info("file %s was split before; not again", file_id)
            return done
        outcome = FileOutcome(file_id=file_id, raw_key=key, source=None, started_at=self.clock())
        try:
            outcome.source = source_from_key(key)
        except (MalformedRawKey, UnknownSource) as error:
            code = "UNKNOWN_SOURCE" if isinstance(error, UnknownSource) else "MALFORMED_KEY"
            self._problem(outcome, Problem(code=code, message=str(error)))
            return self._finish(outcome)
        raw_object = self.s3.get_object(Bucket=bucket, Key=key)
        ingested_at = raw_object["LastModified"].astimezone(UTC)
        connector = connector_for(outcome.source)
        if isinstance(connector, MappedConnector):
            outcome.mapping_version = connector.mapping.version
        facts = Facts()
        items = read_file(raw_object["Body"], key, connector.file_format, self.limits, connector.record_id, facts)
        pending: list[ChunkMessage] = []
        for number, records in enumerate(chunks(self._records(items, outcome), self.max_records, self.max_bytes)):
            pending.append(
                ChunkMessage(
                    file_id=outcome.file_id,
                    raw_key=key,
                    source=outcome.source,
                    chunk=number,
                    ingested_at=ingested_at,
                    records=records,
                    mapping_version=outcome.mapping_version,
                )
            )
            outcome.chunks += 1
            if len(pending) == SQS_BATCH:
                self._send(pending)
                pending = []
        if pending:
            self._send(pending)
        self._check_header(outcome, connector, facts)
        log.info(
            "file %s split: %d records in %d chunks, %d problems",
            outcome.file_id,
            outcome.records,
            outcome.chunks,
            outcome.problems_total,
        )
        return self._finish(outcome)

    def _records(self, items: Iterable[RawRecord | FileProblem], outcome: FileOutcome) -> Iterator[ChunkRecord]:
        for item in items:
            if isinstance(item, FileProblem):
                self._problem(outcome, Problem(code=str(item.code), message=item.message, position=item.position))
                continue
            outcome.records += 1
            yield ChunkRecord(position=item.position, source_record_id=item.source_record_id, data=item.data)

    def _check_header(self, outcome: FileOutcome, connector: Connector, facts: Facts) -> None:
        """The columns the connector needs that the header lacks, as the file's first problem."""
        if facts.layout != "delimited" or not facts.header:
            return
        missing = connector.missing_columns(facts.header)
        if not missing:
            return
        problem = Problem(
            code=MISSING_COLUMNS,
            message=f"the header lacks columns {connector.name} needs: {', '.join(missing)}",
            position=1,
            columns=missing,
        )
        outcome.problems_total += 1
        outcome.problems = [problem, *outcome.problems][:MAX_PROBLEMS_KEPT]

    def _send(self, messages: list[ChunkMessage]) -> None:
        bodies = [message.model_dump_json() for message in messages]
        for batch in send_batches(bodies, str):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(batch)]
            for attempt in range(5):
                response = self.sqs.send_message_batch(QueueUrl=self.normalize_queue_url, Entries=entries)
                failed = {failure["Id"] for failure in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
                log.warning("normalize queue refused %d chunk messages (attempt %d)", len(entries), attempt + 1)
            else:
                raise RuntimeError(f"{len(entries)} chunk messages could not be queued")

    def _problem(self, outcome: FileOutcome, problem: Problem) -> None:
        outcome.problems_total += 1
        if len(outcome.problems) < MAX_PROBLEMS_KEPT:
            outcome.problems.append(problem)

    def _finish(self, outcome: FileOutcome) -> FileOutcome:
        outcome.finished_at = self.clock()
        self.outcomes.put(outcome)
        return outcome

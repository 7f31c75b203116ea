"""A stand-in for the SAP outbox in ingest tests: it keeps what it is given and queues all of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.normalize.schema import NormalizedRecord


@dataclass
class Sent:
    queued: list[str]
    unsendable: dict[str, str] = field(default_factory=dict)


class RecordingOutbox:
    def __init__(self) -> None:
        self.records: list[NormalizedRecord] = []

    def send(self, records: list[NormalizedRecord]) -> Sent:
        self.records.extend(records)
        return Sent(queued=[record.document_id for record in records])

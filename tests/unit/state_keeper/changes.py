"""Builders of state changes for the State Keeper's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.state_keeper.lifecycle import State, StateChange

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def change(document_id: str = "doc-1", state: State = State.RECEIVED, seconds: float = 0, **fields: Any) -> StateChange:
    values: dict[str, Any] = {
        "component": "normalize",
        "source": "eventbrite",
        "file_id": "file-1",
        "chunk_id": "file-1-00001",
    }
    values.update(fields)
    return StateChange(document_id=document_id, state=state, at=T0 + timedelta(seconds=seconds), **values)


def normal_lifecycle(document_id: str, start: float = 0, subject_id: str | None = "subj-1") -> list[StateChange]:
    """RECEIVED → NORMALIZED → QUEUED_FOR_SAP (one normalize run), then DELIVERED."""
    return [
        change(document_id, State.RECEIVED, start, subject_id=subject_id),
        change(document_id, State.NORMALIZED, start + 0.2, subject_id=subject_id),
        change(document_id, State.QUEUED_FOR_SAP, start + 0.3),
        change(
            document_id, State.DELIVERED, start + 60, component="sap-dispatch", chunk_id=None, sap_batch_id="batch-1"
        ),
    ]

"""Where each raw file's outcome (records found, chunks, file problems) is kept.

One item per file in the State Keeper table, next to the file's document pages:
`pk = outcome#{file_id}`, `sk = outcome`. It holds counts and problem codes, never
record content. `GET /files/{id}` joins it with the documents' current states (`file_view`).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.ingest.messages import MISSING_COLUMNS, FileOutcome


def _key(file_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"outcome#{file_id}"}, "sk": {"S": "outcome"}}


class FileOutcomeStore:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self.table_name = table_name
        self.dynamodb = dynamodb

    def put(self, outcome: FileOutcome) -> None:
        item = {**_key(outcome.file_id), "outcome": {"S": outcome.model_dump_json()}}
        self.dynamodb.put_item(TableName=self.table_name, Item=item)

    def get(self, file_id: str) -> FileOutcome | None:
        item = self.dynamodb.get_item(TableName=self.table_name, Key=_key(file_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return FileOutcome.model_validate(json.loads(item["outcome"]["S"]))


class InMemoryFileOutcomeStore:
    def __init__(self) -> None:
        self.outcomes: dict[str, FileOutcome] = {}

    def put(self, outcome: FileOutcome) -> None:
        self.outcomes[outcome.file_id] = outcome

    def get(self, file_id: str) -> FileOutcome | None:
        return self.outcomes.get(file_id)


def file_view(states: dict[str, Any], outcome: FileOutcome | None) -> dict[str, Any]:
    """`GET /files/{id}`: the documents' states and rejections, the split's outcome, and a
    summary that names the missing columns when the header lacks some."""
    split = outcome.model_dump(mode="json", exclude={"file_id"}) if outcome else None
    missing = [c for p in (outcome.problems if outcome else []) if p.code == MISSING_COLUMNS for c in p.columns or []]
    summary = states.get("summary")
    if missing:
        lacks = f"the header lacks {', '.join(missing)}"
        summary = f"{summary}; {lacks}" if summary else lacks
    return {**states, "summary": summary, "split": split}

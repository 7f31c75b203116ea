"""The State Keeper's side of erasure: unlink documents from the erased subjects.

The State Keeper holds no personal data but the pseudonymous subject id on each document
item (and, through it, the `by_subject` index). Forgetting a subject removes that
attribute from each of its documents, so the index entry goes too, and reports the
documents ERASED (an end-of-life state: a late report never brings them back). The
update bumps the item's version `v`, so a State Keeper write that read the item before it
fails its condition, re-reads, and cannot put the subject back.

`count` asks the index, then confirms every hit with a consistent read of the document:
the index is eventually consistent, the document is not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.state_keeper.table_layout import SUBJECT_ATTRIBUTE, SUBJECT_INDEX, document_id_of, document_key

COMPONENT = "gdpr-erasure"


class SubjectLinks:
    def __init__(self, table_name: str, reporter: Callable[[], Any], client: Any, component: str = COMPONENT) -> None:
        self.table_name = table_name
        self.reporter = reporter  # a new StateReporter (context manager) per use
        self.client = client
        self.component = component

    def _documents(self, subject_id: str) -> list[str]:
        documents: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": SUBJECT_INDEX,
            "KeyConditionExpression": "#subject = :subject",
            "ExpressionAttributeNames": {"#subject": SUBJECT_ATTRIBUTE},
            "ExpressionAttributeValues": {":subject": {"S": subject_id}},
        }
        while True:
            page = self.client.query(**kwargs)
            documents += [document_id_of(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return documents
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _still_linked(self, document_id: str, subject_id: str) -> bool:
        item = self.client.get_item(
            TableName=self.table_name,
            Key=document_key(document_id),
            ConsistentRead=True,
            ProjectionExpression="#subject",
            ExpressionAttributeNames={"#subject": SUBJECT_ATTRIBUTE},
        ).get("Item")
        return bool(item) and item.get(SUBJECT_ATTRIBUTE, {}).get("S") == subject_id

    def forget(self, subject_ids: Collection[str]) -> dict[str, int]:
        forgotten: dict[str, int] = {}
        now = datetime.now(UTC)
        with self.reporter() as reporter:
            for subject_id in sorted(set(subject_ids)):
                for document_id in self._documents(subject_id):
                    reporter.report(
                        StateChange(document_id=document_id, state=State.ERASED, at=now, component=self.component)
                    )
                    try:
                        self.client.update_item(
                            TableName=self.table_name,
                            Key=document_key(document_id),
                            UpdateExpression="REMOVE #subject ADD #version :one",
                            ConditionExpression="#subject = :subject",
                            ExpressionAttributeNames={"#subject": SUBJECT_ATTRIBUTE, "#version": "v"},
                            ExpressionAttributeValues={":subject": {"S": subject_id}, ":one": {"N": "1"}},
                        )
                    except self.client.exceptions.ConditionalCheckFailedException:
                        continue  # already unlinked (a retried task): nothing to count
                    forgotten[subject_id] = forgotten.get(subject_id, 0) + 1
        return forgotten

    def count(self, subject_ids: Collection[str]) -> int:
        return sum(
            1
            for subject_id in set(subject_ids)
            for document_id in self._documents(subject_id)
            if self._still_linked(document_id, subject_id)
        )

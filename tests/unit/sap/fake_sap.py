"""An in-memory SAP gateway (the dispatcher's port) with scriptable answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chalicelib.sap.batch import Changeset
from chalicelib.sap.client import ChangesetOutcome
from chalicelib.sap.exceptions import SapUnavailable


@dataclass
class FakeSap:
    contacts: set[str] = field(default_factory=set)
    interactions: Counter = field(default_factory=Counter)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)
    # what the next calls raise (None: behave)
    script: list[Exception | None] = field(default_factory=list)
    # record refs answered with a rejection / retryable part
    reject: dict[str, str] = field(default_factory=dict)
    retry_part: dict[str, int] = field(default_factory=dict)  # in the interaction service
    # apply the request, then fail as if the answer got lost
    lose_answer_of_next: int = 0
    lookups: int = 0
    bodies: dict[tuple[str, str, str, str], dict] = field(default_factory=dict)  # interaction key -> last body

    def send_batch(self, service: str, changesets: list[Changeset]) -> list[ChangesetOutcome]:
        self.calls.append((service, [c.ref for c in changesets]))
        if self.script:
            failure = self.script.pop(0)
            if failure is not None:
                raise failure
        outcomes = []
        for changeset in changesets:
            if changeset.ref in self.reject:
                outcomes.append(ChangesetOutcome(changeset.ref, "rejected", 400, "X/1", self.reject[changeset.ref]))
                continue
            if changeset.ref in self.retry_part and service == "API_MKT_INTERACTION_SRV":
                outcomes.append(ChangesetOutcome(changeset.ref, "retryable", self.retry_part.pop(changeset.ref)))
                continue
            for operation in changeset.operations:
                if operation.path.startswith("ContactOriginData"):
                    self.contacts.add(operation.body["ContactID"])
                if operation.path == "Interactions":
                    body = operation.body
                    assert body["InteractionContactId"] in self.contacts, "interaction before its contact"
                    key = (
                        body["SourceSystem"],
                        body["InteractionSourceObjectType"],
                        body["InteractionSourceObject"],
                        body["InteractionType"],
                    )
                    self.interactions[key] += 1
                    self.bodies[key] = body
            outcomes.append(ChangesetOutcome(changeset.ref, "accepted", 204))
        if self.lose_answer_of_next:
            self.lose_answer_of_next -= 1
            raise SapUnavailable("reset after SAP applied it", in_doubt=True)
        return outcomes

    def find_interactions(self, service: str, keys: list[tuple[str, str, str, str]]) -> set[tuple[str, str, str, str]]:
        self.lookups += 1
        return {key for key in keys if self.interactions[key]}

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.interactions.values() if count > 1)

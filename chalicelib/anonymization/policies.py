"""Named retention policies, kept in the config table and maintained through the API.

Items (config table): `gdpr-policy` / `{name}` holding the policy as JSON and who changed
it when. One partition holds them all: there are tens, read once per anonymization run.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.anonymization.anonymize import RetentionPolicy
from chalicelib.anonymization.exceptions import InvalidRetentionPolicy, UnknownRetentionPolicy

POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PARTITION = "gdpr-policy"


def check_name(name: str) -> str:
    if not POLICY_NAME.match(name):
        raise InvalidRetentionPolicy("a policy name is 1 to 64 lower-case letters, digits, '-' or '_'")
    return name


class RetentionPolicies(Protocol):
    def all(self) -> dict[str, RetentionPolicy]: ...

    def get(self, name: str) -> RetentionPolicy: ...

    def put(self, name: str, policy: RetentionPolicy, changed_by: str) -> None: ...

    def delete(self, name: str) -> None: ...


class InMemoryRetentionPolicies:
    def __init__(self, policies: dict[str, RetentionPolicy] | None = None) -> None:
        self.policies = dict(policies or {})

    def all(self) -> dict[str, RetentionPolicy]:
        return dict(sorted(self.policies.items()))

    def get(self, name: str) -> RetentionPolicy:
        if name not in self.policies:
            raise UnknownRetentionPolicy(f"no retention policy named {name}")
        return self.policies[name]

    def put(self, name: str, policy: RetentionPolicy, changed_by: str) -> None:
        self.policies[check_name(name)] = policy

    def delete(self, name: str) -> None:
        if self.policies.pop(name, None) is None:
            raise UnknownRetentionPolicy(f"no retention policy named {name}")


class DynamoRetentionPolicies:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    @staticmethod
    def _key(name: str) -> dict[str, Any]:
        return {"pk": {"S": _PARTITION}, "sk": {"S": name}}

    def all(self) -> dict[str, RetentionPolicy]:
        policies: dict[str, RetentionPolicy] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": _PARTITION}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                policies[item["sk"]["S"]] = RetentionPolicy.model_validate_json(item["policy"]["S"])
            if "LastEvaluatedKey" not in page:
                return policies
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, name: str) -> RetentionPolicy:
        item = self.client.get_item(
            TableName=self.table_name, Key=self._key(check_name(name)), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise UnknownRetentionPolicy(f"no retention policy named {name}")
        return RetentionPolicy.model_validate_json(item["policy"]["S"])

    def put(self, name: str, policy: RetentionPolicy, changed_by: str) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **self._key(check_name(name)),
                "policy": {"S": json.dumps(policy.model_dump(mode="json", exclude_none=True), sort_keys=True)},
                "changed_by": {"S": changed_by},
                "changed_at": {"S": datetime.now(UTC).isoformat()},
            },
        )

    def delete(self, name: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name, Key=self._key(check_name(name)), ConditionExpression="attribute_exists(pk)"
            )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise UnknownRetentionPolicy(f"no retention policy named {name}") from error

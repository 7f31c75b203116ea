"""Retention policies over the API, apart from HTTP: parse, store, shape the answer."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib.anonymization.anonymize import RetentionPolicy
from chalicelib.anonymization.exceptions import InvalidRetentionPolicy
from chalicelib.anonymization.policies import RetentionPolicies, check_name


def parse_policy(body: Any) -> RetentionPolicy:
    if not isinstance(body, dict):
        raise InvalidRetentionPolicy("the body must be a JSON object (a retention policy)")
    try:
        return RetentionPolicy.model_validate(body)
    except ValidationError as error:
        problems = sorted(
            {
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            }
        )
        raise InvalidRetentionPolicy("; ".join(problems)) from None


def policy_view(name: str, policy: RetentionPolicy) -> dict[str, Any]:
    return {"name": name, "policy_id": policy.policy_id, **policy.model_dump(mode="json", exclude_none=True)}


def list_policies(policies: RetentionPolicies) -> dict[str, Any]:
    return {"policies": [policy_view(name, policy) for name, policy in policies.all().items()]}


def put_policy(name: str, body: Any, changed_by: str, policies: RetentionPolicies) -> dict[str, Any]:
    check_name(name)
    policy = parse_policy(body)
    policies.put(name, policy, changed_by)
    return policy_view(name, policy)

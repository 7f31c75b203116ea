"""Where the SAP communication user comes from: Secrets Manager or SSM in AWS, the environment locally.

In this order, the first that is set wins:
- `SAP_SECRET_ARN`: a Secrets Manager secret holding `{"base_url", "user", "password"}`;
- `SAP_PARAMETER`: an SSM SecureString parameter holding the same JSON;
- `SAP_BASE_URL`, `SAP_USER`, `SAP_PASSWORD` (local runs, tests);
- `SAP_SECRET`: the secret declared in `chalicelib/resources.py` (every deployed function has it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.sap.exceptions import CredentialsMissing


@dataclass(frozen=True)
class SapCredentials:
    base_url: str  # e.g. https://my300000-api.s4hana.ondemand.com (service roots are appended)
    user: str
    password: str

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"SapCredentials(base_url={self.base_url!r}, user={self.user!r}, password='***')"


def _from_json(text: str, source: str) -> SapCredentials:
    try:
        value = json.loads(text)
        return SapCredentials(value["base_url"].rstrip("/"), value["user"], value["password"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CredentialsMissing(f"{source} does not hold base_url, user and password") from error


def load_credentials(client_for: Callable[[str], Any], environ: Mapping[str, str] | None = None) -> SapCredentials:
    """The credentials the environment points at; `client_for(service)` gives the AWS client
    of the store they are in (Secrets Manager or SSM), asked only for the one needed."""
    env = os.environ if environ is None else environ
    if env.get("SAP_SECRET_ARN"):
        return _from_secret(env["SAP_SECRET_ARN"], client_for("secretsmanager"))
    if env.get("SAP_PARAMETER"):
        name = env["SAP_PARAMETER"]
        text = client_for("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return _from_json(text, f"parameter {name}")
    if env.get("SAP_BASE_URL"):
        try:
            return SapCredentials(env["SAP_BASE_URL"].rstrip("/"), env["SAP_USER"], env["SAP_PASSWORD"])
        except KeyError as error:
            raise CredentialsMissing("SAP_BASE_URL is set but SAP_USER or SAP_PASSWORD is not") from error
    if env.get("SAP_SECRET"):
        return _from_secret(env["SAP_SECRET"], client_for("secretsmanager"))
    raise CredentialsMissing("set SAP_SECRET_ARN, SAP_PARAMETER, SAP_BASE_URL + SAP_USER + SAP_PASSWORD, or SAP_SECRET")


def _from_secret(secret_id: str, secrets_client: Any) -> SapCredentials:
    text = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    return _from_json(text, f"secret {secret_id}")

"""Where the SAP communication user comes from locally."""

from __future__ import annotations

import pytest

from chalicelib.sap.credentials import load_credentials
from chalicelib.sap.exceptions import CredentialsMissing


def no_aws_client(service: str) -> None:
    raise AssertionError(f"no {service} client is needed for credentials in the environment")


def test_locally_the_environment_gives_the_sap_user() -> None:
    credentials = load_credentials(
        no_aws_client,
        {
            "SAP_BASE_URL": "http://127.0.0.1:8030/",
            "SAP_USER": "U",
            "SAP_PASSWORD": "P",
            "SAP_SECRET": "data-engine/local/sap",
        },
    )

    assert (credentials.base_url, credentials.user, credentials.password) == ("http://127.0.0.1:8030", "U", "P")


def test_nothing_configured_is_a_clear_error() -> None:
    with pytest.raises(CredentialsMissing):
        load_credentials(no_aws_client, {})

"""The SAP client against the stand-in over HTTP: CSRF, auth, per-part outcomes, 429s, faults."""

from __future__ import annotations

import pytest
import requests

from chalicelib.sap.batch import Changeset, Operation
from chalicelib.sap.client import SapClient
from chalicelib.sap.credentials import SapCredentials
from chalicelib.sap.exceptions import SapAuthenticationFailed, SapUnavailable
from chalicelib.sap.metadata import CONTACT_SERVICE, INTERACTION_SERVICE
from chalicelib.sap.payloads import key_predicate
from sapstandin import StandIn
from tests.unit.sap.sample_records import a_record


def contact_changeset(number: int, **overrides) -> Changeset:
    contact = a_record(number, **overrides).contact
    assert contact is not None
    return Changeset(
        f"record-{number}",
        (Operation("PUT", "ContactOriginData" + key_predicate(contact.keys), contact.origin_data()),),
    )


def test_it_fetches_the_csrf_token_once_and_reuses_it(standin: StandIn, sap_client: SapClient) -> None:
    for number in range(3):
        sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(number)])

    assert standin.stats()["csrf_fetches"] == 1
    assert standin.records()["counts"]["contacts"] == 3


def test_it_fetches_a_new_token_when_the_csrf_token_expires_mid_run(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN a client that already holds a token
    sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])

    # WHEN SAP forgets it (session timeout) mid-run
    standin.expire_csrf_tokens()
    (outcome,) = sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(2)])

    # THEN the client gets 403 Required once, fetches a new token, and the batch goes through
    assert outcome.kind == "accepted"
    assert standin.stats()["csrf_rejections"] == 1 and standin.stats()["csrf_fetches"] == 2
    assert standin.records()["counts"]["contacts"] == 2


def test_wrong_credentials_are_not_retried_as_if_sap_were_down(standin: StandIn) -> None:
    client = SapClient(standin.url, SapCredentials(standin.url, standin.user, "wrong"))

    with pytest.raises(SapAuthenticationFailed):
        client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])


def test_a_batch_with_one_bad_part_applies_the_others(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN three contacts, the second with an email SAP refuses
    changesets = [contact_changeset(1), contact_changeset(2, email="not-an-email"), contact_changeset(3)]

    outcomes = sap_client.send_batch(CONTACT_SERVICE, changesets)

    assert [o.kind for o in outcomes] == ["accepted", "rejected", "accepted"]
    assert outcomes[1].status == 400 and outcomes[1].code == "HPA_CONTACT/040"
    assert sorted(c["ContactID"] for c in standin.records()["contacts"]) == ["subject-1", "subject-3"]


def test_a_failing_operation_rolls_back_its_whole_changeset(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN a changeset whose second operation (an interaction for an unknown contact) fails
    record = a_record(1)
    interaction = record.interactions[0].model_copy(update={"contact_id": "nobody"})
    changeset = Changeset(
        "record-1", (*contact_changeset(1).operations, Operation("POST", "Interactions", interaction.body()))
    )

    # WHEN it is sent to the interaction service... the contact PUT belongs to the other service
    (outcome,) = sap_client.send_batch(INTERACTION_SERVICE, [changeset])

    assert outcome.kind == "rejected"
    assert standin.records()["counts"] == {
        "contacts": 0,
        "additional_ids": 0,
        "permissions": 0,
        "interactions": 0,
        "duplicates": 0,
        "contacts_marked_for_deletion": 0,
    }


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_429_tells_how_long_to_wait_in_both_retry_after_forms(
    standin: StandIn, sap_client: SapClient, form: str
) -> None:
    standin.fail_next(1, 429, retry_after=30, retry_after_format=form)

    with pytest.raises(SapUnavailable) as raised:
        sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])

    assert raised.value.status == 429 and not raised.value.in_doubt
    assert 28 <= (raised.value.retry_after or 0) <= 31
    assert standin.records()["counts"]["contacts"] == 0


def test_above_capacity_sap_answers_429_with_retry_after(standin: StandIn, sap_client: SapClient) -> None:
    standin.set_capacity(2, retry_after=3, burst_seconds=1.0)
    statuses = []
    for number in range(6):
        try:
            sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(number)])
            statuses.append(202)
        except SapUnavailable as error:
            statuses.append(error.status)
            assert error.retry_after == 3

    assert 429 in statuses and 202 in statuses


def test_a_reset_after_sap_applied_the_batch_is_in_doubt(standin: StandIn, sap_client: SapClient) -> None:
    sap_client.csrf_token(CONTACT_SERVICE)
    standin.reset_connections(1, when="after")

    with pytest.raises(SapUnavailable) as raised:
        sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])

    assert raised.value.in_doubt
    assert standin.records()["counts"]["contacts"] == 1


def test_a_slow_answer_is_a_timeout_in_doubt(standin: StandIn) -> None:
    sap_client = SapClient(standin.url, SapCredentials(standin.url, standin.user, standin.password), read_timeout=0.3)
    sap_client.csrf_token(CONTACT_SERVICE)
    standin.slow_down(1.0, when="after")

    with pytest.raises(SapUnavailable) as raised:
        sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])

    assert raised.value.in_doubt


def test_it_finds_interactions_sap_holds_by_their_source_object(standin: StandIn, sap_client: SapClient) -> None:
    record = a_record(1, interactions=2)
    sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])
    sap_client.send_batch(
        INTERACTION_SERVICE,
        [Changeset("record-1", (Operation("POST", "Interactions", record.interactions[0].body()),))],
    )

    found = sap_client.find_interactions(INTERACTION_SERVICE, [i.natural_key for i in record.interactions])

    assert found == {record.interactions[0].natural_key}


def test_the_control_endpoints_script_faults_over_http(standin: StandIn, sap_client: SapClient) -> None:
    response = requests.post(
        f"{standin.url}/_standin/faults",
        json={"kind": "status", "status": 500, "count": 1, "path_contains": "$batch"},
        timeout=5,
    )
    assert response.status_code == 201

    with pytest.raises(SapUnavailable) as raised:
        sap_client.send_batch(CONTACT_SERVICE, [contact_changeset(1)])
    assert raised.value.status == 500
    assert requests.get(f"{standin.url}/_standin/records", timeout=5).json()["counts"]["contacts"] == 0


def test_the_standin_answers_sap_error_json(standin: StandIn) -> None:
    session = requests.Session()
    session.auth = (standin.user, standin.password)
    root = standin.service_url(CONTACT_SERVICE)
    token = session.get(root, headers={"x-csrf-token": "Fetch"}, timeout=5).headers["x-csrf-token"]

    response = session.put(
        root + "ContactOriginData(ContactOrigin='A',ContactID='1')",
        json={"Nickname": "x", "OriginDataLastChgUTCDateTime": "/Date(0)/"},
        headers={"x-csrf-token": token},
        timeout=5,
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "/IWBEP/CM_MGW_RT/020"
    assert error["message"] == {
        "lang": "en",
        "value": "Property 'Nickname' is invalid for entity type 'ContactOriginData'",
    }
    assert "transactionid" in error["innererror"]

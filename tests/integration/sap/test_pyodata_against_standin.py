"""SAP's own OData client (pyodata) must accept the stand-in as SAP: $metadata and a $batch."""

from __future__ import annotations

from decimal import Decimal

import pyodata
import pyodata.v2.model as edm
import requests

from chalicelib.sap.metadata import CONTACT_SERVICE, INTERACTION_SERVICE
from sapstandin import StandIn
from tests.unit.sap.sample_records import a_record


def pyodata_session(standin: StandIn) -> requests.Session:
    """pyodata leaves CSRF to its caller: fetch a token once, send it (and the cookie) always."""
    session = requests.Session()
    session.auth = (standin.user, standin.password)
    token = session.get(standin.service_url(CONTACT_SERVICE), headers={"x-csrf-token": "Fetch"}, timeout=5).headers[
        "x-csrf-token"
    ]
    session.headers["x-csrf-token"] = token
    return session


def test_pyodata_loads_the_standin_metadata(standin: StandIn) -> None:
    client = pyodata.Client(
        standin.service_url(CONTACT_SERVICE),
        pyodata_session(standin),
        config=edm.Config(default_error_policy=edm.PolicyIgnore()),
    )

    contacts = client.schema.entity_set("ContactOriginData")
    assert [k.name for k in contacts.entity_type.key_proprties] == ["ContactOrigin", "ContactID"]


def test_pyodata_sends_a_batch_with_a_changeset_to_the_standin(standin: StandIn) -> None:
    # GIVEN pyodata clients of both services, on one session (one CSRF token)
    session = pyodata_session(standin)
    config = edm.Config(default_error_policy=edm.PolicyIgnore())
    contacts = pyodata.Client(standin.service_url(CONTACT_SERVICE), session, config=config)
    interactions = pyodata.Client(standin.service_url(INTERACTION_SERVICE), session, config=config)
    record = a_record(7)

    def values(model, skip=()):  # pyodata encodes datetimes itself, but not Decimals
        return {
            k: str(v) if isinstance(v, Decimal) else v
            for k, v in model.model_dump(by_alias=True, exclude_none=True).items()
            if k[:1].isupper() and k not in skip
        }

    contact = record.contact
    assert contact is not None

    # WHEN pyodata upserts the contact in a changeset of a $batch ...
    batch = contacts.create_batch()
    changeset = contacts.create_changeset()
    changeset.add_request(
        contacts.entity_sets.ContactOriginData.update_entity(method="PUT", **contact.keys).set(
            **values(contact, skip=contact.keys)
        )
    )
    batch.add_request(changeset)
    contact_answers = batch.execute()
    # ... and creates the interaction the same way
    batch = interactions.create_batch()
    changeset = interactions.create_changeset()
    changeset.add_request(interactions.entity_sets.Interactions.create_entity().set(**values(record.interactions[0])))
    batch.add_request(changeset)
    (interaction_answers,) = batch.execute()

    # THEN the stand-in parsed and applied both, and pyodata parsed the answers
    assert len(contact_answers) == 1
    assert interaction_answers[0].InteractionSourceObject == "record-7-0"
    counts = standin.records()["counts"]
    assert counts["contacts"] == 1 and counts["interactions"] == 1

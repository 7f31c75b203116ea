"""The EDMX reading: entity sets, keys, maximum lengths, and the payload check built on it."""

from __future__ import annotations

import pyodata.v2.model as edm
import pytest

from chalicelib.sap import metadata
from chalicelib.sap.exceptions import MetadataError


def test_it_reads_keys_and_maximum_lengths_of_contact_origin_data() -> None:
    contacts = metadata.load(metadata.CONTACT_SERVICE).entity_set("ContactOriginData")

    assert contacts.keys == ("ContactOrigin", "ContactID")
    assert contacts.property("FirstName").max_length == 40
    assert contacts.property("EmailAddress").max_length == 241
    assert not contacts.property("ContactUUID").creatable


@pytest.mark.parametrize("service", metadata.SERVICES)
def test_it_reads_every_property_as_sap_own_pyodata_does(service: str) -> None:
    # GIVEN SAP's own parser's reading of the same file
    edmx = (metadata.METADATA_DIR / f"{service}.xml").read_bytes()
    schema = edm.MetadataBuilder(edmx, config=edm.Config(default_error_policy=edm.PolicyIgnore())).build()
    ours = metadata.load(service)

    # THEN every entity set, key and property limit agrees
    for entity_set in schema.entity_sets:
        entity = ours.entity_set(entity_set.name)
        assert entity.keys == tuple(k.name for k in entity_set.entity_type.key_proprties)
        for prop in entity_set.entity_type.proprties():
            mine = entity.property(prop.name)
            assert (mine.max_length or 0) == max(prop.max_length or 0, 0), prop.name
            assert mine.nullable == prop.nullable
            assert mine.creatable == prop.creatable


def test_it_names_unknown_fields_too_long_values_and_missing_keys_without_values() -> None:
    contacts = metadata.load(metadata.CONTACT_SERVICE).entity_set("ContactOriginData")

    problems = metadata.problems(
        contacts,
        {"ContactOrigin": "X", "FirstName": "Bartholomew" * 5, "Nickname": "Bat", "ContactUUID": "a"},
        creating=True,
    )

    assert problems == [
        "ContactOriginData.FirstName: longer than 40 characters",
        "ContactOriginData.Nickname: no such property",
        "ContactOriginData.ContactUUID: not creatable",
        "ContactOriginData.ContactID: key must be given",
    ]
    assert not any("Bartholomew" in problem for problem in problems)


def test_it_refuses_an_entity_set_the_service_does_not_have() -> None:
    with pytest.raises(MetadataError):
        metadata.load(metadata.INTERACTION_SERVICE).entity_set("ContactOriginData")

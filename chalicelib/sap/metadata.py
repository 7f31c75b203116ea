"""SAP's service metadata (EDMX, OData V2): entity types, keys, properties and their limits.

The EDMX files ship with the code (`metadata/`), so payloads are checked before anything
is sent. Parsed with the standard library: pyodata parses the same files (and the tests
compare both), but it pulls lxml into the Lambda bundle for what is a 100-line job here.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.sap.exceptions import MetadataError

METADATA_DIR = Path(__file__).parent / "metadata"
CONTACT_SERVICE = "API_MKT_CONTACT_SRV"
INTERACTION_SERVICE = "API_MKT_INTERACTION_SRV"
SERVICES = (CONTACT_SERVICE, INTERACTION_SERVICE, "API_MKT_INTERACTION_CONTACT_SRV")

_EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
_SAP = "{http://www.sap.com/Protocols/SAPData}"


@dataclass(frozen=True)
class Property:
    name: str
    edm_type: str
    max_length: int | None
    nullable: bool
    creatable: bool
    updatable: bool


@dataclass(frozen=True)
class EntityType:
    name: str
    keys: tuple[str, ...]
    properties: dict[str, Property]
    navigation: tuple[str, ...]

    def property(self, name: str) -> Property:
        try:
            return self.properties[name]
        except KeyError as error:
            raise MetadataError(f"{self.name} has no property {name}") from error


@dataclass(frozen=True)
class ServiceMetadata:
    name: str
    entity_types: dict[str, EntityType]
    # entity set name -> entity type name
    entity_sets: dict[str, str]

    def entity_set(self, name: str) -> EntityType:
        try:
            return self.entity_types[self.entity_sets[name]]
        except KeyError as error:
            raise MetadataError(f"{self.name} has no entity set {name}") from error


def _flag(element: ET.Element, name: str) -> bool:
    return element.get(_SAP + name, "true") != "false"


def parse(edmx: bytes, name: str) -> ServiceMetadata:
    root = ET.fromstring(edmx)
    entity_types: dict[str, EntityType] = {}
    entity_sets: dict[str, str] = {}
    for entity_type in root.iter(_EDM + "EntityType"):
        properties = {}
        for prop in entity_type.findall(_EDM + "Property"):
            max_length = prop.get("MaxLength")
            properties[prop.get("Name", "")] = Property(
                name=prop.get("Name", ""),
                edm_type=prop.get("Type", ""),
                max_length=int(max_length) if max_length and max_length.isdigit() else None,
                nullable=prop.get("Nullable", "true") != "false",
                creatable=_flag(prop, "creatable"),
                updatable=_flag(prop, "updatable"),
            )
        key = entity_type.find(_EDM + "Key")
        keys = tuple(ref.get("Name", "") for ref in key) if key is not None else ()
        navigation = tuple(nav.get("Name", "") for nav in entity_type.findall(_EDM + "NavigationProperty"))
        type_name = entity_type.get("Name", "")
        entity_types[type_name] = EntityType(type_name, keys, properties, navigation)
    for entity_set in root.iter(_EDM + "EntitySet"):
        entity_sets[entity_set.get("Name", "")] = entity_set.get("EntityType", "").rpartition(".")[2]
    return ServiceMetadata(name, entity_types, entity_sets)


@functools.cache
def load(service: str) -> ServiceMetadata:
    """The metadata of one of `SERVICES`, parsed once per process."""
    path = METADATA_DIR / f"{service}.xml"
    if not path.is_file():
        raise MetadataError(f"no metadata shipped for service {service}")
    return parse(path.read_bytes(), service)


def problems(entity: EntityType, payload: dict[str, Any], *, creating: bool) -> list[str]:
    """What is wrong with `payload` for `entity`; names fields and rules, never values."""
    found: list[str] = []
    for name, value in payload.items():
        if name == "__metadata":
            continue
        prop = entity.properties.get(name)
        if prop is None:
            found.append(f"{entity.name}.{name}: no such property")
            continue
        allowed = prop.creatable if creating else prop.updatable
        if not allowed and name not in entity.keys:
            found.append(f"{entity.name}.{name}: not {'creatable' if creating else 'updatable'}")
        if value is None:
            if not prop.nullable:
                found.append(f"{entity.name}.{name}: must not be null")
            continue
        if prop.edm_type == "Edm.String":
            if not isinstance(value, str):
                found.append(f"{entity.name}.{name}: must be a string")
            elif prop.max_length is not None and len(value) > prop.max_length:
                found.append(f"{entity.name}.{name}: longer than {prop.max_length} characters")
    for key in entity.keys:
        # Guid keys (InteractionUUID) are assigned by SAP; empty strings are valid keys
        # (e.g. MarketingPermission.CommunicationCategory for "no category").
        if payload.get(key) is None and entity.properties[key].edm_type != "Edm.Guid":
            found.append(f"{entity.name}.{key}: key must be given")
    return found

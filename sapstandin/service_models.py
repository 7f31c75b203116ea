"""The services the stand-in serves, read from SAP's EDMX with SAP's own parser (pyodata).

Deliberately not `chalicelib.sap.metadata`: the stand-in checks our payloads, so it
must not share our reading of the metadata.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pyodata.v2.model as edm

METADATA_DIR = Path(__file__).resolve().parent.parent / "chalicelib" / "sap" / "metadata"
SERVICE_NAMES = ("API_MKT_CONTACT_SRV", "API_MKT_INTERACTION_SRV", "API_MKT_INTERACTION_CONTACT_SRV")


@dataclass(frozen=True)
class PropertyModel:
    name: str
    type_name: str
    max_length: int | None
    nullable: bool
    creatable: bool
    updatable: bool


@dataclass(frozen=True)
class EntitySetModel:
    name: str
    type_name: str
    keys: tuple[str, ...]
    properties: dict[str, PropertyModel]
    creatable: bool
    updatable: bool


@dataclass(frozen=True)
class FunctionImportModel:
    name: str
    http_method: str
    parameters: dict[str, PropertyModel]
    entity_set: str | None  # the entity set of what it returns


@dataclass(frozen=True)
class ServiceModel:
    name: str
    edmx: bytes
    entity_sets: dict[str, EntitySetModel]
    function_imports: dict[str, FunctionImportModel] = field(default_factory=dict)


@functools.cache
def load(name: str) -> ServiceModel:
    edmx = (METADATA_DIR / f"{name}.xml").read_bytes()
    schema = edm.MetadataBuilder(edmx, config=edm.Config(default_error_policy=edm.PolicyIgnore())).build()
    sets = {}
    for entity_set in schema.entity_sets:
        entity_type = entity_set.entity_type
        properties = {}
        for prop in entity_type.proprties():
            max_length = prop.max_length if (prop.max_length or 0) > 0 else None
            properties[prop.name] = PropertyModel(
                prop.name, prop.typ.name, max_length, prop.nullable, prop.creatable, prop.updatable
            )
        sets[entity_set.name] = EntitySetModel(
            entity_set.name,
            entity_type.name,
            tuple(k.name for k in entity_type.key_proprties),
            properties,
            entity_set.creatable,
            entity_set.updatable,
        )
    functions = {}
    for function in schema.function_imports:
        parameters = {
            p.name: PropertyModel(
                p.name, p.typ.name, p.max_length if (p.max_length or 0) > 0 else None, p.nullable, True, True
            )
            for p in function.parameters
        }
        functions[function.name] = FunctionImportModel(
            function.name, function.http_method.upper(), parameters, function.entity_set_name
        )
    return ServiceModel(name, edmx, sets, functions)

"""The registry of sources: which connector reads which platform's files.

`SOURCES` is built from the modules of `chalicelib.normalize.connectors` (each exposes
`CONNECTORS`), so adding a platform means adding one module. The source of a raw file is
known from its key, `incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}.{ext}[.gz]`, or from
the push route that stored it there; it is never guessed from the content.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from chalicelib.normalize import connectors as _connectors_package
from chalicelib.normalize.connectors.base import Connector
from chalicelib.normalize.exceptions import MalformedRawKey, UnknownSource

RAW_PREFIX = "incoming/"
_RAW_KEY = re.compile(
    r"^incoming/(?P<source>[a-z0-9_]+)/(?P<yyyy>\d{4})/(?P<mm>\d{2})/(?P<dd>\d{2})/"
    r"(?P<file_id>[A-Za-z0-9_\-]+)(?P<ext>(\.[A-Za-z0-9]+)+)$"
)


def _discover() -> dict[str, Connector]:
    found: dict[str, Connector] = {}
    for module_info in sorted(pkgutil.iter_modules(_connectors_package.__path__), key=lambda m: m.name):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{_connectors_package.__name__}.{module_info.name}")
        for connector in getattr(module, "CONNECTORS", ()):
            if connector.name in found:
                raise RuntimeError(f"two connectors are named {connector.name!r}")
            found[connector.name] = connector
    return found


SOURCES: Mapping[str, Connector] = MappingProxyType(_discover())


# Sources operators declared as mappings (`normalize/mappings.py`), kept in the configuration
# table: `wiring` installs the lookup (source, mapping version or None for the current one)
# -> connector, or None for a source with no declared mapping. It answers from a cache.
DeclaredSources = Callable[[str, int | None], Connector | None]
_declared: list[DeclaredSources] = []


def use_declared_sources(lookup: DeclaredSources | None) -> None:
    """Let `connector_for` find the declared mappings too (None: the shipped sources only)."""
    _declared.clear()
    if lookup is not None:
        _declared.append(lookup)


def connector_for(source: str, mapping_version: int | None = None) -> Connector:
    """The connector of `source`: its declared mapping (at `mapping_version`, or the current
    one) if it has one, else the shipped connector."""
    if _declared and isinstance(source, str):
        declared = _declared[0](source, mapping_version)
        if declared is not None:
            return declared
    try:
        return SOURCES[source]
    except (KeyError, TypeError):
        raise UnknownSource(f"no connector for source {source!r}; known: {', '.join(sorted(SOURCES))}") from None


def source_from_key(key: str) -> str:
    """The source named by a raw object key (already URL-decoded). Raises `MalformedRawKey`
    for another layout and `UnknownSource` for a source without a connector."""
    match = _RAW_KEY.match(key)
    if match is None:
        raise MalformedRawKey("raw key is not incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}.{ext}")
    source = match.group("source")
    connector_for(source)
    return source

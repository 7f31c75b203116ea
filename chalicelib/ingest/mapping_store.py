"""Declared source mappings, versioned, in the configuration table.

Items: `pk = mapping#{source}`, `sk = v{version:06d}` (every version, kept: a file's outcome
names the version it was read with) and `sk = current` (the version in force). A put
writes the next version with a condition, so two admins saving at once get versions n+1
and n+2, never one lost. The first declared version of a shipped mapping source (the
ticketshop) follows its shipped version 0.

`connector(source, version)` is what `normalize.sources.connector_for` asks: answers are
cached (an exact version for good, the current one for `max_age_seconds`), so a record
costs no read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.normalize.connectors.base import Connector
from chalicelib.normalize.exceptions import InvalidMapping
from chalicelib.normalize.mappings import MappedConnector, Mapping, mapped_connector, parse_mapping
from chalicelib.normalize.sources import SOURCES


def _now() -> datetime:
    return datetime.now(UTC)


class DynamoMappings:
    def __init__(
        self, table_name: str, client: Any, max_age_seconds: float = 60.0, clock: Callable[[], datetime] = _now
    ) -> None:
        self.table = table_name
        self.client = client
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._versions: dict[tuple[str, int], Connector] = {}
        self._current: dict[str, tuple[float, Connector | None]] = {}

    # -- what an operator declares ------------------------------------------------------

    def put(self, mapping: Mapping, principal: str) -> Mapping:
        """Keep `mapping` as the source's next version, and make it current."""
        shipped = SOURCES.get(mapping.source)
        if shipped is not None and not isinstance(shipped, MappedConnector):
            raise InvalidMapping(f"source {mapping.source!r} is read by code, not by a mapping")
        for _ in range(5):
            version = self._current_version(mapping.source) + 1
            kept = mapping.model_copy(update={"version": version})
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        **self._key(mapping.source, f"v{version:06d}"),
                        "value": {"S": kept.model_dump_json()},
                        "by": {"S": principal},
                        "at": {"S": self.clock().isoformat(timespec="seconds")},
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another admin saved this version first: take the next one
                raise
            self.client.put_item(
                TableName=self.table,
                Item={**self._key(mapping.source, "current"), "version": {"N": str(version)}},
            )
            self._current.pop(mapping.source, None)
            return kept
        raise InvalidMapping(f"could not save a new version of {mapping.source!r}; try again")

    def current(self, source: str) -> Mapping | None:
        """The mapping in force: the declared current version, else the shipped one."""
        version = self._current_version(source)
        if version > 0:
            return self.get(source, version)
        shipped = SOURCES.get(source)
        return shipped.mapping if isinstance(shipped, MappedConnector) else None

    def get(self, source: str, version: int) -> Mapping | None:
        if version == 0:
            shipped = SOURCES.get(source)
            return shipped.mapping if isinstance(shipped, MappedConnector) else None
        item = self.client.get_item(TableName=self.table, Key=self._key(source, f"v{version:06d}")).get("Item")
        return parse_mapping(json.loads(item["value"]["S"])) if item else None

    def versions(self, source: str) -> list[int]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": f"mapping#{source}"}, ":v": {"S": "v"}},
            ProjectionExpression="sk",
        )
        return sorted(int(item["sk"]["S"][1:]) for item in response.get("Items", []))

    # -- what the normalizer asks ---------------------------------------------------------

    def connector(self, source: str, version: int | None) -> Connector | None:
        """The connector of a declared mapping (None: the source has none declared)."""
        if version is not None:
            if version == 0:
                return None  # the shipped mapping: `connector_for` falls back to it
            if (source, version) not in self._versions:
                mapping = self.get(source, version)
                if mapping is None:
                    return None
                self._versions[(source, version)] = mapped_connector(mapping)
            return self._versions[(source, version)]
        cached = self._current.get(source)
        if cached is not None and time.monotonic() - cached[0] < self.max_age_seconds:
            return cached[1]
        current = self._current_version(source, consistent=False)
        connector = self.connector(source, current) if current > 0 else None
        self._current[source] = (time.monotonic(), connector)
        return connector

    # -- items ------------------------------------------------------------------------

    def _current_version(self, source: str, consistent: bool = True) -> int:
        item = self.client.get_item(
            TableName=self.table, Key=self._key(source, "current"), ConsistentRead=consistent
        ).get("Item")
        return int(item["version"]["N"]) if item else 0

    @staticmethod
    def _key(source: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": f"mapping#{source}"}, "sk": {"S": sk}}

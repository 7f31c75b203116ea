"""What an incremental pull is given and gives back.

A pull (`Pull`: one per platform, in that platform's module) reads the platform's pages
from where the cursor says, hands each page to `context.store` (a raw file of an existing
source format) and then saves the cursor that points past it, page by page: a pull that
dies between pages resumes after the last stored one, and a page stored twice is the same
raw file (its id is its content's hash) and is split once. The cursor is the pull's own
JSON object; only the pull reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SourceSettings:
    """What an operator set for a pulled (or webhook) source (`PUT /sources/{name}`).

    `follow` names what to read: Eventbrite event ids, Meta lead form ids, or Amazon
    marketplace ids; `organization` is Eventbrite's organization id (attendees of all its
    events). `options` are the platform's own (e.g. Amazon's `report_type`).
    """

    name: str
    enabled: bool = True
    follow: tuple[str, ...] = ()
    organization: str | None = None
    every_minutes: int = 60
    options: dict[str, Any] = field(default_factory=dict)


class PullContext(Protocol):
    settings: SourceSettings
    cursor: dict[str, Any] | None  # as the last page of the last pull saved it; None at first

    def store(self, body: bytes, extension: str) -> str:
        """Write one page as a raw file of the source (`extension` e.g. `.json`, `.txt.gz`);
        returns its file id."""
        ...

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        """Keep the cursor that points past the pages stored so far."""
        ...


@dataclass
class PullResult:
    pages: int = 0  # pages (or report documents) read from the platform
    records: int = 0  # records in the pages stored
    files: list[str] = field(default_factory=list)  # file ids of the raw files written
    requests: int = 0  # HTTP requests sent to the platform, retries included


Pull = Callable[[PullContext], PullResult]

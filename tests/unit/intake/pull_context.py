"""An in-memory `PullContext` for pull tests: the pages stored and the cursors saved, in order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from chalicelib.intake.pulls import SourceSettings


@dataclass
class RecordingPullContext:
    settings: SourceSettings
    cursor: dict[str, Any] | None = None
    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # file id -> (body, extension)
    saved: list[dict[str, Any]] = field(default_factory=list)
    fail_after_pages: int | None = None  # raise after storing this many pages (a crash mid-pull)

    def store(self, body: bytes, extension: str) -> str:
        file_id = hashlib.sha256(body).hexdigest()[:20]
        self.pages[file_id] = (body, extension)
        return file_id

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        self.saved.append(cursor)
        self.cursor = cursor
        if self.fail_after_pages is not None and len(self.saved) >= self.fail_after_pages:
            raise CrashedMidPull()


class CrashedMidPull(Exception):
    """The pull's process died after a page (raised by the context, as a test's crash)."""

"""Run the platforms' incremental pulls: on the schedule when due, or at once from the API.

The `pull_sources` schedule runs every enabled pull source whose interval has passed;
`POST /sources/{name}/pulls` records a run and hands it to the `pull_source` function. A
lease on the source's status item keeps two pulls of one source from running together.
A pull's pages land in the raw bucket as files of the source's connector, and its cursor
is saved per page in the configuration table (`source_states.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.ingest.uploads import file_id_from_key, put_raw_file
from chalicelib.intake.catalogue import INTAKE_SOURCES, IntakeSource, intake_source
from chalicelib.intake.exceptions import IntakeError, InvalidSourceSettings
from chalicelib.intake.pulls import Pull, PullResult, SourceSettings
from chalicelib.intake.source_states import DynamoSourceStates, PullRun

log = logging.getLogger(__name__)

LEASE_SECONDS = 900  # a pull function's timeout: a crashed pull's lease runs out by then


class RawPullContext:
    """What a pull is given: its settings and cursor; pages go to the raw bucket."""

    def __init__(
        self,
        source: IntakeSource,
        settings: SourceSettings,
        states: DynamoSourceStates,
        s3: Any,
        raw_bucket: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.source = source
        self.settings = settings
        self.states = states
        self.s3 = s3
        self.raw_bucket = raw_bucket
        self.clock = clock
        self.cursor: dict[str, Any] | None = states.cursor(source.name)

    def store(self, body: bytes, extension: str) -> str:
        key = put_raw_file(self.s3, self.raw_bucket, self.source.raw_source, body, extension, self.clock())
        return file_id_from_key(key)

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        self.states.save_cursor(self.source.name, cursor)
        self.cursor = cursor


class SourcePulls:
    def __init__(
        self,
        states: DynamoSourceStates,
        s3: Any,
        raw_bucket: str,
        pulls: Mapping[str, Callable[[], Pull]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`pulls` builds each platform's pull on first use (it reads the platform's secret)."""
        self.states = states
        self.s3 = s3
        self.raw_bucket = raw_bucket
        self.pulls = pulls
        self.clock = clock

    def due(self) -> list[str]:
        """The enabled pull sources whose interval has passed since their last pull."""
        now = self.clock()
        names = []
        for source in INTAKE_SOURCES:
            settings = self.states.settings(source.name)
            if not source.pull or settings is None or not settings.enabled:
                continue
            last = self.states.status(source.name).get("last_pull_at")
            if last is None or datetime.fromisoformat(last) + timedelta(minutes=settings.every_minutes) <= now:
                names.append(source.name)
        return names

    def run_due(self) -> dict[str, Any]:
        return {name: self.run(self.states.start_pull(name, "schedule")).public() for name in self.due()}

    def start(self, name: str, trigger: str) -> PullRun:
        """Record a pull run of `name` (for the API to hand to the `pull_source` function)."""
        source = intake_source(name)
        if not source.pull:
            raise InvalidSourceSettings(f"source {name!r} is webhook-only; it has no pull")
        settings = self.states.settings(name)
        if settings is None or not settings.enabled:
            raise InvalidSourceSettings(f"source {name!r} is not enabled; PUT /sources/{name} first")
        return self.states.start_pull(name, trigger)

    def run(self, run: PullRun) -> PullRun:
        """Carry out a recorded run; its outcome is recorded on the run and the source's status."""
        source = intake_source(run.source)
        settings = self.states.settings(source.name)
        if settings is None or not settings.enabled:
            return self.states.finish_pull(run, error="the source is not enabled")
        if not self.states.take_lease(source.name, LEASE_SECONDS):
            return self.states.finish_pull(run, error="another pull of this source is running")
        started = self.clock()
        try:
            context = RawPullContext(source, settings, self.states, self.s3, self.raw_bucket, self.clock)
            result: PullResult = self.pulls[source.name]()(context)
        except IntakeError as error:  # the platform's answer: its message holds codes and ids only
            return self._failed(run, started, f"{type(error).__name__}: {error}")
        except Exception as error:  # noqa: BLE001 - recorded by class only (a message may quote data); next run resumes
            return self._failed(run, started, type(error).__name__)
        finally:
            self.states.release_lease(source.name)
        self.states.count(
            source.name,
            {"pulls": 1, "pull_files": len(result.files), "pull_records": result.records},
            {"last_pull_at": started.isoformat(timespec="seconds"), "last_pull_status": "DONE"},
        )
        return self.states.finish_pull(run, result=asdict(result))

    def _failed(self, run: PullRun, started: datetime, error: str) -> PullRun:
        log.warning("pull of %s failed: %s", run.source, error)
        self.states.count(
            run.source,
            {"pulls": 1, "pull_failures": 1},
            {"last_pull_at": started.isoformat(timespec="seconds"), "last_pull_status": "FAILED", "last_error": error},
        )
        return self.states.finish_pull(run, error=error)

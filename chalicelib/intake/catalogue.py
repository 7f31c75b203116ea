"""The platforms the engine receives from or pulls from, and how each one's data lands.

An intake source is a platform (`meta`); the raw files it produces are of an existing
connector source (`facebook_leads`), so everything after the raw bucket is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.intake.exceptions import UnknownIntakeSource


@dataclass(frozen=True)
class IntakeSource:
    name: str  # as in the routes: /hooks/{name}, /sources/{name}
    raw_source: str  # the connector source of its raw files
    secret: str  # the declared secret holding its credentials (chalicelib/resources.py)
    webhook: bool
    pull: bool


INTAKE_SOURCES: tuple[IntakeSource, ...] = (
    IntakeSource("google-ads", raw_source="google_ads", secret="google-ads", webhook=True, pull=False),
    IntakeSource("meta", raw_source="facebook_leads", secret="meta", webhook=True, pull=True),
    IntakeSource("eventbrite", raw_source="eventbrite", secret="eventbrite", webhook=True, pull=True),
    IntakeSource("amazon", raw_source="amazon_orders", secret="amazon-sp-api", webhook=False, pull=True),
)


def intake_source(name: str) -> IntakeSource:
    for source in INTAKE_SOURCES:
        if source.name == name:
            return source
    known = ", ".join(source.name for source in INTAKE_SOURCES)
    raise UnknownIntakeSource(f"no intake source {name!r}; known: {known}")

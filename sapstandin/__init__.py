"""A local SAP Marketing Cloud stand-in speaking the real OData V2 protocol.

Started by `make run` (through devstack) and by the tests; never shipped to Lambda.
It serves `$metadata` from the shipped EDMX files, asks for Basic auth (401), runs the
CSRF token + cookie flow (403 `x-csrf-token: Required`), executes `$batch` requests with
atomic changesets, validates keys, field names and maximum lengths (400 with SAP's
error JSON), answers 429 with Retry-After above a configurable capacity, plays
scripted faults, and lists what it stored (and any duplicates) on `/_standin/records`.
Erasure: PATCH on ContactOriginData and the function import ContactOriginDeleteAdditionalIDs
work as in SAP; `/_standin/jobs/delete-obsolete-contacts` plays SAP's deletion jobs.
"""

from __future__ import annotations

from sapstandin.standin import StandIn

__all__ = ["StandIn"]

"""The API's shapes as pydantic models: every route's path and query parameters, request and response bodies.

The OpenAPI document (`openapi.py`) is generated from these with `model_json_schema`, and the
edge (`edge_validation.py`) checks requests against them before a route runs. Where the domain
already has a model of a body (a retention policy, a mapping, a throttle change), that model is
used as it is: one truth per shape. Response models leave extra fields allowed, so a new field in
an answer is not a broken contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from chalicelib.anonymization.anonymize import FieldRule as PolicyFieldRule
from chalicelib.erasure.api import MAX_REQUESTS_PER_CALL, MAX_REQUESTS_PER_JOB
from chalicelib.ingest.messages import Problem
from chalicelib.intake.source_states import MIN_EVERY_MINUTES
from chalicelib.normalize.mappings import Mapping
from chalicelib.routes.params import MAX_REPLAY
from chalicelib.state_keeper.lifecycle import State

# What the State Keeper accepts as a document, file, subject or source id (400 otherwise).
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
STATES = [state.value for state in State]
STATE_ENUM: dict[str, Any] = {"enum": STATES}
TIME: dict[str, Any] = {"format": "date-time", "examples": ["2026-11-28T14:00:00Z"]}


class Parameters(BaseModel):
    """Path or query parameters: strings on the wire, unknown ones ignored unless a route refuses them."""

    model_config = ConfigDict(populate_by_name=True)


class Answer(BaseModel):
    """A response body; fields beyond those named are allowed."""

    model_config = ConfigDict(extra="allow")


# -- errors ------------------------------------------------------------------------------


class FieldProblem(Answer):
    """One refused part of a request: where it is and what is wrong (never its value)."""

    location: Literal["path", "query", "body"] = Field(alias="in")
    field: str
    problem: str


class ErrorBody(Answer):
    """Chalice's error shape; the edge's 400 adds `errors`, one per refused field."""

    Code: str
    Message: str
    errors: list[FieldProblem] | None = None


class GatewayError(Answer):
    """What the API gateway answers before the app runs (no or an unknown token, an unknown path)."""

    message: str | None = None
    Message: str | None = None


# -- path parameters ---------------------------------------------------------------------


class DocumentPath(Parameters):
    document_id: str = Field(pattern=IDENTIFIER)


class FilePath(Parameters):
    file_id: str = Field(pattern=IDENTIFIER)


class SubjectPath(Parameters):
    subject_id: str = Field(pattern=IDENTIFIER)


class IngestPath(Parameters):
    source: str = Field(description="a source name, e.g. eventbrite, ticketshop, canonical")


class SourcePath(Parameters):
    name: str = Field(description="a platform source (GET /sources) or a declared mapping's source")


class PullPath(Parameters):
    name: str
    pull_id: str


class ErasureRequestPath(Parameters):
    request_id: str


class PolicyPath(Parameters):
    name: str


class RunPath(Parameters):
    run_id: str


# -- query parameters --------------------------------------------------------------------


class Window(Parameters):
    """A time window: `until` defaults to now, `since` to a day before it; at most 31 days."""

    since: str | None = Field(default=None, json_schema_extra=TIME)
    until: str | None = Field(default=None, json_schema_extra=TIME)


class DocumentQuery(Window):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(json_schema_extra=STATE_ENUM, description="case-insensitive")
    source: str | None = Field(default=None, pattern=IDENTIFIER)
    limit: int = Field(default=50, ge=1, le=100)
    next_token: str | None = Field(default=None, description="from the previous page; carries its window")


class ReplayQuery(Parameters):
    limit: int = Field(default=1000, ge=1, le=MAX_REPLAY, description="messages moved back at most")


class ErasureJobQuery(Parameters):
    max_requests: int = Field(default=MAX_REQUESTS_PER_CALL, ge=1, le=MAX_REQUESTS_PER_JOB)


class AnonymizationRunQuery(Parameters):
    dry_run: bool = Field(default=False, description="count what is due and change nothing; a real run is admin's")


class MetaVerificationQuery(Parameters):
    hub_mode: str | None = Field(default=None, alias="hub.mode")
    hub_verify_token: str | None = Field(default=None, alias="hub.verify_token")
    hub_challenge: str | None = Field(default=None, alias="hub.challenge")


class EventbriteHookQuery(Parameters):
    key: str | None = Field(default=None, description="the key in the URL registered with Eventbrite")


# -- request bodies ----------------------------------------------------------------------


class ErasureRequestItem(BaseModel):
    """One subject: by email (turned into the subject id at once, never stored) or by subject id."""

    model_config = ConfigDict(extra="forbid")

    email: StrictStr | None = None
    subject_id: StrictStr | None = None


class ErasureRequestBody(ErasureRequestItem):
    """`{"email"}`, `{"subject_id"}`, or `{"requests": [...]}` of up to 100 of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["email"]}, {"required": ["subject_id"]}, {"required": ["requests"]}]
        },
    )

    # more than 100 is the domain's 413 (a batch too large), not the edge's 400: documented, not checked here
    requests: list[ErasureRequestItem] | None = Field(
        default=None, min_length=1, json_schema_extra={"maxItems": MAX_REQUESTS_PER_CALL}
    )


class SourceSettingsBody(BaseModel):
    """`PUT /sources/{name}`: the settings to change; those left out are kept."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    follow: list[StrictStr] | None = Field(default=None, description="event, form or marketplace ids")
    organization: StrictStr | None = None
    every_minutes: StrictInt | None = Field(default=None, ge=MIN_EVERY_MINUTES)
    options: dict[str, Any] | None = None


class MappingDeclaration(Mapping):
    """A mapping as `PUT /sources/{name}/mapping` takes it: `source` may be left out (the path's)."""

    source: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,39}$")  # type: ignore[assignment]


class MappingTrial(BaseModel):
    """A sample file's text and, optionally, the mapping to try (else the one in force)."""

    sample: StrictStr
    mapping: MappingDeclaration | None = None


# -- response bodies: operations, ingest -------------------------------------------------


class Health(Answer):
    status: Literal["ok"]
    app: str
    stage: str


class QueueDepth(Answer):
    queue: str
    name: str
    dead_letter: bool
    waiting: int
    in_flight: int
    delayed: int


class Queues(Answer):
    queues: list[QueueDepth]


class UploadAccepted(Answer):
    file_id: str
    bytes: int
    status: str = Field(description="the file's status link")


class Replayed(Answer):
    replayed: int


class InvocationsReplayed(Answer):
    invoked: int = Field(description="events invoked again, each in the function it failed in")
    left: int = Field(description="messages naming no function of this stage (they stay in the queue)")
    by_function: dict[str, int]


class SapReplayed(Answer):
    messages: int
    requeued_records: int


# -- the State Keeper --------------------------------------------------------------------


class Reason(Answer):
    field: str
    code: str


class DocumentSummary(Answer):
    document_id: str
    state: str = Field(json_schema_extra=STATE_ENUM)
    state_at: str
    source: str | None
    file_id: str | None


class HistoryEntry(Answer):
    state: str
    at: str
    component: str
    attempt: int
    reason_code: str | None
    chunk_id: str | None
    sap_batch_id: str | None
    reasons: list[Reason]


class Transition(Answer):
    from_state: str = Field(alias="from")
    to: str


class DocumentVersion(Answer):
    version_id: str
    version_at: str
    interaction_type: str | None
    current: bool


class DocumentView(DocumentSummary):
    subject_id: str | None
    reasons: list[Reason]
    history: list[HistoryEntry]
    irregular_transitions: list[Transition]
    versions: list[DocumentVersion]


class DocumentPage(Answer):
    documents: list[DocumentSummary]
    next_token: str | None
    since: str
    until: str


class Rejection(Answer):
    field: str
    code: str
    records: int


class FileSplit(Answer):
    """What splitting the raw file found (`FileOutcome` without its file id)."""

    raw_key: str
    source: str | None
    records: int
    chunks: int
    problems: list[Problem]
    problems_total: int
    started_at: str
    finished_at: str | None
    mapping_version: int | None = None


class FileView(Answer):
    file_id: str
    documents: int
    states: dict[str, int]
    unknown: int
    rejections: list[Rejection]
    summary: str | None
    split: FileSplit | None


class SubjectDocuments(Answer):
    subject_id: str
    documents: list[DocumentSummary]


class HourCount(Answer):
    hour: str
    source: str | None
    states: dict[str, int]


class TransitionTimes(Answer):
    from_state: str = Field(alias="from")
    to: str
    count: int
    avg_ms: float | None
    p95_ms: float | None


class Stats(Answer):
    since: str
    until: str
    counts: list[HourCount]
    transitions: list[TransitionTimes]


# -- SAP ---------------------------------------------------------------------------------


class ThrottleSettings(Answer):
    requests_per_second: float
    records_per_second: float


class EffectiveRate(Answer):
    requests_per_second: float
    records_per_second: float


class ThrottleView(Answer):
    settings: ThrottleSettings
    effective: EffectiveRate


# -- GDPR --------------------------------------------------------------------------------


class Links(Answer):
    self_link: str = Field(alias="self")


class ErasureRequestAccepted(Answer):
    request_id: str
    status: str
    links: Links


class ErasureRequestsAccepted(Answer):
    requests: list[ErasureRequestAccepted]


class ErasureRequestView(Answer):
    request_id: str
    subject_id: str
    status: str
    created_at: str
    updated_at: str
    job_id: str | None
    report: dict[str, Any] | None


class ErasureJobStarted(Answer):
    """202 with the job when pending requests were batched; 200 with `started: false` when none were."""

    started: bool
    requests: int
    job_id: str | None = None
    execution_arn: str | None = None


class PolicyView(Answer):
    """A retention policy as the API shows it: its name and id beside it."""

    name: str
    policy_id: str
    source: str | None = None
    event_id: str | None = None
    days_after_event: int
    fields: dict[str, PolicyFieldRule]


class Policies(Answer):
    policies: list[PolicyView]


class AnonymizationRun(Answer):
    run_id: str
    status: str
    dry_run: bool
    trigger: str
    started_at: str
    finished_at: str | None
    report: dict[str, Any]
    error: str | None
    links: Links


class AnonymizationRuns(Answer):
    runs: list[AnonymizationRun]


# -- sources, pulls and mappings ---------------------------------------------------------


class SourceSettingsView(Answer):
    follow: list[str]
    organization: str | None
    every_minutes: int
    options: dict[str, Any]


class Source(Answer):
    name: str
    kind: str = Field(description="webhook, pull or webhook+pull")
    raw_source: str
    webhook: str | None
    secret: str = Field(description="the name of the secret holding its credentials, never a value")
    enabled: bool
    settings: SourceSettingsView | None
    cursor: dict[str, Any] | None
    status: dict[str, Any]


class Sources(Answer):
    sources: list[Source]


class PullRun(Answer):
    pull_id: str
    source: str
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    result: dict[str, Any]
    error: str | None


class PullStarted(PullRun):
    """The run, and (as `status`) its status link: `status` here is the link, as the route answers."""

    status: str


class MappingVersions(Answer):
    mapping: Mapping
    versions: list[int]


class MappingKept(Answer):
    mapping: Mapping
    version: int


class TrialRecord(Answer):
    position: int
    valid: bool
    record: dict[str, Any] | None = None
    reasons: list[Reason] | None = None


class FileProblem(Answer):
    code: str
    message: str
    position: int | None


class MappingTrialResult(Answer):
    source: str
    records: list[TrialRecord]
    valid: int
    invalid: int
    missing_columns: list[str]
    file_problems: list[FileProblem]


class Reprocess(Answer):
    file_id: str
    reprocessed: bool
    status: str
    mapping_version: int | None = None


# -- the platforms' webhooks -------------------------------------------------------------


class WebhookReceived(Answer):
    received: int = Field(description="items queued; 0 for a test delivery or a disabled source")


class DocsAssetPath(Parameters):
    asset: str = Field(description="swagger-ui-bundle.js or swagger-ui.css")


# -- tokens, the audit log, lookups by email, retries, cancels, the console ---------------


class TokenPath(Parameters):
    token_id: str = Field(pattern=IDENTIFIER)


class JobPath(Parameters):
    job_id: str = Field(pattern=IDENTIFIER)


class ConsoleAssetPath(Parameters):
    name: str = Field(description="one of the console's files, e.g. console.js")


class TokenView(Answer):
    """A token as `GET /tokens` shows it: never the token or its hash."""

    id: str
    name: str
    role: str
    created: str = Field(json_schema_extra=TIME)
    expires: str = Field(json_schema_extra=TIME)
    last_used: str | None = None
    revoked: str | None = None
    status: Literal["active", "expired", "revoked"]


class TokenCreated(TokenView):
    token: str = Field(description="the token, shown this once")


class TokenRevoked(TokenView):
    refused_within_seconds: int


class Tokens(Answer):
    tokens: list[TokenView]


class AuditQuery(Parameters):
    since: str | None = Field(default=None, json_schema_extra=TIME)
    until: str | None = Field(default=None, json_schema_extra=TIME)
    principal: str | None = Field(default=None, description="a token id or name")
    limit: str | None = Field(default=None, pattern=r"^[0-9]{1,4}$")
    next_token: str | None = None


class AuditEntryView(Answer):
    """Who changed what: token, role, route, target ids, outcome; never a personal value."""

    at: str = Field(json_schema_extra=TIME)
    route: str
    status: int


class AuditPage(Answer):
    entries: list[AuditEntryView]
    next_token: str | None = None


class EmailQuery(Parameters):
    email: str = Field(description="turned into the subject id in memory; never stored, logged or echoed")


class RetryAccepted(Answer):
    document_id: str
    requeued: bool
    status: str


class ErasureJobCancelled(Answer):
    """What the cancel did: the job's state, and what was rewritten before it stopped."""

    job_id: str

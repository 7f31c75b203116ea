"""The one declaration of every AWS resource the Data Engine uses, per stage.

Everything else derives from `for_stage(stage)`: the names in `app.py`'s decorators,
the functions' environment variables (`.chalice/config.json`), the IAM policy, local
provisioning on the emulator (`devstack`) and the generated Terraform (`infra`).
Names are `{app}-{stage}-{purpose}`, so stages never collide in one account.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

APP_NAME = "data-engine"
STAGES = ("local", "dev", "staging", "prod")

# Functions invoked asynchronously (S3 events, schedules, `InvocationType=Event`): each gets
# an on-failure destination (`Resources.async_failures`, infra/monitoring.py), from which
# `POST /async-failures/replay` invokes them again.
ASYNC_FUNCTIONS = (
    "ingest_raw_object",
    "reprocess_file",
    "pull_sources",
    "pull_source",
    "dlq_watch",
    "gdpr_anonymization",
    "gdpr_anonymization_run",
    "gdpr_erasure_batch",
    "compact_lake",
    "daily_summary",
)


@dataclass(frozen=True)
class Bucket:
    key: str
    name: str
    env: str


@dataclass(frozen=True)
class DeadLetterQueue:
    key: str
    name: str
    env: str
    fifo: bool = False
    retention_seconds: int = 14 * 24 * 3600


@dataclass(frozen=True)
class Queue:
    key: str
    name: str
    env: str
    visibility_timeout: int
    dead_letter: DeadLetterQueue | None = None
    max_receive_count: int = 5
    fifo: bool = False
    retention_seconds: int = 4 * 24 * 3600
    # the event source mapping's batch: up to `batch_size` messages, waiting up to
    # `batching_window` seconds to fill it (Lambda allows > 10 only with a window)
    batch_size: int = 10
    batching_window: int = 0

    @property
    def all_queues(self) -> list[Queue | DeadLetterQueue]:
        return [self] + ([self.dead_letter] if self.dead_letter else [])


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    key: str
    name: str
    env: str
    hash_key: str
    range_key: str | None = None
    # attribute name -> DynamoDB scalar type ("S", "N", "B") for every key attribute
    attributes: dict[str, str] = field(default_factory=dict)
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Secret:
    """A Secrets Manager secret; Terraform declares it, operators put its value."""

    key: str
    name: str
    env: str
    description: str


@dataclass(frozen=True)
class Schedule:
    """A schedule `app.py` attaches to a function; expression in EventBridge syntax."""

    key: str
    expression: str
    description: str


@dataclass(frozen=True)
class LakeCatalog:
    """The Glue table over the lake and the Athena workgroup that queries it.

    AWS only (Terraform); locally DuckDB reads the lake behind the same query interface
    (`chalicelib/lake_access/query_engine.py`). The table's columns and partition projection are
    `chalicelib/normalize/lake.py`'s.
    """

    database: str
    table: str
    workgroup: str
    results_bucket: str  # a declared bucket's key
    bytes_scanned_cutoff: int  # per query: a runaway query stops there


@dataclass(frozen=True)
class StateMachine:
    """A Step Functions state machine whose task states are `@app.lambda_function`s."""

    key: str
    name: str
    env: str
    description: str


@dataclass(frozen=True)
class FunctionSettings:
    """Per-function Lambda settings where the app-wide defaults do not fit."""

    name: str
    timeout: int
    memory_mb: int


@dataclass(frozen=True)
class Alerting:
    """Who hears what, and how often, per stage: incident mails and the daily summary.

    An incident (a dead-letter queue holding messages, documents stuck in an in-flight
    state) mails `Resources.mail_to` when it opens, at most every `reminder_hours` while
    it stays open, and once when it is resolved.
    """

    summary_to: tuple[str, ...] = ("business-operations@example.com",)
    reminder_hours: float = 4.0
    # a document in an in-flight state (RECEIVED, NORMALIZED, QUEUED_FOR_SAP) longer than this is stuck
    stuck_after_minutes: int = 120


@dataclass(frozen=True)
class StageSettings:
    """What differs between stages besides names: sizes, limits, retention and who is alerted.

    Small in dev, sized for peaks in prod (`infra` turns them into Terraform). Reserved
    concurrency is summed per account: the three stages together stay well below the
    default 1,000 (AWS keeps 100 unreserved).
    """

    default_memory_mb: int = 1024
    # reserved concurrency: the HTTP edge gets its own share (a flood of bearer tokens cannot
    # starve the pipeline), every other function a cap; `pipeline_concurrency` names the
    # functions that differ from `default_concurrency`
    api_concurrency: int = 10
    authorizer_concurrency: int = 5
    default_concurrency: int = 2
    pipeline_concurrency: dict[str, int] = field(default_factory=dict)
    log_retention_days: int = 14
    state_history_retention_days: int | None = None  # None: the State Keeper's default (90 days)
    quarantine_expiry_days: int = 30  # rejected records (personal data) are kept this long
    access_log_retention_days: int = 90
    alert_recipients: tuple[str, ...] = ()
    api_rate_limit: float = 20.0  # requests per second, steady
    api_burst_limit: int = 40
    api_latency_alarm_ms: int = 3000  # p99 over 5 minutes
    # a queue whose oldest message is older than this is stuck (the SAP queue is throttled)
    oldest_message_alarm_seconds: int = 30 * 60
    sap_oldest_message_alarm_seconds: int = 2 * 3600
    deletion_protection: bool = False
    point_in_time_recovery: bool = False


@dataclass(frozen=True)
class Resources:
    app: str
    stage: str
    buckets: tuple[Bucket, ...]
    queues: tuple[Queue, ...]
    tables: tuple[Table, ...]
    schedules: tuple[Schedule, ...]
    secrets: tuple[Secret, ...]
    # SES identity that sends operations mail, and who receives it
    mail_from: str
    mail_to: tuple[str, ...]
    lake_catalog: LakeCatalog | None = None
    state_machines: tuple[StateMachine, ...] = ()
    functions: tuple[FunctionSettings, ...] = ()
    alerting: Alerting = Alerting()
    settings: StageSettings = field(default_factory=StageSettings)
    # where Lambda puts an asynchronously invoked function's event once its retries are
    # spent (the on-failure destination of `ASYNC_FUNCTIONS`); `POST /async-failures/replay`
    async_failures: DeadLetterQueue | None = None

    def bucket(self, key: str) -> Bucket:
        return _by_key(self.buckets, key)

    def catalog(self) -> LakeCatalog:
        """The lake's Glue and Athena names (every stage declares them)."""
        if self.lake_catalog is None:
            raise KeyError(f"stage {self.stage} declares no lake catalog")
        return self.lake_catalog

    def queue(self, key: str) -> Queue:
        return _by_key(self.queues, key)

    def table(self, key: str) -> Table:
        return _by_key(self.tables, key)

    def schedule(self, key: str) -> Schedule:
        return _by_key(self.schedules, key)

    def secret(self, key: str) -> Secret:
        return _by_key(self.secrets, key)

    def state_machine(self, key: str) -> StateMachine:
        return _by_key(self.state_machines, key)

    def failure_queue(self) -> DeadLetterQueue:
        """The on-failure destination of the asynchronously invoked functions."""
        if self.async_failures is None:
            raise KeyError(f"stage {self.stage!r} declares no async-failures queue")
        return self.async_failures

    def all_queues(self) -> list[Queue | DeadLetterQueue]:
        declared = [q for queue in self.queues for q in queue.all_queues]
        return declared + ([self.async_failures] if self.async_failures else [])

    def environment(self) -> dict[str, str]:
        """The environment variables every function of this stage gets."""
        env = {
            "STAGE": self.stage,
            "APP_NAME": self.app,
            "OPS_MAIL_FROM": self.mail_from,
            "OPS_MAIL_TO": ",".join(self.mail_to),
        }
        for item in (*self.buckets, *self.all_queues(), *self.tables, *self.secrets, *self.state_machines):
            env[item.env] = item.name
        if self.settings.state_history_retention_days is not None:
            env["STATE_HISTORY_RETENTION_DAYS"] = str(self.settings.state_history_retention_days)
        if self.lake_catalog is not None:
            env |= {
                "GLUE_DATABASE": self.lake_catalog.database,
                "LAKE_TABLE": self.lake_catalog.table,
                "ATHENA_WORKGROUP": self.lake_catalog.workgroup,
            }
        return env


def _by_key(items: tuple[Any, ...], key: str) -> Any:
    for item in items:
        if item.key == key:
            return item
    raise KeyError(f"no resource declared with key {key!r}")


def for_stage(stage: str, app: str = APP_NAME) -> Resources:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    prefix = f"{app}-{stage}"
    settings = STAGE_SETTINGS.get(stage, StageSettings())
    # rewrites hold a whole object in memory: dev's objects are small
    heavy_mb = 1536 if stage in ("local", "dev") else 3008

    def dlq(key: str, env: str, fifo: bool = False) -> DeadLetterQueue:
        suffix = ".fifo" if fifo else ""
        return DeadLetterQueue(key=key, name=f"{prefix}-{key}{suffix}", env=env, fifo=fifo)

    return Resources(
        app=app,
        stage=stage,
        buckets=(
            Bucket("raw", f"{prefix}-raw", "RAW_BUCKET"),
            Bucket("lake", f"{prefix}-lake", "LAKE_BUCKET"),
            Bucket("quarantine", f"{prefix}-quarantine", "QUARANTINE_BUCKET"),
            # Athena query results and the erasure jobs' manifests (`gdpr/jobs/`): keys,
            # counts and pseudonymous ids only; objects expire after a week
            Bucket("athena-results", f"{prefix}-athena-results", "ATHENA_RESULTS_BUCKET"),
        ),
        queues=(
            Queue(
                "normalize",
                f"{prefix}-normalize",
                "NORMALIZE_QUEUE",
                visibility_timeout=6 * FUNCTION_TIMEOUT,
                dead_letter=dlq("normalize-dlq", "NORMALIZE_DLQ"),
            ),
            Queue(
                "state-changes",
                f"{prefix}-state-changes",
                "STATE_CHANGE_QUEUE",
                visibility_timeout=6 * FUNCTION_TIMEOUT,
                dead_letter=dlq("state-changes-dlq", "STATE_CHANGE_DLQ"),
            ),
            Queue(
                "sap-dispatch",
                f"{prefix}-sap-dispatch.fifo",
                "SAP_DISPATCH_QUEUE",
                visibility_timeout=6 * FUNCTION_TIMEOUT,
                dead_letter=dlq("sap-dispatch-dlq", "SAP_DISPATCH_DLQ", fifo=True),
                # with backoff capped at a minute (sap/dispatcher.py): an SAP outage of a few
                # minutes parks nothing; a message SAP keeps failing is parked after ~7.5 minutes
                max_receive_count=20,
                fifo=True,
            ),
            # verified webhook deliveries, buffered: one collector run writes one raw file
            # per platform for up to a batch of them (intake/collect_deliveries.py); a
            # delivery whose fetch fails three times is parked in the DLQ
            Queue(
                "webhooks",
                f"{prefix}-webhooks",
                "WEBHOOK_QUEUE",
                visibility_timeout=6 * FUNCTION_TIMEOUT,
                dead_letter=dlq("webhooks-dlq", "WEBHOOK_DLQ"),
                max_receive_count=3,
                batch_size=500,
                batching_window=(2 if stage == "local" else 20),
            ),
        ),
        tables=(
            # State Keeper (README: The State Keeper): one item per document, state
            # pages, file pages and hourly counters; the only index is the subject one,
            # keys only, written once per document.
            Table(
                "state",
                f"{prefix}-state",
                "STATE_TABLE",
                hash_key="pk",
                range_key="sk",
                attributes={"pk": "S", "sk": "S", "subject": "S"},
                indexes=(Index("by_subject", "subject", projection="KEYS_ONLY"),),
                ttl_attribute="expires_at",
            ),
            Table(
                "config",
                f"{prefix}-config",
                "CONFIG_TABLE",
                hash_key="pk",
                range_key="sk",
                attributes={"pk": "S", "sk": "S"},
                ttl_attribute="expires_at",  # erasure tombstones expire (subjects/tombstones.py)
            ),
            Table(
                "sap-ledger",
                f"{prefix}-sap-ledger",
                "SAP_LEDGER_TABLE",
                hash_key="pk",
                range_key="sk",
                attributes={"pk": "S", "sk": "S"},
                ttl_attribute="expires_at",
            ),
        ),
        schedules=(
            Schedule("dlq-watch", "rate(15 minutes)", "Park dead letters; open, remind and resolve their incidents"),
            Schedule(
                "gdpr-erasure-batch",
                "rate(1 hour)",
                "Batch pending GDPR erasure requests into one job and start its workflow",
            ),
            Schedule(
                "gdpr-anonymization", "cron(30 2 * * ? *)", "Anonymize personal data past its retention date (daily)"
            ),
            Schedule(
                "lake-compaction",
                "rate(1 hour)",
                "Merge each lake partition's small objects into one (never beside an erasure job)",
            ),
            Schedule(
                "daily-summary",
                "cron(0 6 * * ? *)",
                "Mail business operations the last 24 hours: states, rejects, stuck documents, DLQs, SAP, GDPR",
            ),
            Schedule(
                "pull-sources",
                "rate(15 minutes)",
                "Pull the enabled platform sources that are due (each source sets its own interval)",
            ),
        ),
        secrets=(
            Secret(
                "subject-key",
                f"{app}/{stage}/subject-key",
                "SUBJECT_KEY_SECRET",
                "HMAC key turning normalized emails into pseudonymous subject ids",
            ),
            Secret(
                "sap", f"{app}/{stage}/sap", "SAP_SECRET", 'SAP communication user: {"base_url", "user", "password"}'
            ),
            # the platforms' credentials (README: Platforms); `*_url` keys only where a
            # platform has regional or versioned endpoints, or for the local stand-ins
            Secret(
                "google-ads", f"{app}/{stage}/google-ads", "GOOGLE_ADS_SECRET", 'Lead form webhook key: {"google_key"}'
            ),
            Secret(
                "meta",
                f"{app}/{stage}/meta",
                "META_SECRET",
                'Meta app and page: {"app_secret", "verify_token", "page_access_token", "graph_url"}',
            ),
            Secret(
                "eventbrite",
                f"{app}/{stage}/eventbrite",
                "EVENTBRITE_SECRET",
                'Eventbrite OAuth token and webhook key: {"oauth_token", "webhook_key", "api_url"}',
            ),
            Secret(
                "amazon-sp-api",
                f"{app}/{stage}/amazon-sp-api",
                "AMAZON_SP_API_SECRET",
                'SP-API LWA app: {"client_id", "client_secret", "refresh_token", "endpoint", "token_url"}',
            ),
        ),
        mail_from=f"{prefix}@example.com",
        mail_to=("business-operations@example.com",),
        alerting=Alerting(
            summary_to=("business-operations@example.com",),
            # production is watched closely; a quiet dev stage reminds once a day
            reminder_hours={"prod": 4.0, "staging": 8.0, "dev": 24.0}.get(stage, 1.0),
            stuck_after_minutes=120,
        ),
        lake_catalog=LakeCatalog(
            # Athena wants lower case and underscores in database names
            database=f"{app}_{stage}".replace("-", "_").lower(),
            table="lake_records",
            workgroup=f"{prefix}-gdpr",
            results_bucket="athena-results",
            bytes_scanned_cutoff=(1024**4 if stage == "prod" else 100 * 1024**3),
        ),
        state_machines=(
            StateMachine(
                "gdpr-erasure",
                f"{prefix}-gdpr-erasure",
                "ERASURE_STATE_MACHINE",
                "GDPR erasure: find with Athena, rewrite what was found, forget, erase in SAP, verify, report",
            ),
        ),
        functions=(
            # the find and verify wait on Athena; a rewrite holds one object (up to ~256 MB) in memory
            FunctionSettings("gdpr_find_objects", timeout=900, memory_mb=512),
            FunctionSettings("gdpr_rewrite_objects", timeout=900, memory_mb=heavy_mb),
            FunctionSettings("gdpr_verify_erasure", timeout=900, memory_mb=1024),
            FunctionSettings("gdpr_forget_subjects", timeout=900, memory_mb=1024),
            # waits on the SAP throttle and Retry-After: up to ~10 minutes for a large job
            FunctionSettings("gdpr_erase_in_sap", timeout=900, memory_mb=256),
            FunctionSettings("gdpr_anonymization", timeout=900, memory_mb=heavy_mb),
            FunctionSettings("gdpr_anonymization_run", timeout=900, memory_mb=heavy_mb),  # started by the API
            # a pull pages through a platform and polls a report; it saves its cursor per page
            FunctionSettings("pull_sources", timeout=900, memory_mb=512),
            FunctionSettings("pull_source", timeout=900, memory_mb=512),
            # splits a whole raw file again (streamed, constant memory), started by the API
            FunctionSettings("reprocess_file", timeout=900, memory_mb=512),
            # reads up to 10,000 documents per rejected and in-flight state for its figures
            FunctionSettings("daily_summary", timeout=300, memory_mb=512),
        ),
        settings=settings,
        async_failures=DeadLetterQueue("async-failures", f"{prefix}-async-failures", "ASYNC_FAILURES_QUEUE"),
    )


# Per stage (local and dev use the small defaults). Prod is sized for the case study's peak of
# millions of records an hour: normalize and the State Keeper scale out, SAP dispatch stays
# at the throttle's pace (its queue mapping's maximum concurrency is 2).
STAGE_SETTINGS = {
    "dev": StageSettings(
        default_memory_mb=512,
        pipeline_concurrency={"normalize_chunks": 5, "keep_state": 5, "ingest_raw_object": 5},
        log_retention_days=7,
        state_history_retention_days=14,
        quarantine_expiry_days=7,
        access_log_retention_days=30,
        alert_recipients=("data-engine-dev-alerts@example.com",),
    ),
    "staging": StageSettings(
        default_memory_mb=1024,
        api_concurrency=20,
        authorizer_concurrency=10,
        pipeline_concurrency={"normalize_chunks": 20, "keep_state": 10, "ingest_raw_object": 10, "dispatch_to_sap": 3},
        log_retention_days=30,
        state_history_retention_days=30,
        quarantine_expiry_days=14,
        alert_recipients=("data-engine-staging-alerts@example.com",),
        api_rate_limit=50.0,
        api_burst_limit=100,
        deletion_protection=True,
        point_in_time_recovery=True,
    ),
    "prod": StageSettings(
        default_memory_mb=1769,  # one full vCPU: normalize is CPU-bound
        api_concurrency=100,
        authorizer_concurrency=50,
        default_concurrency=5,
        pipeline_concurrency={
            "normalize_chunks": 300,
            "keep_state": 100,
            "ingest_raw_object": 50,
            "collect_webhooks": 10,
            "dispatch_to_sap": 3,
            "gdpr_rewrite_objects": 20,  # the erasure Map's parallel rewrites
        },
        log_retention_days=365,  # a year of operational history (logs carry pseudonymous ids only)
        state_history_retention_days=90,
        quarantine_expiry_days=30,
        access_log_retention_days=365,
        alert_recipients=("data-engine-alerts@example.com", "business-operations@example.com"),
        api_rate_limit=200.0,
        api_burst_limit=400,
        api_latency_alarm_ms=2000,
        oldest_message_alarm_seconds=15 * 60,
        deletion_protection=True,
        point_in_time_recovery=True,
    ),
}

# Seconds a function may run; queues' visibility timeouts derive from it (AWS requires
# visibility >= function timeout; six times leaves room for retries within a batch).
FUNCTION_TIMEOUT = 60


def current() -> Resources:
    """The resources of the stage this process runs in (`STAGE`, default `local`)."""
    return for_stage(os.environ.get("STAGE", "local"))

"""The Data Engine: one Chalice app. This file is its table of contents; logic lives in chalicelib.

The HTTP API is one Blueprint per area in `chalicelib/routes/` (domain errors answered by the
table in `chalicelib/routes/errors.py`); the event handlers below stay here, few lines each,
so their Lambda handler strings stay `app.<function>`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from chalice import Chalice
from chalice.app import S3Event, SQSEvent

from chalicelib import observability, operations, wiring
from chalicelib.anonymization.run_records import run_recorded
from chalicelib.erasure import api as erasure_api
from chalicelib.erasure.workflow import start_erasure_job
from chalicelib.ingest.uploads import file_id_from_key
from chalicelib.operations.daily_summary import send_daily_summary
from chalicelib.resources import APP_NAME, current
from chalicelib.routes import console, docs, gdpr, hooks, ingest, mappings, sap, sources, state_keeper, tokens
from chalicelib.routes import operations as operations_routes
from chalicelib.routes.access import authentication
from chalicelib.routes.edge_validation import validate_at_the_edge

app = Chalice(app_name=APP_NAME)
app.api.binary_types.extend(["application/gzip", "application/x-gzip", "multipart/form-data"])
log = logging.getLogger("data_engine")
log.setLevel(logging.INFO)
resources = current()
observer = observability.Observer(namespace=f"{APP_NAME}/{resources.stage}", file_id_of=file_id_from_key)


@app.middleware("all")
def logs_and_metrics(event: Any, get_response: Any) -> Any:
    """Every function: JSON logs with its correlation ids, its metrics flushed once, at the end."""
    return observer(event, get_response)


# -- the HTTP API: the authorizer, then one blueprint per area ----------------------------
# Each route's least role, and whether it is audited, is one line in chalicelib/routes/roles.py.

app.register_blueprint(authentication)  # token_auth: every route but /health names it
app.register_blueprint(operations_routes.routes)  # /health, /queues
app.register_blueprint(ingest.routes)  # /ingest/{source}, /ingest/replay
app.register_blueprint(state_keeper.routes)  # /documents (and retry), /files, /subjects, /stats
app.register_blueprint(sap.routes)  # /sap/throttle, /sap/replay
app.register_blueprint(gdpr.routes)  # erasure requests and jobs, retention policies, anonymization runs
app.register_blueprint(sources.routes)  # /sources: the platforms' settings, cursors, counts and pulls
app.register_blueprint(mappings.routes)  # /sources/{name}/mapping (declared sources), /files/{id}/reprocess
app.register_blueprint(tokens.routes)  # /tokens (create, list, revoke), /audit
app.register_blueprint(hooks.routes)  # /hooks/{google-ads,meta,eventbrite}: public, verified the platform's way
app.register_blueprint(console.routes)  # /console: the operations console's page and files (public; data via the API)
app.register_blueprint(docs.routes)  # /openapi.json, /docs: public, generated from the registry in routes/openapi.py
app.register_middleware(validate_at_the_edge, "http")  # queries and JSON bodies checked against the registry


# -- the pipeline ---------------------------------------------------------------------


@app.on_s3_event(bucket=resources.bucket("raw").name, prefix="incoming/", events=["s3:ObjectCreated:*"])
def ingest_raw_object(event: S3Event) -> None:
    wiring.ingest().split_file(event.bucket, event.key)


@app.lambda_function(name="reprocess_file")
def reprocess_file(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A file split again from the raw bucket (`{"file_id"}`), as `POST /files/{id}/reprocess` asked."""
    outcome = wiring.ingest().reprocess(resources.bucket("raw").name, event["file_id"])
    return outcome.model_dump(mode="json", exclude={"problems"})


@app.on_sqs_message(queue=resources.queue("normalize").name, batch_size=10)
def normalize_chunks(event: SQSEvent) -> dict[str, Any]:
    return wiring.normalizer().handle([record.to_dict() for record in event])


@app.on_sqs_message(queue=resources.queue("state-changes").name, batch_size=10, maximum_batching_window_in_seconds=1)
def keep_state(event: SQSEvent) -> dict[str, Any]:
    return wiring.state_keeper().handle([record.to_dict() for record in event])


@app.on_sqs_message(queue=resources.queue("sap-dispatch").name, batch_size=10, maximum_concurrency=2)
def dispatch_to_sap(event: SQSEvent) -> dict[str, Any]:
    return wiring.dispatcher().handle([record.to_dict() for record in event])


# -- intake: buffered webhook deliveries and the platforms' incremental pulls ---------------


@app.on_sqs_message(
    queue=resources.queue("webhooks").name,
    batch_size=resources.queue("webhooks").batch_size,
    maximum_batching_window_in_seconds=resources.queue("webhooks").batching_window,
)
def collect_webhooks(event: SQSEvent) -> dict[str, Any]:
    return wiring.delivery_collector().handle([record.to_dict() for record in event])


@app.schedule(
    resources.schedule("pull-sources").expression,
    name="pull_sources",
    description=resources.schedule("pull-sources").description,
)
def pull_sources(event: Any) -> dict[str, Any]:
    return wiring.source_pulls().run_due()


@app.lambda_function(name="pull_source")
def pull_source(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A pull run the API recorded (`{"source", "pull_id"}`), carried out and recorded."""
    run = wiring.source_states().pull_run(event["source"], event["pull_id"])
    return wiring.source_pulls().run(run).public()


@app.lambda_function(name="replay_webhook_dead_letters")
def replay_webhook_dead_letters(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"replayed": wiring.replay_webhook_dead_letters(int((event or {}).get("limit", 1000)))}


# -- dead letters ------------------------------------------------------------------------


@app.schedule(
    resources.schedule("dlq-watch").expression,
    name="dlq_watch",
    description=resources.schedule("dlq-watch").description,
)
def dlq_watch(event: Any) -> dict[str, Any]:
    chunks_parked = wiring.park_normalize_dead_letters()
    sap_parked = wiring.park_sap_dead_letters()
    watched = operations.watch_dead_letter_queues(
        resources,
        wiring.client("sqs"),
        wiring.mailer(),
        wiring.incidents(),
        wiring.state_store(),
        now=datetime.now(UTC),
        notes=[chunks_parked.mail_section(), sap_parked.mail_section()],
    )
    return {**watched, "normalize": chunks_parked.as_dict(), "sap": sap_parked.as_dict()}


@app.schedule(
    resources.schedule("daily-summary").expression,
    name="daily_summary",
    description=resources.schedule("daily-summary").description,
)
def daily_summary(event: Any) -> dict[str, Any]:
    return send_daily_summary(wiring.summary_sources(), wiring.summary_mailer(), now=datetime.now(UTC))


@app.lambda_function(name="replay_normalize_dead_letters")
def replay_normalize_dead_letters(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"replayed": wiring.replay_normalize_dead_letters(int((event or {}).get("limit", 1000)))}


@app.lambda_function(name="replay_sap_dead_letters")
def replay_sap_dead_letters(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.replay_sap_dead_letters(int((event or {}).get("limit", 1000))).as_dict()


# -- GDPR: anonymization runs, the erasure batch and the erasure workflow's task states --


@app.lambda_function(name="gdpr_anonymization_run")
def gdpr_anonymization_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A run the API recorded (`{"run_id"}`), carried out and recorded."""
    return run_recorded(
        wiring.anonymization_runs(),
        event["run_id"],
        lambda dry_run: wiring.anonymization_run().run(dry_run=dry_run).as_dict(),
    ).public()


@app.schedule(
    resources.schedule("gdpr-erasure-batch").expression,
    name="gdpr_erasure_batch",
    description=resources.schedule("gdpr-erasure-batch").description,
)
def gdpr_erasure_batch(event: Any) -> dict[str, Any]:
    return start_erasure_job(
        wiring.erasure_requests(),
        wiring.client("stepfunctions"),
        wiring.state_machine_arn("gdpr-erasure"),
        erasure_api.MAX_REQUESTS_PER_CALL,
    )


@app.schedule(
    resources.schedule("gdpr-anonymization").expression,
    name="gdpr_anonymization",
    description=resources.schedule("gdpr-anonymization").description,
)
def gdpr_anonymization(event: Any) -> dict[str, Any]:
    record = wiring.anonymization_runs().create(dry_run=False, trigger="schedule")
    return run_recorded(
        wiring.anonymization_runs(),
        record.run_id,
        lambda dry_run: wiring.anonymization_run().run(dry_run=dry_run).as_dict(),
    ).public()


@app.schedule(
    resources.schedule("lake-compaction").expression,
    name="compact_lake",
    description=resources.schedule("lake-compaction").description,
)
def compact_lake(event: Any) -> dict[str, Any]:
    return wiring.lake_compaction().run().as_dict()


# the erasure workflow's task states (chalicelib/erasure/state_machine.py names them)


@app.lambda_function(name="gdpr_find_objects")
def gdpr_find_objects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().find(event, context)


@app.lambda_function(name="gdpr_rewrite_objects")
def gdpr_rewrite_objects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().rewrite(event, context)


@app.lambda_function(name="gdpr_forget_subjects")
def gdpr_forget_subjects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().forget(event, context)


@app.lambda_function(name="gdpr_erase_in_sap")
def gdpr_erase_in_sap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().erase_in_sap(event, context)


@app.lambda_function(name="gdpr_verify_erasure")
def gdpr_verify_erasure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().verify(event, context)


@app.lambda_function(name="gdpr_report_job")
def gdpr_report_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().report(event, context)

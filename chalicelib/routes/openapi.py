"""The API's registry (method and path → models, summary, tags) and the OpenAPI 3.1 document built from it.

Chalice's own route table (`app.routes`) says which routes exist, their authorizer and media
types; `OPERATIONS` says what each one takes and answers, as models of `schemas.py`. The document
is generated from both, never written by hand, and `edge_validation.py` checks requests against
the same entries. A route without an entry fails `tests/unit/routes/test_openapi.py`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from chalice.app import RouteEntry
from pydantic import BaseModel, RootModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.anonymization.anonymize import RetentionPolicy
from chalicelib.auth.tokens import TokenRequest
from chalicelib.routes import schemas as s
from chalicelib.routes.roles import PUBLIC, ROUTE_RULES, Rule
from chalicelib.sap.api import ThrottleChange

TITLE = "Data Engine operations API"
VERSION = "1"
REF_TEMPLATE = "#/components/schemas/{model}"
BEARER = "bearer"
TEXT: Literal["text/plain"] = "text/plain"  # a response that is plain text, not a model
HTML: Literal["text/html"] = "text/html"
ASSET: Literal["asset"] = "asset"  # a docs page asset: JavaScript or CSS

Response = type[BaseModel] | Literal["text/plain", "text/html", "asset"] | None  # None: no content
Location = Literal["path", "query", "body"]


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers. `raw_body`: the body is a file or a platform's payload,
    declared with the route's media types and never parsed at the edge."""

    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Response]
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    raw_body: bool = False
    errors: tuple[int, ...] = ()  # statuses beyond 400 (and 401/403 with a token, 404 with a path parameter)
    role: str | None = None  # the role the route needs; None: its line in routes/roles.py

    def models(self) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
        inputs = [(m, "validation") for m in (self.path, self.query, self.body) if m is not None]
        outputs = [(m, "serialization") for m in self.responses.values() if isinstance(m, type)]
        return [*inputs, *outputs]  # type: ignore[list-item]


class ErasureRequestAnswer(RootModel[s.ErasureRequestAccepted | s.ErasureRequestsAccepted]):
    """One request's answer, or `{"requests": [...]}` for a batch."""


class OpenApiDocument(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document of this API."""


def op(summary: str, tag: str, responses: Mapping[int, Response], **kwargs: Any) -> Operation:
    return Operation(summary=summary, tags=(tag,), responses=responses, **kwargs)


OPS, INGEST, STATE, SAP, GDPR, SOURCES, HOOKS, DOCS, TOKENS, CONSOLE = (
    "operations",
    "ingest",
    "state keeper",
    "sap",
    "gdpr",
    "sources",
    "webhooks",
    "docs",
    "tokens and audit",
    "console",
)

OPERATIONS: dict[tuple[str, str], Operation] = {
    # operations
    ("GET", "/health"): op("Is the app up", OPS, {200: s.Health}),
    ("GET", "/queues"): op("Depths of every queue and dead-letter queue", OPS, {200: s.Queues}),
    ("POST", "/async-failures/replay"): op(
        "Invoke failed asynchronous runs again (a raw file's split, a pull, a scheduled run)",
        OPS,
        {200: s.InvocationsReplayed},
        query=s.ReplayQuery,
    ),
    # ingest
    ("POST", "/ingest/{source}"): op(
        "Upload a platform's file or JSON body (up to 5 MB)",
        INGEST,
        {202: s.UploadAccepted},
        path=s.IngestPath,
        raw_body=True,
        errors=(413, 415),
    ),
    ("POST", "/ingest/replay"): op(
        "Move parked normalize chunks back to their queue", INGEST, {200: s.Replayed}, query=s.ReplayQuery
    ),
    # the State Keeper
    ("GET", "/documents/{document_id}"): op(
        "A document's state, history and versions", STATE, {200: s.DocumentView}, path=s.DocumentPath
    ),
    ("GET", "/documents"): op(
        "Documents in a state, newest first, in pages", STATE, {200: s.DocumentPage}, query=s.DocumentQuery
    ),
    ("GET", "/files/{file_id}"): op(
        "A file's documents by state, its rejections and its split", STATE, {200: s.FileView}, path=s.FilePath
    ),
    ("GET", "/subjects/{subject_id}/documents"): op(
        "A subject's documents", STATE, {200: s.SubjectDocuments}, path=s.SubjectPath
    ),
    ("GET", "/subjects"): op(
        "A subject's documents, found by email (privacy)", STATE, {200: s.SubjectDocuments}, query=s.EmailQuery
    ),
    ("POST", "/documents/{document_id}/retry"): op(
        "Send a REJECTED_BY_SAP or PARKED document again, alone",
        STATE,
        {202: s.RetryAccepted},
        path=s.DocumentPath,
        errors=(409,),
    ),
    ("POST", "/state-changes/replay"): op(
        "Move state changes the State Keeper could not record back to its queue",
        STATE,
        {200: s.Replayed},
        query=s.ReplayQuery,
    ),
    ("GET", "/stats"): op(
        "Records per state and source per hour; transition times", STATE, {200: s.Stats}, query=s.Window
    ),
    # SAP
    ("GET", "/sap/throttle"): op("SAP's throttle: settings and effective rate", SAP, {200: s.ThrottleView}),
    ("PUT", "/sap/throttle"): op(
        "Change SAP's throttle", SAP, {200: s.ThrottleView}, body=ThrottleChange, errors=(415,)
    ),
    ("POST", "/sap/replay"): op(
        "Move parked SAP dispatches back to their queue", SAP, {200: s.SapReplayed}, query=s.ReplayQuery
    ),
    # GDPR
    ("POST", "/gdpr/erasure-requests"): op(
        "Request the erasure of one subject or up to 100",
        GDPR,
        {202: ErasureRequestAnswer},
        body=s.ErasureRequestBody,
        errors=(413, 415),
    ),
    ("GET", "/gdpr/erasure-requests/{request_id}"): op(
        "An erasure request and its report", GDPR, {200: s.ErasureRequestView}, path=s.ErasureRequestPath
    ),
    ("POST", "/gdpr/erasure-jobs"): op(
        "Batch the pending erasure requests into a job and start it",
        GDPR,
        {202: s.ErasureJobStarted, 200: s.ErasureJobStarted},
        query=s.ErasureJobQuery,
    ),
    ("POST", "/gdpr/erasure-jobs/{job_id}/cancel"): op(
        "Stop a running erasure job between objects; its requests wait for the next job",
        GDPR,
        {200: s.ErasureJobCancelled},
        path=s.JobPath,
        errors=(409,),
    ),
    ("GET", "/gdpr/retention-policies"): op("Every retention policy", GDPR, {200: s.Policies}),
    ("GET", "/gdpr/retention-policies/{name}"): op("A retention policy", GDPR, {200: s.PolicyView}, path=s.PolicyPath),
    ("PUT", "/gdpr/retention-policies/{name}"): op(
        "Declare or replace a retention policy",
        GDPR,
        {200: s.PolicyView},
        path=s.PolicyPath,
        body=RetentionPolicy,
        errors=(415,),
    ),
    ("DELETE", "/gdpr/retention-policies/{name}"): op(
        "Remove a retention policy", GDPR, {204: None}, path=s.PolicyPath
    ),
    ("POST", "/gdpr/anonymization-runs"): op(
        "Start an anonymization run (or a dry run)", GDPR, {202: s.AnonymizationRun}, query=s.AnonymizationRunQuery
    ),
    ("GET", "/gdpr/anonymization-runs"): op("The 20 latest anonymization runs", GDPR, {200: s.AnonymizationRuns}),
    ("GET", "/gdpr/anonymization-runs/{run_id}"): op(
        "An anonymization run and its report", GDPR, {200: s.AnonymizationRun}, path=s.RunPath
    ),
    # sources, pulls and mappings
    ("GET", "/sources"): op("Every platform source: settings, cursor, counts", SOURCES, {200: s.Sources}),
    ("GET", "/sources/{name}"): op("A platform source", SOURCES, {200: s.Source}, path=s.SourcePath),
    ("PUT", "/sources/{name}"): op(
        "Change a source's settings",
        SOURCES,
        {200: s.Source},
        path=s.SourcePath,
        body=s.SourceSettingsBody,
        errors=(415,),
    ),
    ("POST", "/sources/{name}/pulls"): op("Run a source's pull now", SOURCES, {202: s.PullStarted}, path=s.SourcePath),
    ("GET", "/sources/{name}/pulls/{pull_id}"): op("A pull run", SOURCES, {200: s.PullRun}, path=s.PullPath),
    ("POST", "/sources/replay"): op(
        "Move parked webhook deliveries back to their queue", SOURCES, {200: s.Replayed}, query=s.ReplayQuery
    ),
    ("GET", "/sources/{name}/mapping"): op(
        "A declared source's mapping in force and its versions", SOURCES, {200: s.MappingVersions}, path=s.SourcePath
    ),
    ("PUT", "/sources/{name}/mapping"): op(
        "Declare a source's next mapping version",
        SOURCES,
        {200: s.MappingKept},
        path=s.SourcePath,
        body=s.MappingDeclaration,
        errors=(415,),
    ),
    ("POST", "/sources/{name}/mapping/try"): op(
        "Try a mapping on a sample; stores nothing",
        SOURCES,
        {200: s.MappingTrialResult},
        path=s.SourcePath,
        body=s.MappingTrial,
        errors=(415,),
    ),
    ("POST", "/files/{file_id}/reprocess"): op(
        "Split a file again from the raw bucket", INGEST, {202: s.Reprocess, 200: s.Reprocess}, path=s.FilePath
    ),
    # the platforms' webhooks: public, verified the platform's way
    ("POST", "/hooks/google-ads"): op(
        "A Google Ads lead form lead", HOOKS, {200: s.WebhookReceived}, raw_body=True, errors=(401, 403, 415)
    ),
    ("GET", "/hooks/meta"): op(
        "Meta's subscription handshake", HOOKS, {200: TEXT}, query=s.MetaVerificationQuery, errors=(401, 403)
    ),
    ("POST", "/hooks/meta"): op(
        "Meta leadgen changes, signed", HOOKS, {200: s.WebhookReceived}, raw_body=True, errors=(401, 403, 415)
    ),
    ("POST", "/hooks/eventbrite"): op(
        "An Eventbrite notification",
        HOOKS,
        {200: s.WebhookReceived},
        query=s.EventbriteHookQuery,
        raw_body=True,
        errors=(401, 403, 415),
    ),
    # tokens and the audit log
    ("POST", "/tokens"): op(
        "Create a token (shown once)", TOKENS, {201: s.TokenCreated}, body=TokenRequest, errors=(415,)
    ),
    ("GET", "/tokens"): op("Every token: id, name, role, dates, status", TOKENS, {200: s.Tokens}),
    ("DELETE", "/tokens/{token_id}"): op("Revoke a token", TOKENS, {200: s.TokenRevoked}, path=s.TokenPath),
    ("GET", "/audit"): op("State-changing calls, newest first", TOKENS, {200: s.AuditPage}, query=s.AuditQuery),
    # the operations console: its page and files (public; the data comes from the routes above)
    ("GET", "/console"): op("The operations console", CONSOLE, {200: HTML}),
    ("GET", "/console/{name}"): op(
        "The console's scripts, styles and libraries", CONSOLE, {200: ASSET}, path=s.ConsoleAssetPath
    ),
    # this document and its docs page
    ("GET", "/openapi.json"): op("This API's OpenAPI 3.1 document", DOCS, {200: OpenApiDocument}),
    ("GET", "/docs"): op("This API's docs page (Swagger UI)", DOCS, {200: HTML}),
    ("GET", "/docs/{asset}"): op("The docs page's scripts and styles", DOCS, {200: ASSET}, path=s.DocsAssetPath),
}

ERROR_DESCRIPTIONS = {
    400: "Bad request: a parameter or the body is refused (`errors` names each field)",
    401: "No token, or the platform's check failed",
    403: "The token is unknown, or its role may not do this",
    404: "Not found",
    409: "Conflict: the resource is not in a state that allows this (the message says why)",
    413: "Too large",
    415: "Unsupported media type",
}
SUCCESS_DESCRIPTIONS = {200: "OK", 202: "Accepted: follow the status link", 204: "Done; no content"}
ASSET_TYPES = ("application/javascript", "text/css")


@dataclass
class _Schemas:
    """The components' schemas and each model's reference, from one pydantic pass (names never clash)."""

    refs: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]
    components: dict[str, Any] = field(default_factory=dict)

    def resolved(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        ref = self.refs[(model, mode)]
        return self.components[ref["$ref"].rsplit("/", 1)[1]] if "$ref" in ref else ref


def _schemas(operations: Mapping[tuple[str, str], Operation]) -> _Schemas:
    wanted = list(dict.fromkeys(pair for operation in operations.values() for pair in operation.models()))
    wanted += [(s.ErrorBody, "serialization"), (s.GatewayError, "serialization")]
    refs, top = models_json_schema(wanted, ref_template=REF_TEMPLATE)
    return _Schemas(refs=cast(Any, refs), components=top.get("$defs", {}))


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the `null` branch pydantic gives an optional field (a query
    parameter is absent, never null)."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default", "title")}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _parameters(where: Literal["path", "query"], model: type[BaseModel] | None, schemas: _Schemas) -> list[dict]:
    if model is None:
        return []
    schema = schemas.resolved(model, "validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required}
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameter["schema"] = _not_null({k: v for k, v in prop.items() if k not in ("description", "title")})
        parameters.append(parameter)
    return parameters


def _content(response: Response, schemas: _Schemas) -> dict[str, Any] | None:
    if response is None:
        return None
    if response == TEXT:
        return {TEXT: {"schema": {"type": "string"}}}
    if response == HTML:
        return {HTML: {"schema": {"type": "string"}}}
    if response == ASSET:
        return {media: {"schema": {"type": "string"}} for media in ASSET_TYPES}
    assert isinstance(response, type)
    return {"application/json": {"schema": schemas.refs[(response, "serialization")]}}


def _raw_body_schema(media_type: str) -> dict[str, Any]:
    if media_type in ("application/json", "text/plain"):
        return {"description": "the platform's or the file's own content; not parsed at the edge"}
    return {"type": "string", "format": "binary"}


def _request_body(operation: Operation, entry: RouteEntry, schemas: _Schemas) -> dict[str, Any] | None:
    if operation.raw_body:
        return {
            "required": True,
            "content": {media: {"schema": _raw_body_schema(media)} for media in entry.content_types},
        }
    if operation.body is None:
        return None
    return {"required": True, "content": {"application/json": {"schema": schemas.refs[(operation.body, "validation")]}}}


def _description(entry: RouteEntry) -> str | None:
    doc = inspect.getdoc(entry.view_function)
    return doc.split("\n\n")[0] if doc else None


def _responses(operation: Operation, public: bool, has_path: bool, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, response in sorted(operation.responses.items()):
        answer: dict[str, Any] = {"description": SUCCESS_DESCRIPTIONS.get(status, "OK")}
        content = _content(response, schemas)
        if content is not None:
            answer["content"] = content
        responses[str(status)] = answer
    statuses = {400, *operation.errors, 403}  # 403: also the gateway's answer to a path it cannot route
    if not public:
        statuses.add(401)
    if has_path:
        statuses.add(404)
    error = schemas.refs[(s.ErrorBody, "serialization")]
    gateway = schemas.refs[(s.GatewayError, "serialization")]
    for status in sorted(statuses):
        body = gateway if status in (401, 403) else error
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": body}},
        }
    return responses


def _operation(method: str, path: str, entry: RouteEntry, operation: Operation | None, schemas: _Schemas) -> dict:
    if operation is None:  # a route not declared yet: listed, but without shapes (the registry test fails)
        operation = Operation(summary=entry.view_name, tags=("undeclared",), responses={200: None})
    public = entry.authorizer is None
    parameters = _parameters("path", operation.path, schemas) + _parameters("query", operation.query, schemas)
    declared = {p["name"] for p in parameters if p["in"] == "path"}
    for name in re.findall(r"{(\w+)}", path):
        if name not in declared:
            parameters.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    document: dict[str, Any] = {
        "operationId": entry.view_name,
        "summary": operation.summary,
        "tags": list(operation.tags),
    }
    description = _description(entry)
    if description:
        document["description"] = description
    if parameters:
        document["parameters"] = parameters
    body = _request_body(operation, entry, schemas)
    if body is not None:
        document["requestBody"] = body
    document["responses"] = _responses(operation, public, "{" in path, schemas)
    document["security"] = [] if public else [{BEARER: []}]
    role = operation.role or ROUTE_RULES.get((method, path), Rule(PUBLIC)).role
    if role != PUBLIC:
        document["x-required-role"] = role  # chalicelib/routes/roles.py
    return document


def build_document(
    route_table: Mapping[str, Mapping[str, RouteEntry]],
    operations: Mapping[tuple[str, str], Operation] = OPERATIONS,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes in `route_table` (Chalice's `app.routes`)."""
    schemas = _schemas({key: operations[key] for key in operations})
    paths: dict[str, dict[str, Any]] = {}
    for path in sorted(route_table):
        for method, entry in sorted(route_table[path].items()):
            paths.setdefault(path, {})[method.lower()] = _operation(
                method, path, entry, operations.get((method, path)), schemas
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Generated from the route table and the models of `chalicelib/routes/schemas.py`.",
        },
        # relative to the document, so it works under API Gateway's stage prefix and locally
        "servers": [{"url": "."}],
        "security": [{BEARER: []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "description": "an API token (`de_...`)"}},
        },
    }


def undeclared_routes(route_table: Mapping[str, Mapping[str, RouteEntry]]) -> list[str]:
    """`METHOD path` of every route without a registry entry."""
    return sorted(f"{m} {p}" for p, methods in route_table.items() for m in methods if (m, p) not in OPERATIONS)

"""The OpenAPI document, the registry behind it, the docs page, and validation at the edge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from chalicelib.routes.edge_validation import edge_validation
from chalicelib.routes.openapi import OPERATIONS, Operation, build_document, undeclared_routes
from chalicelib.routes.schemas import ErrorBody


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from app import app

    return build_document(app.routes)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert "$defs" not in json.dumps(document)  # pydantic's definitions live in components/schemas


def test_every_route_declares_itself_in_the_registry_and_no_entry_is_stale() -> None:
    from app import app

    assert undeclared_routes(app.routes) == [], "add an entry to OPERATIONS in chalicelib/routes/openapi.py"
    declared = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert set(OPERATIONS) == declared


def test_every_route_is_in_the_document_and_only_the_public_ones_go_without_a_token(document: dict[str, Any]) -> None:
    from app import app

    public = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation["security"] == []
    }
    assert public == {
        (m, p) for p, methods in app.routes.items() for m, entry in methods.items() if entry.authorizer is None
    }
    assert {p for _, p in public} == {
        "/health",
        "/hooks/google-ads",
        "/hooks/meta",
        "/hooks/eventbrite",
        "/console",
        "/console/{name}",
        "/openapi.json",
        "/docs",
        "/docs/{asset}",
    }
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token (`de_...`)",
    }


def test_parameters_bodies_and_answers_come_from_the_models(document: dict[str, Any]) -> None:
    listing = document["paths"]["/documents"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    }
    assert next(p for p in listing["parameters"] if p["name"] == "state")["required"] is True
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DocumentPage"
    }
    throttle = document["paths"]["/sap/throttle"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert throttle == {"$ref": "#/components/schemas/ThrottleChange"}
    upload = document["paths"]["/ingest/{source}"]["post"]["requestBody"]["content"]
    assert upload["text/csv"]["schema"] == {"type": "string", "format": "binary"}
    assert set(document["paths"]["/hooks/meta"]["get"]["responses"]["200"]["content"]) == {"text/plain"}


def test_the_document_and_the_docs_page_are_served_without_a_token() -> None:
    from app import app

    with Client(app) as client:
        served = client.http.get("/openapi.json")
        page = client.http.get("/docs")
        script = client.http.get("/docs/swagger-ui-bundle.js")
        missing = client.http.get("/docs/nothing.js")
    assert served.status_code == 200 and json.loads(served.body)["paths"]
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert b'src="docs/swagger-ui-bundle.js"' in page.body and b"http" not in page.body.split(b"<body>")[1]
    assert script.status_code == 200 and script.headers["Content-Type"] == "application/javascript"
    assert b"SwaggerUIBundle" in script.body
    assert missing.status_code == 404


class Query(BaseModel):
    limit: int = Field(default=10, ge=1, le=100)


class Body(BaseModel):
    name: str
    count: int = Field(ge=0)


def an_app() -> Chalice:
    routes = Blueprint(__name__)  # a plain blueprint: no roles table for a test app

    @routes.route("/things", methods=["POST"])
    def things() -> dict[str, Any]:
        return {"ran": True}

    @routes.route("/upload", methods=["POST"], content_types=["text/csv"])
    def upload() -> dict[str, Any]:
        return {"ran": True}

    app = Chalice(app_name="edge-validation-test")
    app.register_blueprint(routes)
    app.register_middleware(
        edge_validation(
            {
                ("POST", "/things"): Operation("things", ("t",), {200: None}, query=Query, body=Body),
                ("POST", "/upload"): Operation("upload", ("t",), {200: None}, raw_body=True),
            }
        ),
        "http",
    )
    return app


def post(path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    with Client(an_app()) as client:
        response = client.http.post(path, body=body, headers={"Content-Type": content_type})
    return response.status_code, json.loads(response.body)


def test_a_valid_request_reaches_the_route() -> None:
    assert post("/things?limit=5", b'{"name": "a", "count": 1}') == (200, {"ran": True})


def test_a_refused_field_gets_400_naming_it_without_echoing_its_value() -> None:
    status, body = post("/things?limit=secret-value", b'{"name": "a", "count": -7}')
    assert status == 400
    ErrorBody.model_validate(body)
    assert [(e["in"], e["field"]) for e in body["errors"]] == [("query", "limit"), ("body", "count")]
    assert "secret-value" not in json.dumps(body) and "-7" not in json.dumps(body)


def test_a_body_that_is_not_json_or_misses_a_field_is_refused() -> None:
    assert post("/things", b"{not json")[1]["errors"] == [{"in": "body", "field": "body", "problem": "not valid JSON"}]
    status, body = post("/things", b'{"count": 1}')
    assert status == 400 and body["errors"][0]["field"] == "name"


def test_a_raw_body_is_not_parsed_and_another_media_type_is_left_to_chalice() -> None:
    assert post("/upload", b"a;b\n1;2", "text/csv") == (200, {"ran": True})
    assert post("/things", b"x", "text/csv")[0] == 415

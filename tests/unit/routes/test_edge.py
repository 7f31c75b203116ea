"""The HTTP edge without AWS: the error table, its one application point, and the authorizer on every route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice import Chalice, ForbiddenError
from chalice.test import Client

from chalicelib.erasure.exceptions import BatchTooLarge, InvalidTransition
from chalicelib.ingest.exceptions import IngestError, UnsupportedUpload, UploadTooLarge
from chalicelib.routes.errors import ERRORS, Routes, error_response
from chalicelib.routes.roles import PUBLIC, Rule, UndeclaredRoute
from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument


def test_a_listed_error_answers_with_its_status_and_chalices_body_shape() -> None:
    response = error_response(UnknownDocument("no document with this id"))
    assert response is not None
    assert (response.status_code, response.body) == (
        404,
        {"Code": "NotFoundError", "Message": "no document with this id"},
    )
    assert error_response(InvalidQuery("limit: too big")).status_code == 400  # type: ignore[union-attr]
    assert error_response(BatchTooLarge("at most 100")).body["Code"] == "PayloadTooLarge"  # type: ignore[union-attr]


def test_the_nearest_listed_class_wins() -> None:
    assert error_response(UploadTooLarge("big")).status_code == 413  # type: ignore[union-attr]
    assert error_response(UnsupportedUpload("empty")).status_code == 400  # type: ignore[union-attr]


def test_an_unlisted_error_is_not_answered() -> None:
    for error in (InvalidTransition("race"), IngestError("base"), ValueError("x"), KeyError("k")):
        assert error_response(error) is None
    assert all(issubclass(cls, Exception) and cls is not Exception for cls in ERRORS)


def an_app() -> Chalice:
    public = Rule(PUBLIC)
    routes = Routes(__name__, rules={("GET", path): public for path in ("/known", "/unknown", "/forbidden", "/fine")})

    @routes.route("/known", methods=["GET"])
    def known() -> dict[str, Any]:
        raise UnknownDocument("no document with this id")

    @routes.route("/unknown", methods=["GET"])
    def unknown() -> dict[str, Any]:
        raise InvalidTransition("someone@example.com lost a race")

    @routes.route("/forbidden", methods=["GET"])
    def forbidden() -> dict[str, Any]:
        raise ForbiddenError("this needs the admin role")

    @routes.route("/fine", methods=["GET"])
    def fine() -> dict[str, Any]:
        return {"ok": True}

    app = Chalice(app_name="edge-test")
    app.register_blueprint(routes)
    return app


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/known", 404, {"Code": "NotFoundError", "Message": "no document with this id"}),
        ("/unknown", 500, {"Code": "InternalServerError", "Message": "An internal server error occurred."}),
        ("/forbidden", 403, {"Code": "ForbiddenError", "Message": "this needs the admin role"}),
        ("/fine", 200, {"ok": True}),
    ],
)
def test_routes_answer_domain_errors_from_the_table_and_leave_the_rest_to_chalice(
    path: str, status: int, body: dict[str, Any]
) -> None:
    with Client(an_app()) as client:
        response = client.http.get(path)
    assert (response.status_code, json.loads(response.body)) == (status, body)


def test_every_route_but_health_the_webhooks_the_console_and_the_api_docs_names_the_token_authorizer() -> None:
    from app import app
    from chalicelib.routes.access import token_auth

    entries = [(path, method, entry) for path, methods in app.routes.items() for method, entry in methods.items()]
    assert len(entries) == 50
    public = {
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
    assert {path for path, _, entry in entries if entry.authorizer is None} == public
    for path, method, entry in entries:
        expected = None if path in public else token_auth
        assert entry.authorizer is expected, f"{method} {path}"
    assert [auth.name for auth in app.builtin_auth_handlers] == ["token_auth"]


def test_a_revoked_token_stops_working_within_the_authorizer_cache_of_30_seconds() -> None:
    from app import app
    from chalicelib.routes.access import AUTHORIZER_CACHE_SECONDS

    [handler] = app.builtin_auth_handlers
    assert AUTHORIZER_CACHE_SECONDS == 30
    assert handler.ttl_seconds == AUTHORIZER_CACHE_SECONDS  # API Gateway: authorizerResultTtlInSeconds


def test_a_route_without_a_declared_role_is_refused_when_it_is_registered() -> None:
    routes = Routes(__name__, rules={})
    with pytest.raises(UndeclaredRoute, match="GET /new has no role"):

        @routes.route("/new", methods=["GET"])
        def new() -> dict[str, Any]:
            return {}

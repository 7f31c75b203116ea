"""Sources declared as mappings: read, declare (admin), try on a sample; reprocess a file."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib import wiring
from chalicelib.ingest.mapping_trial import try_mapping
from chalicelib.ingest.uploads import MAX_UPLOAD_BYTES
from chalicelib.normalize.exceptions import InvalidMapping, UnknownMapping
from chalicelib.normalize.mappings import parse_mapping
from chalicelib.routes.access import caller_name, token_auth
from chalicelib.routes.errors import Routes

routes = Routes(__name__)


def _body(name: str) -> dict[str, Any]:
    body = routes.current_request.json_body
    if not isinstance(body, dict):
        raise InvalidMapping("the body is a JSON object: the mapping")
    if body.get("source", name) != name:
        raise InvalidMapping(f"the mapping's source must be {name!r}, as in the path")
    return {**body, "source": name}


@routes.route("/sources/{name}/mapping", methods=["GET"], authorizer=token_auth)
def get_mapping(name: str) -> dict[str, Any]:
    store = wiring.mappings()
    mapping = store.current(name)
    if mapping is None:
        raise UnknownMapping(f"source {name!r} has no mapping (it is read by code, or not declared)")
    return {"mapping": mapping.model_dump(mode="json"), "versions": [0, *store.versions(name)]}


@routes.route("/sources/{name}/mapping", methods=["PUT"], authorizer=token_auth)
def put_mapping(name: str) -> dict[str, Any]:
    """Declare the source's next mapping version (admin); files split from now on use it."""
    kept = wiring.mappings().put(parse_mapping(_body(name)), caller_name(routes.current_request))
    return {"mapping": kept.model_dump(mode="json"), "version": kept.version}


@routes.route(
    "/sources/{name}/mapping/try",
    methods=["POST"],
    authorizer=token_auth,
    content_types=["application/json"],
)
def try_source_mapping(name: str) -> dict[str, Any]:
    """`{"sample": "<the file's text>", "mapping": {...}}` (mapping optional: the current one);
    per record the normalized result or the reasons. Stores nothing."""
    body = routes.current_request.json_body
    if not isinstance(body, dict) or not isinstance(body.get("sample"), str):
        raise InvalidMapping('the body is {"sample": "<the file\'s text>", "mapping": {...}}')
    sample = body["sample"].encode("utf-8")
    if len(sample) > MAX_UPLOAD_BYTES:
        raise InvalidMapping(f"a sample is at most {MAX_UPLOAD_BYTES} bytes")
    if "mapping" in body:
        if not isinstance(body["mapping"], dict):
            raise InvalidMapping("mapping is a JSON object")
        mapping = parse_mapping({**body["mapping"], "source": name})
    else:
        found = wiring.mappings().current(name)
        if found is None:
            raise UnknownMapping(f"source {name!r} has no mapping to try")
        mapping = found
    return try_mapping(mapping, sample)


@routes.route("/files/{file_id}/reprocess", methods=["POST"], authorizer=token_auth)
def reprocess_file(file_id: str) -> Response:
    """Split a file again from the raw bucket (after a mapping fix), in the `reprocess_file`
    function: 202 and the file's status link. A file already read with its source's current
    mapping is left as it is: 200."""
    splitter = wiring.ingest()
    done = splitter.split_before(file_id)
    status = f"/files/{file_id}"
    if splitter.read_with_current_mapping(done):
        return Response(
            status_code=200,
            body={"file_id": file_id, "mapping_version": done.mapping_version, "reprocessed": False, "status": status},
        )
    wiring.start_reprocess(file_id)
    return Response(status_code=202, body={"file_id": file_id, "reprocessed": True, "status": status})

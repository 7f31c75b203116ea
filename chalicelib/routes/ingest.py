"""Ingest over HTTPS: a platform's upload, and replaying parked normalize chunks."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib import wiring
from chalicelib.ingest.uploads import UPLOAD_CONTENT_TYPES, store_upload
from chalicelib.normalize.sources import connector_for
from chalicelib.resources import current
from chalicelib.routes.access import token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import replay_limit

routes = Routes(__name__)
resources = current()


@routes.route("/ingest/{source}", methods=["POST"], authorizer=token_auth, content_types=UPLOAD_CONTENT_TYPES)
def ingest_upload(source: str) -> Response:
    """A file or JSON body from a platform: stored in the raw bucket, processed from there."""
    connector_for(source)
    request = routes.current_request
    body = request.raw_body if isinstance(request.raw_body, bytes) else request.raw_body.encode("utf-8")
    upload = store_upload(
        source, request.headers.get("content-type", ""), body, resources.bucket("raw").name, wiring.client("s3")
    )
    return Response(
        status_code=202, body={"file_id": upload.file_id, "bytes": upload.bytes, "status": f"/files/{upload.file_id}"}
    )


@routes.route("/ingest/replay", methods=["POST"], authorizer=token_auth)
def replay_normalize() -> dict[str, Any]:
    """Move parked chunks from the normalize DLQ back to the queue (`?limit=`, default 1000)."""
    return {"replayed": wiring.replay_normalize_dead_letters(replay_limit(routes.current_request))}

"""The middleware's log keys and metric flushing (`chalicelib/observability.py`), without AWS."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from chalice import Chalice

from chalicelib import observability
from chalicelib.ingest.uploads import file_id_from_key
from devstack.emulator import LambdaContext

log = logging.getLogger("chalicelib.tests.observability")


def an_app() -> Chalice:
    app = Chalice(app_name="observability-test")
    observer = observability.Observer(namespace="data-engine/test", file_id_of=file_id_from_key)
    app.register_middleware(observer, "all")
    return app


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_an_sqs_invocation_logs_its_ids_and_flushes_one_emf_line_per_dimension_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = an_app()

    @app.on_sqs_message(queue="chunks")
    def handle(event: Any) -> None:
        log.info("working")
        with observability.correlated(correlation_id="chunk-1", chunk_id="chunk-1"):
            log.info("in a chunk")
            observability.count("RecordsNormalized", 3, source="canonical")
        observability.count("RecordsNormalized", 2, source="canonical")
        observability.count("SapRequests", 4)
        observability.gauge("SapThrottleRequestsPerSecond", 2.5, "Count/Second")
        observability.count("Rejects", source="canonical", reason="not an id!")  # dropped dimension

    record = {"messageId": "m-1", "body": "{}", "receiptHandle": "r", "attributes": {}}
    handle({"Records": [record]}, LambdaContext("normalize_chunks"))

    working, in_chunk, *documents = printed(capsys)
    assert (working["message"], working["correlation_id"], working["message_ids"]) == ("working", "m-1", ["m-1"])
    assert working["function_name"] == "normalize_chunks" and working["function_request_id"]
    assert (in_chunk["correlation_id"], in_chunk["chunk_id"]) == ("chunk-1", "chunk-1")
    by_source = {d.get("source"): d for d in documents if "reason" not in d}
    (rejects,) = [d for d in documents if "reason" in d]
    assert (rejects["reason"], rejects["source"], rejects["Rejects"]) == ("other", "canonical", [1.0])
    assert set(by_source) == {"canonical", None}
    assert by_source["canonical"]["RecordsNormalized"] == [5.0]
    assert by_source[None]["SapRequests"] == [4.0]
    assert by_source[None]["SapThrottleRequestsPerSecond"] == [2.5]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "data-engine/test" for d in documents)


def test_an_s3_event_is_correlated_by_its_file_id_and_an_odd_key_by_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    app = an_app()

    @app.on_s3_event(bucket="raw")
    def ingest(event: Any) -> None:
        log.info("splitting")

    for key in ("incoming/canonical/2026/08/01/abc123.jsonl", "incoming/canonical/anna%40example.org.csv"):
        ingest({"Records": [{"s3": {"bucket": {"name": "raw"}, "object": {"key": key}}}]}, LambdaContext("ingest"))

    first, second = printed(capsys)
    assert first["correlation_id"] == first["file_id"] == "abc123"
    assert "correlation_id" not in second and "anna" not in json.dumps(second)


def test_outside_an_invocation_counting_and_correlating_do_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    observability.count("RecordsNormalized", 1, source="canonical")
    with observability.correlated(chunk_id="c-1"):
        pass
    assert capsys.readouterr().out == ""


def test_a_failing_handler_still_flushes_its_metrics_and_clears_its_keys(capsys: pytest.CaptureFixture[str]) -> None:
    app = an_app()

    @app.lambda_function(name="pull_source")
    def pull(event: dict[str, Any], context: Any) -> None:
        observability.count("PullsFailed")
        raise RuntimeError("platform down")

    with pytest.raises(RuntimeError):
        pull({"source": "meta", "pull_id": "p-1"}, LambdaContext("pull_source"))
    log.warning("after")

    document, after = printed(capsys)
    assert document["PullsFailed"] == [1.0] and document["correlation_id"] == "p-1"
    assert "correlation_id" not in after and "function_name" not in after

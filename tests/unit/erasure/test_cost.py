"""The cost model: measured usage times DESIGN.md's prices."""

from __future__ import annotations

import pytest

from chalicelib.erasure.cost import MB, TB, JobUsage, athena_cost, cost_per_request, erasure_transitions, job_cost


def test_athena_bills_at_least_ten_megabytes_per_query() -> None:
    assert athena_cost([1]) == pytest.approx(10 * MB / TB * 5)
    assert athena_cost([TB, 0]) == pytest.approx(5 + 10 * MB / TB * 5)


def test_a_jobs_cost_adds_every_service() -> None:
    usage = JobUsage(
        query_bytes=[TB // 10],
        s3_get=1000,
        s3_put=1000,
        s3_list=0,
        transitions=1000,
        lambda_invocations=1_000_000,
        lambda_gb_seconds=60,
        dynamodb_writes=1_000_000,
        dynamodb_reads=1_000_000,
        mails=1000,
    )
    cost = job_cost(usage)
    assert cost["athena"] == pytest.approx(0.5)
    assert cost["s3"] == pytest.approx(0.0054 + 0.00043)
    assert cost["step_functions"] == pytest.approx(0.025)
    assert cost["lambda"] == pytest.approx(60 * 0.0000166667 + 0.20)
    assert cost["dynamodb"] == pytest.approx(0.7625 + 0.1525)
    assert cost["ses"] == pytest.approx(0.10)
    assert cost["total"] == pytest.approx(sum(v for k, v in cost.items() if k != "total"))


def test_requests_share_the_job_so_batching_makes_each_cheaper() -> None:
    usage = JobUsage(query_bytes=[TB // 10, TB // 100])
    assert cost_per_request(usage, 100) < cost_per_request(usage, 10) / 9


def test_transitions_grow_with_chunks_and_verify_rounds() -> None:
    assert erasure_transitions(0) == 8
    assert erasure_transitions(3, verify_rounds=2) == 8 + 6 + 6

"""What an erasure job costs on AWS, from what it measurably did, and its share per request.

Inputs are measured, not guessed: bytes each query scanned (Athena bills at least 10 MB
per query), S3 requests the object store counted, Step Functions state transitions,
Lambda milliseconds × memory, DynamoDB writes/reads, mails. A job's cost is shared
equally by its requests; per-request costs (the API call, the request's own items) are
added to each. Prices (USD, eu-central-1) are DESIGN.md's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TB = 1024**4
MB = 1024**2


@dataclass(frozen=True)
class Prices:
    athena_per_tb: float = 5.0
    athena_min_bytes_per_query: int = 10 * MB
    s3_put_per_1k: float = 0.0054  # PUT, COPY, POST, LIST
    s3_get_per_1k: float = 0.00043  # GET and all others
    sfn_per_1k_transitions: float = 0.025
    lambda_per_gb_second: float = 0.0000166667
    lambda_per_million_requests: float = 0.20
    dynamodb_per_million_writes: float = 0.7625
    dynamodb_per_million_reads: float = 0.1525
    ses_per_1k_mails: float = 0.10
    api_gateway_per_million: float = 3.50


PRICES = Prices()


@dataclass
class JobUsage:
    """What one erasure job measurably used."""

    query_bytes: list[int] = field(default_factory=list)  # one entry per query run
    s3_get: int = 0
    s3_put: int = 0
    s3_list: int = 0
    s3_delete: int = 0  # DELETE is free
    transitions: int = 0
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    dynamodb_writes: int = 0
    dynamodb_reads: int = 0
    mails: int = 0

    def add(self, other: JobUsage) -> None:
        self.query_bytes.extend(other.query_bytes)
        for name in (
            "s3_get",
            "s3_put",
            "s3_list",
            "s3_delete",
            "transitions",
            "lambda_invocations",
            "lambda_gb_seconds",
            "dynamodb_writes",
            "dynamodb_reads",
            "mails",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> JobUsage:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def athena_cost(query_bytes: list[int], prices: Prices = PRICES) -> float:
    billed = sum(max(scanned, prices.athena_min_bytes_per_query) for scanned in query_bytes)
    return billed / TB * prices.athena_per_tb


def job_cost(usage: JobUsage, prices: Prices = PRICES) -> dict[str, float]:
    """The job's cost by service and in total, USD."""
    parts = {
        "athena": athena_cost(usage.query_bytes, prices),
        "s3": (usage.s3_put + usage.s3_list) / 1000 * prices.s3_put_per_1k + usage.s3_get / 1000 * prices.s3_get_per_1k,
        "step_functions": usage.transitions / 1000 * prices.sfn_per_1k_transitions,
        "lambda": usage.lambda_gb_seconds * prices.lambda_per_gb_second
        + usage.lambda_invocations / 1e6 * prices.lambda_per_million_requests,
        "dynamodb": usage.dynamodb_writes / 1e6 * prices.dynamodb_per_million_writes
        + usage.dynamodb_reads / 1e6 * prices.dynamodb_per_million_reads,
        "ses": usage.mails / 1000 * prices.ses_per_1k_mails,
    }
    parts["total"] = sum(parts.values())
    return parts


# A request's own cost besides its share of the job: POST + a few status GETs through API
# Gateway and Lambda, and its items in the config table (create, batch, finish).
REQUEST_API_CALLS = 3
REQUEST_DYNAMODB_WRITES = 6
REQUEST_DYNAMODB_READS = 4


def own_request_cost(prices: Prices = PRICES) -> float:
    return (
        REQUEST_API_CALLS * (prices.api_gateway_per_million + prices.lambda_per_million_requests) / 1e6
        + REQUEST_DYNAMODB_WRITES * prices.dynamodb_per_million_writes / 1e6
        + REQUEST_DYNAMODB_READS * prices.dynamodb_per_million_reads / 1e6
        # each API call's Lambda: ~100 ms at 1 GB
        + REQUEST_API_CALLS * 0.1 * prices.lambda_per_gb_second
    )


def cost_per_request(usage: JobUsage, requests: int, prices: Prices = PRICES) -> float:
    if requests < 1:
        raise ValueError("a job has at least one request")
    return job_cost(usage, prices)["total"] / requests + own_request_cost(prices)


def erasure_transitions(chunks: int, verify_rounds: int = 1) -> int:
    """State transitions of one execution of `state_machine.erasure_definition`.

    Find, Map, Forget, EraseInSap, Verify, Choice, Report, Succeed, plus two per map
    iteration (iteration start and its task), plus Find…Choice again for each extra
    verify round.
    """
    return 8 + 2 * chunks + 6 * max(0, verify_rounds - 1)


def modelled_cost_at(
    lake_bytes: int,
    bytes_scanned_fraction: float,
    subjects: int,
    objects_rewritten: int,
    object_bytes: int,
    chunk_size: int = 50,
    prices: Prices = PRICES,
) -> float:
    """USD per request for one job of `subjects` requests on a lake of `lake_bytes`.

    The scan scales with the lake (the measured fraction); the find and the verify each
    scan it once (verify only the found partitions in practice, so this is an upper bound).
    Rewrites: per object one GET and one PUT, reading and writing `object_bytes`.
    """
    usage = JobUsage(
        query_bytes=[int(lake_bytes * bytes_scanned_fraction)] * 2,
        s3_get=objects_rewritten,
        s3_put=objects_rewritten,
        transitions=erasure_transitions(-(-objects_rewritten // chunk_size)),
        lambda_invocations=5 + -(-objects_rewritten // chunk_size),
        # ~1 s of 2 GB Lambda per 64 MB rewritten, plus 5 s for the other tasks
        lambda_gb_seconds=2 * (5 + objects_rewritten * object_bytes / (64 * MB)),
        dynamodb_writes=4 * subjects,
        dynamodb_reads=2 * subjects,
        mails=1,
    )
    return cost_per_request(usage, subjects, prices)

"""Dispatch of normalized records to SAP Marketing Cloud (OData V2), throttled and exactly once.

The workflow reads in module order: `payloads` (what we send) are checked against
`metadata` (SAP's EDMX), grouped into `batch` requests that the `client` sends with
CSRF and Basic auth (`credentials`); the `dispatcher` orchestrates one SQS batch over
the ports `throttle` (shared adaptive rate limit), `ledger` (exactly-once bookkeeping)
and `retry` (backoff via SQS visibility).
"""

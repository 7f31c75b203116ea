"""The AWS prices the cost model uses: one pinned table for eu-central-1 (Frankfurt).

Pinned, not fetched: a cost figure in the README or a bench note must be reproducible, and
AWS's price list changes. `CHECKED` prices were checked against AWS's pricing pages when
the table was taken; `LIST` ones are AWS's public list prices as known then, not checked
again for Frankfurt (mostly the same as us-east-1; check them before quoting a contract).
Free tiers are not deducted: the figures are what a stage costs beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "eu-central-1"
TAKEN = "2026-11"  # the month the prices were taken
CHECKED, LIST = "checked", "list price, not checked for Frankfurt"


@dataclass(frozen=True)
class Price:
    usd: float  # US dollars per `per` units
    per: int
    unit: str
    basis: str = CHECKED

    def of(self, quantity: float) -> float:
        """What `quantity` units cost, in US dollars."""
        return quantity * self.usd / self.per


PRICES: dict[str, Price] = {
    # Lambda
    "lambda_requests": Price(0.20, 1_000_000, "invocations"),
    "lambda_gb_second_x86": Price(0.0000166667, 1, "GB-seconds"),
    "lambda_gb_second_arm64": Price(0.0000133334, 1, "GB-seconds"),
    # SQS: every 64 KB chunk of a request's payload is one request
    "sqs_standard_requests": Price(0.40, 1_000_000, "64 KB requests"),
    "sqs_fifo_requests": Price(0.50, 1_000_000, "64 KB requests"),
    # S3 Standard; COPY, POST and LIST are billed as PUT, HEAD as GET; DELETE is free
    "s3_put_copy_post_list": Price(0.0054, 1_000, "requests"),
    "s3_get": Price(0.00043, 1_000, "requests"),
    "s3_storage": Price(0.0245, 1, "GB-months"),
    # DynamoDB on demand (write unit: 1 KB written; read unit: 4 KB strongly, 8 KB eventually consistent)
    "dynamodb_write_units": Price(0.7625, 1_000_000, "write request units"),
    "dynamodb_read_units": Price(0.1525, 1_000_000, "read request units"),
    "dynamodb_storage": Price(0.306, 1, "GB-months"),
    # Athena: at least 10 MB per query
    "athena_scanned": Price(5.00, 1, "TB scanned"),
    # API Gateway REST API (first 333 million a month)
    "apigateway_rest_requests": Price(3.50, 1_000_000, "requests"),
    # Step Functions standard workflows
    "stepfunctions_transitions": Price(0.025, 1_000, "state transitions"),
    # SES outbound mail
    "ses_mails": Price(0.10, 1_000, "mails"),
    # CloudWatch
    "cloudwatch_log_ingestion": Price(0.50, 1, "GB ingested"),
    "cloudwatch_log_storage": Price(0.0324, 1, "GB-months", LIST),
    "cloudwatch_custom_metrics": Price(0.30, 1, "metric-months", LIST),  # first 10,000 metrics
    "cloudwatch_alarms": Price(0.10, 1, "standard alarm-months", LIST),
    "cloudwatch_dashboards": Price(3.00, 1, "dashboard-months", LIST),
    # Secrets Manager
    "secretsmanager_secrets": Price(0.40, 1, "secret-months", LIST),
    "secretsmanager_api_calls": Price(0.05, 10_000, "API calls", LIST),
    # Glue Data Catalog (the first million objects and requests a month are free)
    "glue_catalog_requests": Price(1.00, 1_000_000, "requests", LIST),
    "glue_catalog_objects": Price(1.00, 100_000, "object-months", LIST),
    # alarms reach people through SNS email subscriptions
    "sns_email": Price(2.00, 100_000, "notifications", LIST),
    # data transfer out to the internet (SAP's API); first 10 TB a month
    "data_transfer_out": Price(0.09, 1, "GB", LIST),
}


def price(key: str) -> Price:
    try:
        return PRICES[key]
    except KeyError:
        raise KeyError(f"no pinned price {key!r}; known: {', '.join(sorted(PRICES))}") from None

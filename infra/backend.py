"""Where Terraform keeps each stage's state, and the one-time bootstrap of an account.

A stage's state lives in S3 (`{app}/{stage}/terraform.tfstate`), locked with S3's native
lockfile (Terraform >= 1.10, no DynamoDB table). The bucket is per account
(`{app}-terraform-state-{account id}`), so it is given at `terraform init`
(`-backend-config=bucket=...`) rather than generated. `bootstrap_tf()` creates it once per
account (versioned, so an older state can be restored), together with the account-wide
role API Gateway needs to write access and execution logs.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.resources import APP_NAME, Resources

STATE_BUCKET_PREFIX = f"{APP_NAME}-terraform-state"


def state_key(resources: Resources) -> str:
    return f"{resources.app}/{resources.stage}/terraform.tfstate"


def backend_tf(resources: Resources) -> str:
    """The stage's partial S3 backend configuration (HCL: `bucket` and `region` come at init)."""
    return (
        "# The stage's remote state; the account's state bucket and the region are given at init:\n"
        "#   terraform init -backend-config=bucket=STATE_BUCKET -backend-config=region=REGION\n"
        "terraform {\n"
        '  backend "s3" {\n'
        f'    key          = "{state_key(resources)}"\n'
        "    encrypt      = true\n"
        "    use_lockfile = true\n"
        "  }\n"
        "}\n"
    )


def bootstrap_tf() -> dict[str, Any]:
    """Once per account, with local state: the state bucket and API Gateway's logging role."""
    bucket = "${aws_s3_bucket.state.id}"
    arn = "${aws_s3_bucket.state.arn}"
    return {
        "data": {"aws_caller_identity": {"current": {}}},
        "resource": {
            "aws_s3_bucket": {
                "state": {"bucket": f"{STATE_BUCKET_PREFIX}-${{data.aws_caller_identity.current.account_id}}"}
            },
            "aws_s3_bucket_versioning": {
                "state": {"bucket": bucket, "versioning_configuration": [{"status": "Enabled"}]}
            },
            "aws_s3_bucket_public_access_block": {
                "state": {
                    "bucket": bucket,
                    "block_public_acls": True,
                    "block_public_policy": True,
                    "ignore_public_acls": True,
                    "restrict_public_buckets": True,
                }
            },
            "aws_s3_bucket_server_side_encryption_configuration": {
                "state": {
                    "bucket": bucket,
                    "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}],
                }
            },
            "aws_s3_bucket_policy": {
                "state": {
                    "bucket": bucket,
                    "policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "TlsOnly",
                                    "Effect": "Deny",
                                    "Principal": "*",
                                    "Action": "s3:*",
                                    "Resource": [arn, f"{arn}/*"],
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            ],
                        }
                    ),
                    "depends_on": ["aws_s3_bucket_public_access_block.state"],
                }
            },
            "aws_s3_bucket_lifecycle_configuration": {
                "state": {
                    "bucket": bucket,
                    "rule": [
                        {
                            "id": "old-states",
                            "status": "Enabled",
                            "filter": [{"prefix": ""}],
                            "noncurrent_version_expiration": [{"noncurrent_days": 90}],
                            "abort_incomplete_multipart_upload": [{"days_after_initiation": 1}],
                        }
                    ],
                }
            },
            # API Gateway writes access and execution logs with one role per account and region
            "aws_iam_role": {
                "api_gateway_logs": {
                    "name": f"{APP_NAME}-api-gateway-logs",
                    "assume_role_policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "sts:AssumeRole",
                                    "Principal": {"Service": "apigateway.amazonaws.com"},
                                }
                            ],
                        }
                    ),
                }
            },
            "aws_iam_role_policy_attachment": {
                "api_gateway_logs": {
                    "role": "${aws_iam_role.api_gateway_logs.name}",
                    "policy_arn": "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                }
            },
            "aws_api_gateway_account": {"this": {"cloudwatch_role_arn": "${aws_iam_role.api_gateway_logs.arn}"}},
        },
        "output": {"state_bucket": {"value": bucket}},
    }

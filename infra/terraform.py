"""Terraform for a stage: Chalice's own package plus our declared resources and fixes.

`chalice package --pkg-format terraform` writes `chalice.tf.json` (functions, roles,
event sources, API Gateway). We read it and write, in native syntax (`infra/hcl.py`):

- `chalice.tf`: Chalice's output with `override_tf` applied as Terraform applies an
  override file: app- and stage-prefixed schedule rule names, `ReportBatchItemFailures` on
  SQS mappings, references (so implicit dependencies) from event sources to the queues
  and bucket they need, the REST API's name and stage, log groups, and the AWS SDK for
  pandas managed layer on every function;
- `resources.tf`: every bucket, queue, table and mail identity of the declaration, the
  catalog, the erasure state machine and the API stage;
- `versions.tf`: the Terraform and AWS provider pins (Chalice's own pins are dropped).

Why the layer: the lake is Parquet, written and rewritten with pyarrow, whose wheels
(manylinux_2_28) do not run on the python3.11 Lambda runtime and are too big to bundle.
The managed layer carries a Lambda-built pyarrow; its ARN is read from AWS's public SSM
parameter for the region, so no account id or version number is hard-coded per region.

One gap an override cannot fix: Chalice declares an unused `null_data_source`, which
makes Terraform require the `null` provider. We drop that block (nothing references it),
so `terraform init` needs only the AWS provider.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.resources import Queue, Resources, Table

TERRAFORM_VERSION = ">= 1.10.0"  # the S3 backend's native lockfile
AWS_PROVIDER_VERSION = ">= 5.0, < 6.0"
# The AWS SDK for pandas release whose Lambda layer provides pyarrow (see above).
SDK_FOR_PANDAS_VERSION = "3.16.1"
PYTHON_RUNTIME = "py3.11"  # chalice package takes the runtime from the local interpreter


def tf_name(name: str) -> str:
    """A Terraform resource label from a declared key (`sap-dispatch` -> `sap_dispatch`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def drop_null_provider(chalice_tf: dict[str, Any]) -> dict[str, Any]:
    """`chalice.tf.json` without its unused `null_data_source`, and without its `terraform`
    block (old pins, the `null` provider): `versions.tf` holds the pins."""
    chalice_tf.get("data", {}).pop("null_data_source", None)
    chalice_tf.pop("terraform", None)
    return chalice_tf


def versions_tf() -> str:
    """The Terraform and AWS provider pins, in native syntax (checkov cannot parse a
    `terraform` block written as JSON)."""
    return (
        "terraform {\n"
        f'  required_version = "{TERRAFORM_VERSION}"\n'
        "  required_providers {\n"
        f'    aws = {{\n      source  = "hashicorp/aws"\n      version = "{AWS_PROVIDER_VERSION}"\n    }}\n'
        "  }\n"
        "}\n"
    )


def access_log_bucket_name(resources: Resources) -> str:
    """The bucket that receives the S3 server access logs of the declared buckets (Terraform only)."""
    return f"{resources.app}-{resources.stage}-access-logs"


def resources_tf(resources: Resources) -> dict[str, Any]:
    resource: dict[str, dict[str, Any]] = {}
    results_key = resources.lake_catalog.results_bucket if resources.lake_catalog else None
    for bucket in resources.buckets:
        rules = [_abort_multipart_rule()]
        if bucket.key == "quarantine":  # rejected records hold personal data: kept only for a fix
            rules.append(_expiry_rule("expire-rejected", resources.settings.quarantine_expiry_days))
        if bucket.key == results_key:
            rules.append(_expiry_rule("expire", _results_expiry_days(resources)))
        for kind, blocks in _bucket_tf(tf_name(bucket.key), bucket.name, rules).items():
            resource.setdefault(kind, {}).update(blocks)
        resource.setdefault("aws_s3_bucket_logging", {})[tf_name(bucket.key)] = {
            "bucket": f"${{aws_s3_bucket.{tf_name(bucket.key)}.id}}",
            "target_bucket": "${aws_s3_bucket.access_logs.id}",
            "target_prefix": f"{bucket.name}/",
            # S3 accepts a logging target only once its policy lets the logging service write
            "depends_on": ["aws_s3_bucket_policy.access_logs"],
        }
    log_rules = [_abort_multipart_rule(), _expiry_rule("expire", resources.settings.access_log_retention_days)]
    logs = _bucket_tf("access_logs", access_log_bucket_name(resources), log_rules, log_delivery=True)
    for kind, blocks in logs.items():
        resource.setdefault(kind, {}).update(blocks)
    resource["aws_s3_bucket_ownership_controls"] = {
        "access_logs": {
            "bucket": "${aws_s3_bucket.access_logs.id}",
            "rule": [{"object_ownership": "BucketOwnerEnforced"}],
        }
    }
    for queue in resources.queues:
        resource.setdefault("aws_sqs_queue", {}).update(_queue_tf(queue))
    for table in resources.tables:
        resource.setdefault("aws_dynamodb_table", {})[tf_name(table.key)] = _table_tf(table, resources)
    resource["aws_secretsmanager_secret"] = {
        tf_name(secret.key): {"name": secret.name, "description": secret.description} for secret in resources.secrets
    }
    resource["aws_ses_email_identity"] = {"operations": {"email": resources.mail_from}}
    if resources.lake_catalog is not None:
        for kind, blocks in _lake_catalog_tf(resources).items():
            resource.setdefault(kind, {}).update(blocks)
    for kind, blocks in _state_machines_tf(resources).items():
        resource.setdefault(kind, {}).update(blocks)
    return {"resource": resource, "data": _layer_data_tf()}


def _bucket_tf(
    label: str, name: str, rules: list[dict[str, Any]], log_delivery: bool = False
) -> dict[str, dict[str, Any]]:
    """A private, encrypted, TLS-only bucket with lifecycle rules."""
    ref = f"${{aws_s3_bucket.{label}.id}}"
    arn = f"${{aws_s3_bucket.{label}.arn}}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if log_delivery:  # S3 server access logging writes with this service principal
        statements.insert(
            0,
            {
                "Sid": "ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{arn}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.current.account_id}"}},
            },
        )
    return {
        "aws_s3_bucket": {label: {"bucket": name}},
        "aws_s3_bucket_public_access_block": {
            label: {
                "bucket": ref,
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }
        },
        "aws_s3_bucket_server_side_encryption_configuration": {
            label: {"bucket": ref, "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}
        },
        "aws_s3_bucket_policy": {
            label: {
                "bucket": ref,
                "policy": json.dumps({"Version": "2012-10-17", "Statement": statements}),
                # a policy with a public principal is only accepted once public access is blocked
                "depends_on": [f"aws_s3_bucket_public_access_block.{label}"],
            }
        },
        "aws_s3_bucket_lifecycle_configuration": {label: {"bucket": ref, "rule": rules}},
    }


def _abort_multipart_rule() -> dict[str, Any]:
    return {
        "id": "abort-incomplete-uploads",
        "status": "Enabled",
        "filter": [{"prefix": ""}],
        "abort_incomplete_multipart_upload": [{"days_after_initiation": 1}],
    }


def _expiry_rule(rule_id: str, days: int) -> dict[str, Any]:
    return {"id": rule_id, "status": "Enabled", "filter": [{"prefix": ""}], "expiration": [{"days": days}]}


def _results_expiry_days(resources: Resources) -> int:
    from chalicelib.lake_access.catalog import athena_workgroup_declaration

    catalog = resources.catalog()
    results = resources.bucket(catalog.results_bucket).name
    declared = athena_workgroup_declaration(catalog.workgroup, results, catalog.bytes_scanned_cutoff)
    return int(declared["results_bucket"]["expire_after_days"])


def _layer_data_tf() -> dict[str, Any]:
    parameter = (
        f"/aws/service/aws-sdk-pandas/{SDK_FOR_PANDAS_VERSION}/${{data.aws_region.current.name}}"
        f"/{PYTHON_RUNTIME}/x86_64/layer-arn"
    )
    return {
        "aws_region": {"current": {}},
        "aws_caller_identity": {"current": {}},
        "aws_ssm_parameter": {"sdk_for_pandas_layer": {"name": parameter}},
    }


def _escape(text: str) -> str:
    """A literal for a Terraform string (`${...}` would be interpolated)."""
    return text.replace("${", "$${")


def _lake_catalog_tf(resources: Resources) -> dict[str, dict[str, Any]]:
    """Glue database, table (partition projection: no crawler) and current view; Athena workgroup."""
    from chalicelib.lake_access.catalog import (
        athena_workgroup_declaration,
        glue_table_declaration,
        glue_view_declaration,
        lake_table,
    )
    from chalicelib.normalize.sources import SOURCES

    catalog = resources.lake_catalog
    assert catalog is not None
    results = resources.bucket(catalog.results_bucket)
    table = lake_table(resources.app, resources.stage, resources.bucket("lake").name)
    glue = glue_table_declaration(table, sorted(SOURCES))
    view = glue_view_declaration(table)
    workgroup = athena_workgroup_declaration(catalog.workgroup, results.name, catalog.bytes_scanned_cutoff)
    results_label = tf_name(results.key)
    return {
        "aws_glue_catalog_database": {"lake": {"name": catalog.database}},
        "aws_glue_catalog_table": {
            "lake": {
                "name": catalog.table,
                "database_name": "${aws_glue_catalog_database.lake.name}",
                "table_type": glue["table_type"],
                "parameters": {k: _escape(v) for k, v in glue["parameters"].items()},
                "partition_keys": glue["partition_keys"],
                "storage_descriptor": [
                    {
                        "location": glue["location"],
                        "input_format": glue["input_format"],
                        "output_format": glue["output_format"],
                        "ser_de_info": [{"serialization_library": glue["serde"]}],
                        "columns": glue["columns"],
                    }
                ],
            },
            "lake_current": {
                "name": view["table"],
                "database_name": "${aws_glue_catalog_database.lake.name}",
                "table_type": view["table_type"],
                "view_original_text": view["view_original_text"],
                "view_expanded_text": view["view_expanded_text"],
                "parameters": view["parameters"],
                "storage_descriptor": [{"columns": view["columns"]}],
            },
        },
        "aws_athena_workgroup": {
            "gdpr": {
                "name": workgroup["name"],
                "configuration": [
                    {
                        "enforce_workgroup_configuration": workgroup["enforce_workgroup_configuration"],
                        "publish_cloudwatch_metrics_enabled": workgroup["publish_cloudwatch_metrics"],
                        "bytes_scanned_cutoff_per_query": workgroup["bytes_scanned_cutoff_per_query"],
                        "engine_version": [{"selected_engine_version": workgroup["engine_version"]}],
                        "result_configuration": [
                            {
                                "output_location": f"s3://${{aws_s3_bucket.{results_label}.bucket}}/athena/",
                                "encryption_configuration": [{"encryption_option": workgroup["encryption"]}],
                            }
                        ],
                    }
                ],
                # the workgroup's Athena spend, found by these in Cost Explorer
                "tags": {"app": resources.app, "stage": resources.stage, "feature": "gdpr"},
            }
        },
    }


def _state_machines_tf(resources: Resources) -> dict[str, dict[str, Any]]:
    """Each state machine, with a role that may invoke only the functions of its task states."""
    from chalicelib.erasure.state_machine import DEFINITIONS

    blocks: dict[str, dict[str, Any]] = {}
    for machine in resources.state_machines:
        label = tf_name(machine.key)
        tasks: set[str] = set()

        def task_arn(name: str, tasks: set[str] = tasks) -> str:
            tasks.add(name)
            return f"${{aws_lambda_function.{name}.arn}}"  # a reference: Terraform creates the function first

        definition = DEFINITIONS[machine.key](task_arn)
        blocks.setdefault("aws_iam_role", {})[f"{label}_sfn"] = {
            "name": f"{machine.name}-sfn",
            "assume_role_policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "states.amazonaws.com"},
                        }
                    ],
                }
            ),
        }
        blocks.setdefault("aws_iam_role_policy", {})[f"{label}_sfn"] = {
            "name": "invoke-task-functions",
            "role": f"${{aws_iam_role.{label}_sfn.id}}",
            "policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "InvokeTaskFunctions",  # its own task states' functions, no other
                            "Effect": "Allow",
                            "Action": "lambda:InvokeFunction",
                            "Resource": [f"${{aws_lambda_function.{name}.arn}}" for name in sorted(tasks)],
                        },
                        {
                            # CloudWatch Logs' log delivery actions have no resource-level permissions
                            "Sid": "ExecutionLogs",
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogDelivery",
                                "logs:GetLogDelivery",
                                "logs:UpdateLogDelivery",
                                "logs:DeleteLogDelivery",
                                "logs:ListLogDeliveries",
                                "logs:PutResourcePolicy",
                                "logs:DescribeResourcePolicies",
                                "logs:DescribeLogGroups",
                            ],
                            "Resource": "*",
                        },
                        {
                            "Sid": "Tracing",  # X-Ray has no resource-level permissions
                            "Effect": "Allow",
                            "Action": [
                                "xray:PutTraceSegments",
                                "xray:PutTelemetryRecords",
                                "xray:GetSamplingRules",
                                "xray:GetSamplingTargets",
                            ],
                            "Resource": "*",
                        },
                    ],
                }
            ),
        }
        blocks.setdefault("aws_cloudwatch_log_group", {})[f"{label}_sfn"] = {
            "name": f"/aws/vendedlogs/states/{machine.name}",
            "retention_in_days": resources.settings.log_retention_days,
        }
        blocks.setdefault("aws_sfn_state_machine", {})[label] = {
            "name": machine.name,
            "role_arn": f"${{aws_iam_role.{label}_sfn.arn}}",
            "definition": json.dumps(definition, sort_keys=True),
            # errors only, with their state's data: states carry ids and counts, never personal data
            "logging_configuration": [
                {
                    "log_destination": f"${{aws_cloudwatch_log_group.{label}_sfn.arn}}:*",
                    "include_execution_data": True,
                    "level": "ERROR",
                }
            ],
            "tracing_configuration": [{"enabled": True}],
        }
    return blocks


def _queue_tf(queue: Queue) -> dict[str, Any]:
    queues: dict[str, Any] = {}
    main: dict[str, Any] = {
        "name": queue.name,
        "visibility_timeout_seconds": queue.visibility_timeout,
        "message_retention_seconds": queue.retention_seconds,
        "sqs_managed_sse_enabled": True,
    }
    if queue.fifo:
        main |= {"fifo_queue": True, "content_based_deduplication": False}
    if queue.dead_letter is not None:
        dlq = queue.dead_letter
        queues[tf_name(dlq.key)] = {
            "name": dlq.name,
            "message_retention_seconds": dlq.retention_seconds,
            "sqs_managed_sse_enabled": True,
        } | ({"fifo_queue": True} if dlq.fifo else {})
        main["redrive_policy"] = (
            f"${{jsonencode({{deadLetterTargetArn = aws_sqs_queue.{tf_name(dlq.key)}.arn, "
            f"maxReceiveCount = {queue.max_receive_count}}})}}"
        )
    queues[tf_name(queue.key)] = main
    return queues


def _table_tf(table: Table, resources: Resources) -> dict[str, Any]:
    settings = resources.settings
    declared: dict[str, Any] = {
        "name": table.name,
        "billing_mode": "PAY_PER_REQUEST",
        "hash_key": table.hash_key,
        "attribute": [{"name": name, "type": kind} for name, kind in table.attributes.items()],
        "point_in_time_recovery": [{"enabled": settings.point_in_time_recovery}],
        "deletion_protection_enabled": settings.deletion_protection,
        "server_side_encryption": [{"enabled": True}],
    }
    if table.range_key:
        declared["range_key"] = table.range_key
    if table.indexes:
        declared["global_secondary_index"] = [
            {"name": index.name, "hash_key": index.hash_key, "projection_type": index.projection}
            | ({"range_key": index.range_key} if index.range_key else {})
            | ({"non_key_attributes": list(index.non_key_attributes)} if index.non_key_attributes else {})
            for index in table.indexes
        ]
    if table.ttl_attribute:
        declared["ttl"] = [{"attribute_name": table.ttl_attribute, "enabled": True}]
    return declared


def override_tf(chalice_tf: dict[str, Any], resources: Resources) -> dict[str, Any]:
    """Overrides for the blocks of `chalice.tf.json` that need fixing."""
    generated = chalice_tf.get("resource", {})
    queues_by_name = {q.name: q for q in resources.queues}
    mappings = {}
    for label, mapping in generated.get("aws_lambda_event_source_mapping", {}).items():
        queue = queues_by_name[mapping["event_source_arn"].rsplit(":", 1)[-1]]
        mappings[label] = {
            "event_source_arn": f"${{aws_sqs_queue.{tf_name(queue.key)}.arn}}",
            "function_response_types": ["ReportBatchItemFailures"],
        }
    rules = {
        label: {"name": f"{resources.app}-{resources.stage}-{rule['name']}"}
        for label, rule in generated.get("aws_cloudwatch_event_rule", {}).items()
    }
    buckets_by_name = {b.name: b for b in resources.buckets}
    notifications = {
        label: {"bucket": f"${{aws_s3_bucket.{tf_name(buckets_by_name[n['bucket']].key)}.id}}"}
        for label, n in generated.get("aws_s3_bucket_notification", {}).items()
    }
    override: dict[str, Any] = {"resource": {}}
    # the layer; and the declared log group (monitoring.tf), referenced so it exists
    # before the function first logs (the role may not create log groups)
    api = {}
    if "rest_api" in generated.get("aws_api_gateway_rest_api", {}):
        api = {
            "aws_api_gateway_rest_api": {
                "rest_api": {"name": f"{resources.app}-{resources.stage}", "lifecycle": {"create_before_destroy": True}}
            },
            # the stage is declared on its own (api_stage_tf); a new deployment when the API changes
            "aws_api_gateway_deployment": {
                "rest_api": {"stage_name": None, "triggers": {"redeployment": "${md5(local.chalice_api_swagger)}"}}
            },
        }
    layers = {
        label: {
            "layers": ["${data.aws_ssm_parameter.sdk_for_pandas_layer.value}"],
            "logging_config": [{"log_format": "Text", "log_group": f"${{aws_cloudwatch_log_group.{label}.name}}"}],
        }
        for label in generated.get("aws_lambda_function", {})
    }
    for kind, blocks in (
        *api.items(),
        ("aws_lambda_function", layers),
        ("aws_lambda_event_source_mapping", mappings),
        ("aws_cloudwatch_event_rule", rules),
        ("aws_s3_bucket_notification", notifications),
    ):
        if blocks:
            override["resource"][kind] = blocks
    if api:
        override["output"] = {"EndpointURL": {"value": "${aws_api_gateway_stage.api.invoke_url}"}}
    return override


# What an access log line holds: who (the token's principal), what route, how it went.
# No bodies, headers, tokens, query strings or client addresses.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "principal": "$context.authorizer.principalId",
    "authorizerError": "$context.authorizer.error",
    "errorType": "$context.error.responseType",
    "xrayTraceId": "$context.xrayTraceId",
}


def api_stage_tf(resources: Resources) -> dict[str, Any]:
    """The REST API's stage: JSON access logs, X-Ray, throttling, metrics, error-level execution logs."""
    settings = resources.settings
    return {
        "aws_cloudwatch_log_group": {
            "api_access": {
                "name": f"/aws/apigateway/{resources.app}-{resources.stage}-access",
                "retention_in_days": settings.log_retention_days,
            }
        },
        "aws_api_gateway_stage": {
            "api": {
                "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                "deployment_id": "${aws_api_gateway_deployment.rest_api.id}",
                "stage_name": "api",
                "xray_tracing_enabled": True,
                "access_log_settings": [
                    {
                        "destination_arn": "${aws_cloudwatch_log_group.api_access.arn}",
                        "format": json.dumps(ACCESS_LOG_FIELDS, sort_keys=True),
                    }
                ],
            }
        },
        "aws_api_gateway_method_settings": {
            "all": {
                "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                "stage_name": "${aws_api_gateway_stage.api.stage_name}",
                "method_path": "*/*",
                "settings": [
                    {
                        "metrics_enabled": True,
                        "logging_level": "ERROR",
                        "data_trace_enabled": False,  # never log request or response bodies
                        "throttling_rate_limit": settings.api_rate_limit,
                        "throttling_burst_limit": settings.api_burst_limit,
                        "caching_enabled": False,
                    }
                ],
            }
        },
    }

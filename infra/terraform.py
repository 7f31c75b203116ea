"""Terraform for a stage: Chalice's own package plus our declared resources and fixes.

`chalice package --pkg-format terraform` writes `chalice.tf.json` (functions, roles,
event sources, API Gateway). Next to it we write:

- `resources.tf.json`: every bucket, queue, table and mail identity of the declaration;
- `chalice_override.tf.json`: Terraform's override mechanism fixes Chalice's gaps without
  editing its output: current Terraform/provider pins, app- and stage-prefixed schedule
  rule names, `ReportBatchItemFailures` on SQS mappings, references (so implicit
  dependencies) from event sources to the queues and bucket they need, and the AWS SDK
  for pandas managed layer on every function.

Why the layer: the lake is Parquet, written and rewritten with pyarrow, whose wheels
(manylinux_2_28) do not run on the python3.11 Lambda runtime and are too big to bundle.
The managed layer carries a Lambda-built pyarrow; its ARN is read from AWS's public SSM
parameter for the region, so no account id or version number is hard-coded per region.

One gap an override cannot fix: Chalice declares an unused `null_data_source`, which
makes Terraform require the `null` provider. We drop that block and requirement from
`chalice.tf.json` (nothing references it), so `terraform init` needs only the AWS provider.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.resources import Queue, Resources, Table

TERRAFORM_VERSION = ">= 1.5.0"
AWS_PROVIDER_VERSION = ">= 5.0, < 6.0"
# The AWS SDK for pandas release whose Lambda layer provides pyarrow (see above).
SDK_FOR_PANDAS_VERSION = "3.16.1"
PYTHON_RUNTIME = "py3.11"  # chalice package takes the runtime from the local interpreter


def tf_name(name: str) -> str:
    """A Terraform resource label from a declared key (`sap-dispatch` -> `sap_dispatch`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def drop_null_provider(chalice_tf: dict[str, Any]) -> dict[str, Any]:
    """`chalice.tf.json` without its unused `null_data_source` and `null` provider pin."""
    chalice_tf.get("data", {}).pop("null_data_source", None)
    chalice_tf.get("terraform", {}).get("required_providers", {}).pop("null", None)
    return chalice_tf


def resources_tf(resources: Resources) -> dict[str, Any]:
    resource: dict[str, dict[str, Any]] = {}
    for bucket in resources.buckets:
        label = tf_name(bucket.key)
        resource.setdefault("aws_s3_bucket", {})[label] = {"bucket": bucket.name}
        resource.setdefault("aws_s3_bucket_public_access_block", {})[label] = {
            "bucket": f"${{aws_s3_bucket.{label}.id}}",
            "block_public_acls": True,
            "block_public_policy": True,
            "ignore_public_acls": True,
            "restrict_public_buckets": True,
        }
        resource.setdefault("aws_s3_bucket_server_side_encryption_configuration", {})[label] = {
            "bucket": f"${{aws_s3_bucket.{label}.id}}",
            "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}],
        }
    for queue in resources.queues:
        resource.setdefault("aws_sqs_queue", {}).update(_queue_tf(queue))
    for table in resources.tables:
        resource.setdefault("aws_dynamodb_table", {})[tf_name(table.key)] = _table_tf(table)
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


def _layer_data_tf() -> dict[str, Any]:
    parameter = (
        f"/aws/service/aws-sdk-pandas/{SDK_FOR_PANDAS_VERSION}/${{data.aws_region.current.name}}"
        f"/{PYTHON_RUNTIME}/x86_64/layer-arn"
    )
    return {"aws_region": {"current": {}}, "aws_ssm_parameter": {"sdk_for_pandas_layer": {"name": parameter}}}


def _escape(text: str) -> str:
    """A literal for a Terraform string (`${...}` would be interpolated)."""
    return text.replace("${", "$${")


def _lake_catalog_tf(resources: Resources) -> dict[str, dict[str, Any]]:
    """Glue database and table (partition projection: no crawler), Athena workgroup, results expiry."""
    from chalicelib.lake_access.catalog import athena_workgroup_declaration, glue_table_declaration, lake_table
    from chalicelib.normalize.sources import SOURCES

    catalog = resources.lake_catalog
    assert catalog is not None
    results = resources.bucket(catalog.results_bucket)
    table = lake_table(resources.app, resources.stage, resources.bucket("lake").name)
    glue = glue_table_declaration(table, sorted(SOURCES))
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
            }
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
            }
        },
        "aws_s3_bucket_lifecycle_configuration": {
            results_label: {
                "bucket": f"${{aws_s3_bucket.{results_label}.id}}",
                "rule": [
                    {
                        "id": "expire",
                        "status": "Enabled",
                        "filter": [{"prefix": ""}],
                        "expiration": [{"days": workgroup["results_bucket"]["expire_after_days"]}],
                    }
                ],
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
                        }
                    ],
                }
            ),
        }
        blocks.setdefault("aws_sfn_state_machine", {})[label] = {
            "name": machine.name,
            "role_arn": f"${{aws_iam_role.{label}_sfn.arn}}",
            "definition": json.dumps(definition, sort_keys=True),
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


def _table_tf(table: Table) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "name": table.name,
        "billing_mode": "PAY_PER_REQUEST",
        "hash_key": table.hash_key,
        "attribute": [{"name": name, "type": kind} for name, kind in table.attributes.items()],
        "point_in_time_recovery": [{"enabled": True}],
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
    override: dict[str, Any] = {
        "terraform": {
            "required_version": TERRAFORM_VERSION,
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}},
        },
        "resource": {},
    }
    # the layer; and the declared log group (monitoring.tf.json), referenced so it exists
    # before the function first logs (the role may not create log groups)
    layers = {
        label: {
            "layers": ["${data.aws_ssm_parameter.sdk_for_pandas_layer.value}"],
            "logging_config": [{"log_format": "Text", "log_group": f"${{aws_cloudwatch_log_group.{label}.name}}"}],
        }
        for label in generated.get("aws_lambda_function", {})
    }
    for kind, blocks in (
        ("aws_lambda_function", layers),
        ("aws_lambda_event_source_mapping", mappings),
        ("aws_cloudwatch_event_rule", rules),
        ("aws_s3_bucket_notification", notifications),
    ):
        if blocks:
            override["resource"][kind] = blocks
    return override


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"

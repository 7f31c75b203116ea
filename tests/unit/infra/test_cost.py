"""The cost command's arithmetic on a small hand-made request-count file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import cost
from infra.prices import price

# GIVEN one record costs 2 State Keeper write units, one FIFO send, one lake PUT of 2 KB and
# a hundredth of a keep_state invocation of 0.1 s
MEASURED = {
    "taken": "2026-11-28",
    "per_record": {
        "all": {
            "records": 1000,
            "requests": [
                {"service": "dynamodb", "operation": "PutItem", "resource": "state", "requests": 1.0, "units": 2.0},
                {
                    "service": "sqs",
                    "operation": "SendMessageBatch",
                    "resource": "sap-dispatch.fifo",
                    "requests": 1.0,
                    "units": 1.0,
                },
                {"service": "s3", "operation": "PutObject", "resource": "lake", "requests": 1.0, "units": 1.0},
                # what the local runtime does and AWS does not bill per record
                {
                    "service": "sqs",
                    "operation": "ReceiveMessage(empty)",
                    "resource": "normalize",
                    "requests": 9.0,
                    "units": 9.0,
                },
                {
                    "service": "sqs",
                    "operation": "ReceiveMessage",
                    "resource": "devstack-s3-data-engine-local-ingest_raw_object",
                    "requests": 1.0,
                    "units": 1.0,
                },
            ],
            "lambda": {"keep_state": {"invocations": 0.01, "seconds": 0.1}},
            "bytes_stored": {"lake": 2048, "raw": 0, "state": 0},
        }
    },
}


def line(result: cost.Estimate, feature: str, item: str) -> float:
    return sum(x.usd_per_month for x in result.lines if x.feature == feature and x.item.startswith(item))


def test_it_prices_each_measured_request_for_its_feature() -> None:
    result = cost.estimate("prod", 1_000_000, 0, MEASURED)
    assert line(result, "state_keeper", "dynamodb requests") == pytest.approx(2 * 0.7625)
    assert line(result, "sap_dispatch", "sqs requests") == pytest.approx(0.50)
    assert line(result, "normalize", "s3 requests") == pytest.approx(5.40)
    # keep_state: 10,000 invocations and 100,000 s at the default 1,024 MB
    default_mb, _ = cost.function_memory("prod")
    expected = 10_000 * 0.20e-6 + 100_000 * default_mb / 1024 * price("lambda_gb_second_x86").usd
    assert line(result, "state_keeper", "lambda keep_state") == pytest.approx(expected)
    assert not any(
        x.feature == "normalize" and x.item == "sqs requests" for x in result.lines
    )  # empty polls: fixed part


def test_doubling_records_doubles_the_per_record_part_and_leaves_the_fixed_part() -> None:
    once = cost.estimate("prod", 10_000_000, 50, MEASURED)
    twice = cost.estimate("prod", 20_000_000, 50, MEASURED)
    assert once.total(per_record=True) > 0 and once.total(per_record=False) > 0
    assert twice.total(per_record=True) == pytest.approx(2 * once.total(per_record=True))
    assert twice.total(per_record=False) == pytest.approx(once.total(per_record=False))
    assert line(twice, "gdpr", "athena") == pytest.approx(2 * line(once, "gdpr", "athena"))  # a lake twice the size


def test_the_fixed_part_follows_the_declaration() -> None:
    result = cost.estimate("prod", 0, 0, MEASURED)
    secrets = len(cost.for_stage("prod").secrets)
    assert sum(x.usd_per_month for x in result.lines if x.item.startswith("secret ")) == pytest.approx(0.40 * secrets)
    assert cost.runs_per_month("rate(15 minutes)") == pytest.approx(730 * 4)
    assert cost.runs_per_month("cron(30 2 * * ? *)") == pytest.approx(730 / 24)
    assert result.total(per_record=True) == 0


def test_the_command_prints_a_table_and_one_json_line_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps(MEASURED))
    parser = cost.argparse.ArgumentParser()
    cost.add_command(parser.add_subparsers(dest="command"))
    cost.run(parser.parse_args(["cost", "prod", "--records-per-month", "1000000", "--requests", str(requests)]))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["stage"] == "prod" and last["records_per_month"] == 1_000_000
    assert last["usd_per_month"] == pytest.approx(sum(last["by_feature"].values()), abs=0.05)

"""A short chaos run (`bench/chaos.py`, scaled down): SAP, the workers and AWS misbehave, nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHORT = [
    *("--batch-records", "20", "--webhook-records", "10"),
    *("--pace", "1", "--outage", "8", "--outage-step", "2", "--storm", "4", "--lost-answer-delay", "6"),
    *("--aws-seconds", "30", "--aws-share", "0.15", "--duplicates", "0.2"),
    *("--visibility-timeout", "5", "--lease", "10", "--timeout", "240"),
]


def test_a_short_chaos_run_loses_nothing_and_sends_nothing_twice() -> None:
    # GIVEN the local stack in a process of its own, fed every batch source and webhook leads
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.TemporaryFile(mode="w+") as log:  # a file, not a pipe: the stack logs a lot
        # WHEN SAP, the workers and AWS misbehave during the run, and the DLQs are replayed after
        finished = subprocess.run(
            [sys.executable, "bench/chaos.py", *SHORT],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
        log.seek(0)
        output = log.read()
    assert finished.returncode == 0, output[-5000:]
    result = json.loads(output.strip().splitlines()[-1])
    # THEN every record is final (or parked), none is lost, SAP holds none twice
    assert result["lost"] == 0, output[-5000:]
    assert result["sap_duplicates"] == 0, output[-5000:]
    assert result["records"] > 100 and result["final"] + result["parked"] == result["records"]
    # AND every kind of fault did happen
    injected = result["faults_injected"]
    # (the outage is scheduled too, but a run this small may have sent everything before it:
    # requests it refused are counted by the full bench, bench/README.md)
    for kind in ("sap_429", "sap_5xx", "sap_slow", "sap_reset", "worker_kills", "duplicate_deliveries"):
        assert injected[kind] > 0, (kind, injected)
    by_service = {
        service: sum(n for label, n in injected.items() if label.startswith(f"{service}:"))
        for service in ("dynamodb", "sqs", "s3", "ses")
    }
    assert all(by_service.values()), by_service
    assert injected.get("dynamodb:ProvisionedThroughputExceededException", 0) + injected.get(
        "dynamodb:ThrottlingException", 0
    ), injected

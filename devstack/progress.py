"""`up --samples DIR`: deliver the sample files and follow them until every record has settled."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from devstack.samples import upload_samples
from devstack.stack import DevStack

SETTLE_TIMEOUT = 300.0


def run_samples(stack: DevStack, samples_dir: Path, stopped: threading.Event) -> dict[str, int]:
    """Upload the samples, wait until the pipeline is idle, print records per state per file."""
    from chalicelib import wiring
    from chalicelib.ingest.uploads import file_id_from_key

    assert stack.runtime is not None and stack.session is not None
    keys = upload_samples(samples_dir, stack.resources.bucket("raw").name, stack.session.client("s3"))
    print(f"\nuploaded {len(keys)} sample files from {samples_dir}; processing…", flush=True)
    started = time.monotonic()
    deadline = started + SETTLE_TIMEOUT
    while not stopped.is_set() and time.monotonic() < deadline:
        if stack.runtime.wait_until_idle(timeout=2.0):
            break
        print(f"  … {_in_flight(stack)} messages in flight", flush=True)
    elapsed = time.monotonic() - started

    totals: Counter[str] = Counter()
    print(f"\n{'file':<52} {'records':>7}  states")
    for key in keys:
        file_id = file_id_from_key(key)
        outcome = wiring.file_outcomes().get(file_id)
        states = wiring.state_queries().file_outcome(file_id)["states"]
        totals.update(states)
        problems = f"  ({outcome.problems_total} file problems)" if outcome and outcome.problems_total else ""
        shown = ", ".join(f"{state} {count}" for state, count in states.items())
        print(f"{key.split('/', 1)[1]:<52} {outcome.records if outcome else 0:>7}  {shown}{problems}")
    print(
        f"\nall records: {sum(totals.values())} in {elapsed:.1f} s — "
        + ", ".join(f"{state} {count}" for state, count in sorted(totals.items())),
        flush=True,
    )
    return dict(totals)


def _in_flight(stack: DevStack) -> int:
    sqs = stack.session.client("sqs")
    total = 0
    for queue in stack.resources.all_queues():
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )
        total += sum(int(value) for value in attributes["Attributes"].values())
    return total

"""`up --samples DIR`: deliver the sample files and follow them until every record has settled."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from chalicelib.ingest.uploads import file_id_from_key
from devstack.samples import declare_sample_mappings, upload_samples
from devstack.stack import DevStack

SETTLE_TIMEOUT = 300.0


def run_samples(stack: DevStack, samples_dir: Path, stopped: threading.Event) -> dict[str, int]:
    """Upload the samples, wait until the pipeline is idle, print records per state per file."""
    from chalicelib import wiring

    assert stack.runtime is not None and stack.session is not None
    declared = declare_sample_mappings(samples_dir)
    if declared:
        print(f"\nsources declared as mappings: {', '.join(declared)}", flush=True)
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
    documents: set[str] = set()
    print(f"\n{'file':<52} {'records':>7}  states")
    for key in keys:
        file_id = file_id_from_key(key)
        documents |= wiring.state_store().file_document_ids(file_id)
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
    records = wiring.state_store().get_many(documents).values()
    versioned = [r for r in records if len(r.versions) > 1]
    print(
        f"documents: {len(documents)}; {len(versioned)} of them re-sent with news, as versions of one document"
        + "".join(
            f"\n  {r.document_id} ({r.source}): " + " → ".join(v.interaction or "?" for v in reversed(r.versions))
            for r in versioned
        ),
        flush=True,
    )
    return dict(totals)


def run_platforms(stack: DevStack, token: str, stopped: threading.Event) -> dict[str, dict[str, int]]:
    """One webhook and one pull per platform, through the running API; prints what each brought."""
    import requests

    from chalicelib import wiring
    from chalicelib.intake.catalogue import INTAKE_SOURCES
    from devstack.play_hook import PLATFORMS, play

    assert stack.runtime is not None and stack.session is not None
    raw_bucket = stack.resources.bucket("raw").name
    before = set(_raw_keys(stack, raw_bucket))
    print("\nplatforms: one webhook and one pull each", flush=True)
    for platform in PLATFORMS:
        refused = play(platform, stack.api_url, stack.emulator.endpoint, bad_signature=True).status_code
        answered = play(platform, stack.api_url, stack.emulator.endpoint).status_code
        print(f"  webhook {platform:<11} HTTP {answered} (a wrongly signed one: HTTP {refused})", flush=True)
    headers = {"Authorization": f"Bearer {token}"}
    links = []
    for source in INTAKE_SOURCES:
        if source.pull:
            response = requests.post(f"{stack.api_url}/sources/{source.name}/pulls", headers=headers, timeout=30)
            links.append(response.json().get("status"))
            print(f"  pull    {source.name:<11} HTTP {response.status_code} → {links[-1]}", flush=True)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    for link in links:  # a pull runs in its own function, which the queues' idleness does not show
        while link and not stopped.is_set() and time.monotonic() < deadline:
            if requests.get(f"{stack.api_url}{link}", headers=headers, timeout=30).json().get("status") != "RUNNING":
                break
            time.sleep(0.5)
    while not stopped.is_set() and time.monotonic() < deadline:
        if stack.runtime.wait_until_idle(timeout=2.0):
            break
    summary: dict[str, dict[str, int]] = {}
    print(f"\n{'source':<12} {'webhooks':>8} {'refused':>7} {'pulls':>5} {'files':>5}  states of its records")
    new_keys = [key for key in _raw_keys(stack, raw_bucket) if key not in before]
    for source in INTAKE_SOURCES:
        status = wiring.source_states().status(source.name)
        states: Counter[str] = Counter()
        files = [key for key in new_keys if key.startswith(f"incoming/{source.raw_source}/")]
        for key in files:
            states.update(wiring.state_queries().file_outcome(file_id_from_key(key))["states"])
        shown = ", ".join(f"{state} {count}" for state, count in sorted(states.items())) or "-"
        print(
            f"{source.name:<12} {status.get('webhooks_accepted', 0):>8} {status.get('webhooks_refused', 0):>7} "
            f"{status.get('pulls', 0):>5} {len(files):>5}  {shown}"
            + (f"  (last error: {status['last_error']})" if status.get("last_error") else ""),
            flush=True,
        )
        summary[source.name] = dict(states)
    return summary


def _raw_keys(stack: DevStack, bucket: str) -> list[str]:
    s3 = stack.session.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="incoming/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


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

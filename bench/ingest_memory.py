"""Benchmark: peak memory of splitting one big raw file, 250 MB against 1 GB.

Generates a canonical JSON Lines file of fake people (`bench.fake_people`) on disk, in a
temporary directory, written line by line, then runs the real `FileSplitter.split_file`
over it in a fresh child process per size and reports that process's peak memory.

What is real and what stands in:

* The splitter, the reader, chunking and the chunk messages are the real code.
* S3: a minimal client whose `get_object` answers `{"Body": <the open local file>,
  "LastModified": ...}`. Uploading 1 GB into the emulator would hold the object in the
  emulator's memory, which runs in-process and would be counted as ours.
* SQS: a counting sink with `send_message_batch` that checks every message is under SQS's
  256 KiB and counts messages and bytes, then drops them (the emulator would keep 1 GB of
  messages in this process too). File outcomes: the in-memory store.

Memory figure: the child's RSS high-water mark (`resource.getrusage(RUSAGE_SELF).ru_maxrss`),
which is what a Lambda function's memory limit applies to: interpreter, libraries and every
buffer included. It is printed with the RSS after imports and before splitting, so growth is
visible; constant memory means the 250 MB and 1 GB peaks are about equal. `--tracemalloc`
also reports Python's own allocation peak during the split (several times slower).

    .venv/bin/python bench/ingest_memory.py            # 250 MB and 1 GB, a few minutes
    .venv/bin/python bench/ingest_memory.py --sizes-mb 20 80

The last line is one JSON object: {"peak_mb_250mb_file", "peak_mb_1gb_file"} (for other
sizes, one `peak_mb_{N}mb_file` key per size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "STAGE": "local",
    }
)
os.environ.pop("AWS_PROFILE", None)

SQS_MAX_MESSAGE_BYTES = 256 * 1024
POOL_RECORDS = 5000
KEY = "incoming/canonical/2026/11/28/{file_id}.jsonl"
MB = 1024 * 1024


def generate(path: Path, size_mb: int) -> int:
    """A canonical JSON Lines file of about `size_mb` MiB; returns the number of records.
    A pool of generated people's records is cycled with fresh record ids, so writing 1 GB
    takes seconds, not minutes; the file is written line by line, never held in memory."""
    from bench.fake_people import People, canonical_record, lines

    pool = [
        json.dumps(canonical_record(line), ensure_ascii=False)
        for line in lines("canonical", POOL_RECORDS, People(seed=11))
    ]
    # each pooled line becomes a template with its record id left open
    templates = []
    for text in pool:
        head, _, tail = text.partition('"record_id": "')
        templates.append((head + '"record_id": "', tail[tail.index('"') :]))
    target = size_mb * MB
    written = count = 0
    with path.open("w", encoding="utf-8", buffering=4 * MB) as out:
        while written < target:
            head, tail = templates[count % len(templates)]
            line = f"{head}big-{count:09d}{tail}\n"
            out.write(line)
            written += len(line.encode("utf-8")) if not line.isascii() else len(line)
            count += 1
    return count


class LocalFileS3:
    """`get_object` over one local file, streamed as S3's body would be."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": self.path.open("rb"), "LastModified": datetime(2026, 11, 28, 12, 0, tzinfo=UTC)}


class CountingQueue:
    """`send_message_batch` that checks the SQS limits, counts, and forgets."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.largest = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        if len(Entries) > 10:
            raise ValueError("SQS takes at most 10 entries per batch")
        for entry in Entries:
            size = len(entry["MessageBody"].encode("utf-8"))
            if size > SQS_MAX_MESSAGE_BYTES:
                raise ValueError(f"a chunk message of {size} bytes is over SQS's limit")
            self.messages += 1
            self.bytes += size
            self.largest = max(self.largest, size)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def rss_high_water_mb() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def split_in_this_process(path: Path, trace: bool) -> dict[str, Any]:
    import tracemalloc

    from chalicelib.ingest.file_outcomes import InMemoryFileOutcomeStore
    from chalicelib.ingest.split_file import FileSplitter

    queue = CountingQueue()
    splitter = FileSplitter(LocalFileS3(path), queue, "bench-normalize-queue", InMemoryFileOutcomeStore())
    before = rss_high_water_mb()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    outcome = splitter.split_file("raw-bucket", KEY.format(file_id="bench0000000001"))
    seconds = time.perf_counter() - started
    result = {
        "file_mb": round(path.stat().st_size / MB, 1),
        "records": outcome.records,
        "chunks": outcome.chunks,
        "messages": queue.messages,
        "largest_message_kb": round(queue.largest / 1024, 1),
        "problems": outcome.problems_total,
        "seconds": round(seconds, 1),
        "rss_before_split_mb": round(before, 1),
        "peak_rss_mb": round(rss_high_water_mb(), 1),
    }
    if trace:
        result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / MB, 1)
        tracemalloc.stop()
    return result


def measure(size_mb: int, workdir: Path, trace: bool) -> dict[str, Any]:
    path = workdir / f"bench-{size_mb}mb.jsonl"
    started = time.perf_counter()
    records = generate(path, size_mb)
    print(
        f"generated {path.stat().st_size / MB:.0f} MiB, {records} records in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    try:
        command = [sys.executable, __file__, "--child", str(path)] + (["--tracemalloc"] if trace else [])
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        path.unlink()
    if result["records"] != records:
        raise AssertionError(f"the splitter found {result['records']} records, the file holds {records}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[250, 1024])
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(split_in_this_process(args.child, args.tracemalloc)))
        return
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ingest-memory-") as workdir:
        for size_mb in args.sizes_mb:
            result = measure(size_mb, Path(workdir), args.tracemalloc)
            print(json.dumps(result))
            name = "1gb" if size_mb == 1024 else f"{size_mb}mb"
            figures[f"peak_mb_{name}_file"] = result["peak_rss_mb"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

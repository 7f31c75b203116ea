"""Upload the bundled sample files to the raw bucket, as platforms would deliver them.

A sample source folder holding a `mapping.json` is a source declared as data: its mapping
is declared first (as an admin would with `PUT /sources/{name}/mapping`), then its files go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.ingest.uploads import file_id_for, raw_key

MAPPING = "mapping.json"


def declare_sample_mappings(samples_dir: Path) -> list[str]:
    """Declare the mapping of every sample source that has one; returns their sources."""
    from chalicelib import wiring
    from chalicelib.normalize.mappings import parse_mapping

    declared = []
    for path in sorted(samples_dir.glob(f"*/{MAPPING}")):
        mapping = parse_mapping(json.loads(path.read_text(encoding="utf-8")))
        current = wiring.mappings().current(mapping.source)
        if current is None or current.model_dump(exclude={"version"}) != mapping.model_dump(exclude={"version"}):
            wiring.mappings().put(mapping, "devstack")
        declared.append(mapping.source)
    return declared


def upload_samples(samples_dir: Path, bucket: str, s3: Any) -> list[str]:
    """Upload every file under `samples_dir/{source}/`; returns the keys written."""
    keys = []
    for path in sorted(samples_dir.glob("*/*")):
        if not path.is_file() or path.name.startswith(".") or path.name == MAPPING:
            continue
        content = path.read_bytes()
        key = raw_key(path.parent.name, file_id_for(content), "".join(path.suffixes))
        s3.put_object(Bucket=bucket, Key=key, Body=content)
        keys.append(key)
    return keys

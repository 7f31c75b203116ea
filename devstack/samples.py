"""Upload the bundled sample files to the raw bucket, as platforms would deliver them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.ingest.uploads import file_id_for, raw_key


def upload_samples(samples_dir: Path, bucket: str, s3: Any) -> list[str]:
    """Upload every file under `samples_dir/{source}/`; returns the keys written."""
    keys = []
    for path in sorted(samples_dir.glob("*/*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        content = path.read_bytes()
        key = raw_key(path.parent.name, file_id_for(content), "".join(path.suffixes))
        s3.put_object(Bucket=bucket, Key=key, Body=content)
        keys.append(key)
    return keys

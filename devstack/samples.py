"""Upload the bundled sample files to the raw bucket, as platforms would deliver them."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def raw_key(source: str, path: Path, content: bytes, now: datetime | None = None) -> str:
    """`incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}{ext}`; the id is the content's hash,
    so uploading the same file twice lands on the same key."""
    now = now or datetime.now(timezone.utc)
    file_id = hashlib.sha256(content).hexdigest()[:20]
    extension = "".join(path.suffixes)
    return f"incoming/{source}/{now:%Y/%m/%d}/{file_id}{extension}"


def upload_samples(samples_dir: Path, bucket: str, s3: Any) -> list[str]:
    """Upload every file under `samples_dir/{source}/`; returns the keys written."""
    keys = []
    for path in sorted(samples_dir.glob("*/*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        content = path.read_bytes()
        key = raw_key(path.parent.name, path, content)
        s3.put_object(Bucket=bucket, Key=key, Body=content)
        keys.append(key)
    return keys

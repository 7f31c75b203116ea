"""Which shard a subject's records belong to: the SAP outbox packs messages by it and the
State Keeper pages SAP's answers by it, so both must agree."""

from __future__ import annotations

import hashlib

DEFAULT_SHARDS = 16


def shard_of(subject_id: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(subject_id.encode()).digest()[:4], "big") % shards

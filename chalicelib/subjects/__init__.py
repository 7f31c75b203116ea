"""What several floors need to know about a person without knowing who they are: the
pseudonymous subject id, the erasure tombstones, and the shard a subject's records go to."""

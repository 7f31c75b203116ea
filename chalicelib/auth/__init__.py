"""Bearer tokens for the operations API: created by a command, stored only as hashes."""

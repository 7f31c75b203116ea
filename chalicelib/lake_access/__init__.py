"""What erasure and anonymization share to reach personal data where it lives: the object
store, the lake table and its query engines (Athena, DuckDB), object rewrites that keep
every other row and byte, and whose a raw record is."""

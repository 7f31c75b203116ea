"""Normalization: platform files read record by record, mapped by one connector per
platform into the engine's one schema, validated with machine-readable reasons, chunked for
the normalize queue and laid out as lake rows. Pure Python: no AWS calls here."""

"""Raw platform files: the one description of their formats, one record splitter, and the
two things built on it — the streaming reader ingest uses and the record-preserving
rewriter erasure and anonymization use — so that both see the same records at the same
positions.
"""

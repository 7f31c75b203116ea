"""Scheduled anonymization: retention policies, the runs that apply them to the lake and the
raw files, and the marks that keep finished partitions from being read again."""

"""Reopening a rejected record for a retry, on the in-memory ledger (the emulator's is in
tests/integration/ingest/test_retry_on_the_emulator.py)."""

from __future__ import annotations

from chalicelib.sap.ledger import DELIVERED, PENDING, REJECTED_BY_SAP, InMemoryLedger, Settlement


def test_only_a_rejected_record_is_reopened_and_then_claimed_once_more() -> None:
    ledger = InMemoryLedger()
    for record_id, outcome in (("rejected", REJECTED_BY_SAP), ("delivered", DELIVERED)):
        ledger.claim_many([record_id], "d1", 60)
        ledger.settle_many([Settlement(record_id, outcome, reason="SAP_REJECTED")], "d1")

    assert ledger.reopen("rejected") and ledger.state("rejected") == PENDING
    assert not ledger.reopen("rejected")  # once: it is no longer rejected
    assert not ledger.reopen("delivered") and not ledger.reopen("never-seen")
    assert ledger.claim_many(["rejected"], "d2", 60)["rejected"].status == "claimed"
    assert ledger.claim_many(["delivered"], "d2", 60)["delivered"].status == "final"

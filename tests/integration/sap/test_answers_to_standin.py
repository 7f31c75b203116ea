"""A lead with custom answers reaches the stand-in with its answers as the interaction's content."""

from __future__ import annotations

from chalicelib.normalize.schema import Answer
from chalicelib.sap.client import SapClient
from chalicelib.sap.dispatcher import DELIVERED, QueueMessage
from chalicelib.sap.ledger import InMemoryLedger
from chalicelib.sap.outbox import ANSWERS_CONTENT_MAX, to_dispatch_record
from chalicelib.sap.throttle import InMemoryThrottle
from sapstandin import StandIn
from tests.integration.sap.test_dispatch_to_standin import FAST, run_until_final
from tests.unit.normalize.conftest import run_sample
from tests.unit.sap.sample_records import a_message_body


def test_answers_are_accepted_by_the_metadata_checked_standin(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN a Google lead with two custom answers, and one with answers longer than the cap
    lead = run_sample("google_ads", "webhook-001.json").valid[0]
    long = lead.model_copy(
        update={
            "document_id": "00000000-0000-5000-8000-000000000001",
            "answers": [Answer(key=f"q{i}", values=["x" * 2000]) for i in range(3)],
        }
    )
    records = [to_dispatch_record(lead), to_dispatch_record(long)]
    # WHEN they are dispatched
    final = run_until_final(
        [QueueMessage("m1", "r1", a_message_body(*records), 1, "g")],
        sap_client,
        InMemoryThrottle(FAST),
        InMemoryLedger(),
    )
    # THEN SAP holds both interactions with their content
    assert set(final.values()) == {DELIVERED}
    contents = {
        row["InteractionSourceObject"]: row.get("InteractionContent") for row in standin.records()["interactions"]
    }
    assert contents[lead.document_id] == (
        "Which day will you attend?: Saturday; What would you like to hear about?: Data pipelines and privacy"
    )
    assert len(contents[long.document_id]) == ANSWERS_CONTENT_MAX

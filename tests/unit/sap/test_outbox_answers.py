"""Custom answers travel to SAP as the interaction's content, within its length."""

from __future__ import annotations

from chalicelib.normalize.schema import Answer
from chalicelib.sap import metadata
from chalicelib.sap.metadata import INTERACTION_SERVICE
from chalicelib.sap.outbox import ANSWERS_CONTENT_MAX, answers_content, to_dispatch_record
from tests.unit.normalize.conftest import run_sample
from tests.unit.sap.test_outbox import a_normalized


def test_the_answers_are_the_interaction_content_label_first() -> None:
    record = run_sample("google_ads", "webhook-001.json").valid[0]
    (interaction,) = to_dispatch_record(record).interactions
    assert interaction.body()["InteractionContent"] == (
        "Which day will you attend?: Saturday; What would you like to hear about?: Data pipelines and privacy"
    )


def test_a_question_without_label_is_named_by_its_key_and_values_are_listed() -> None:
    answers = [Answer(key="interests", values=["workshops", "keynotes"]), Answer(key="day", values=["sat"])]
    assert answers_content(answers) == "interests: workshops, keynotes; day: sat"


def test_no_answers_no_content() -> None:
    record = a_normalized(1)
    assert "InteractionContent" not in to_dispatch_record(record).interactions[0].body()


def test_long_answers_are_cut_to_the_limit_and_the_payload_passes_the_metadata() -> None:
    answers = [Answer(key=f"q{i}", values=["x" * 2000]) for i in range(5)]
    record = a_normalized(1).model_copy(update={"answers": answers})
    dispatch_record = to_dispatch_record(record)
    content = dispatch_record.interactions[0].body()["InteractionContent"]
    declared = metadata.load(INTERACTION_SERVICE).entity_set("Interactions").properties["InteractionContent"]
    assert declared.max_length is None and declared.creatable  # unbounded in the EDMX: our own cap holds
    assert len(content) == ANSWERS_CONTENT_MAX and content.endswith("…")
    assert dispatch_record.problems() == []


def test_the_content_is_redacted_from_sap_messages() -> None:
    record = a_normalized(1).model_copy(update={"answers": [Answer(key="q", values=["my secret answer"])]})
    assert "q: my secret answer" in to_dispatch_record(record).personal_values()

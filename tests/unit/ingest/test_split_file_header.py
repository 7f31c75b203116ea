"""A delimited file whose header lacks the columns its connector needs is a mapping problem
of the file: `MISSING_COLUMNS`, first among its problems, naming the columns."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from chalicelib.ingest.file_outcomes import InMemoryFileOutcomeStore, file_view
from chalicelib.ingest.messages import MISSING_COLUMNS, FileOutcome
from chalicelib.ingest.split_file import MAX_PROBLEMS_KEPT, FileSplitter

HEADER = "Bestellnummer;Ticket-Nr.;Bestelldatum;Status;Vorname;E-Mail"
ROW = "B-1;T-{n};01.10.2026 09:00;bezahlt;Anna;anna{n}@example.de"


class _S3:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.body), "LastModified": datetime(2026, 11, 1, tzinfo=UTC)}


class _Sqs:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.sent += [entry["MessageBody"] for entry in Entries]
        return {}


def _split(source: str, name: str, content: str) -> tuple[FileOutcome, _Sqs]:
    sqs = _Sqs()
    splitter = FileSplitter(_S3(content.encode()), sqs, "normalize", InMemoryFileOutcomeStore())  # type: ignore[arg-type]
    return splitter.split_file("raw", f"incoming/{source}/2026/11/01/{name}"), sqs


def test_a_renamed_record_id_column_is_named_and_the_records_still_go_on() -> None:
    outcome, sqs = _split("ticketshop", "f1.csv", "\n".join([HEADER, *(ROW.format(n=n) for n in range(3))]))
    assert outcome.records == 3 and sqs.sent
    assert outcome.problems_total == 1
    problem = outcome.problems[0]
    assert (problem.code, problem.columns, problem.position) == (MISSING_COLUMNS, ["Ticketnummer"], 1)
    assert "Ticketnummer" in problem.message and "anna" not in problem.message


def test_the_mapping_problem_comes_first_even_behind_many_row_problems() -> None:
    bad_rows = ["x;y"] * (MAX_PROBLEMS_KEPT + 5)
    outcome, _ = _split("ticketshop", "f2.csv", "\n".join([HEADER, *bad_rows, ROW.format(n=1)]))
    assert outcome.problems_total == MAX_PROBLEMS_KEPT + 6 and len(outcome.problems) == MAX_PROBLEMS_KEPT
    assert outcome.problems[0].code == MISSING_COLUMNS


def test_a_complete_header_or_a_json_file_has_no_mapping_problem() -> None:
    complete = HEADER.replace("Ticket-Nr.", "Ticketnummer")
    assert _split("ticketshop", "f3.csv", "\n".join([complete, ROW.format(n=1)]))[0].problems == []
    line = '{"record_id": "r1", "contact": {"email": "a@example.org"}}'
    assert _split("canonical", "f4.jsonl", line)[0].problems == []


def test_the_file_view_names_the_missing_columns_in_its_summary() -> None:
    outcome, _ = _split("ticketshop", "f5.csv", "\n".join([HEADER, ROW.format(n=1)]))
    states = {"documents": 1, "rejections": [], "summary": "all 1 records: source_record_id missing_record_id"}
    view = file_view(states, outcome)
    assert view["summary"] == "all 1 records: source_record_id missing_record_id; the header lacks Ticketnummer"
    assert view["split"]["problems"][0]["columns"] == ["Ticketnummer"]
    assert file_view({"documents": 0, "summary": None}, outcome)["summary"] == "the header lacks Ticketnummer"
    assert file_view({"documents": 1, "summary": None}, None) == {"documents": 1, "summary": None, "split": None}

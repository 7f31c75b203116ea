"""$batch bodies: changesets on the wire and per-part outcomes of SAP's 202 answer."""

from __future__ import annotations

import json

import pytest

from chalicelib.sap import batch
from chalicelib.sap.batch import Changeset, Operation
from chalicelib.sap.exceptions import SapProtocolError
from sapstandin import batch_format

CHANGESETS = [
    Changeset(
        "record-1",
        (
            Operation("PUT", "ContactOriginData(ContactOrigin='A',ContactID='1')", {"FirstName": "Ann"}),
            Operation("POST", "Interactions", {"InteractionType": "X"}),
        ),
    ),
    Changeset("record-2", (Operation("POST", "Interactions", {"InteractionType": "Y"}),)),
]


def test_it_builds_one_changeset_per_record_that_a_server_parses_back() -> None:
    request = batch.build(CHANGESETS)

    items = batch_format.parse(request.body, request.content_type, "/sap/opu/odata/sap/S/")

    assert [[(r.method, r.path) for r in item] for item in items] == [  # type: ignore[union-attr]
        [("PUT", "ContactOriginData(ContactOrigin='A',ContactID='1')"), ("POST", "Interactions")],
        [("POST", "Interactions")],
    ]
    assert json.loads(items[0][0].body) == {"FirstName": "Ann"}  # type: ignore[index]


def test_it_reads_an_accepted_changeset_and_a_rolled_back_one() -> None:
    # GIVEN SAP's answer: the first changeset applied, the second rolled back with a 400
    error = json.dumps({"error": {"code": "HPA/1", "message": {"lang": "en", "value": "bad type"}}}).encode()
    body, content_type = batch_format.render(
        [
            [batch_format.InnerResponse(204), batch_format.InnerResponse(201, b'{"d": {}}')],
            batch_format.InnerResponse(400, error),
        ]
    )

    # WHEN the client parses it
    first, second = batch.parse(body, content_type, CHANGESETS)

    # THEN one outcome per changeset, with SAP's code and message for the failed one
    assert first.accepted and first.ref == "record-1"
    assert not second.accepted
    assert batch.error_message(second.error) == ("HPA/1", "bad type")  # type: ignore[arg-type]


def test_it_reads_answers_with_bare_lf_line_ends() -> None:
    body, content_type = batch_format.render(
        [[batch_format.InnerResponse(204), batch_format.InnerResponse(201)], [batch_format.InnerResponse(201)]]
    )

    results = batch.parse(body.replace(b"\r\n", b"\n"), content_type, CHANGESETS)

    assert [r.accepted for r in results] == [True, True]


def test_an_answer_with_fewer_parts_than_changesets_is_a_protocol_error() -> None:
    body, content_type = batch_format.render([[batch_format.InnerResponse(204)]])

    with pytest.raises(SapProtocolError):
        batch.parse(body, content_type, CHANGESETS)


def test_a_changeset_answered_with_fewer_responses_than_operations_is_not_accepted() -> None:
    body, content_type = batch_format.render([[batch_format.InnerResponse(204)], [batch_format.InnerResponse(201)]])

    first, _ = batch.parse(body, content_type, CHANGESETS)

    assert not first.accepted


def test_a_boundarys_text_inside_a_part_does_not_split_it() -> None:
    body = (
        b"preamble --b1 not a delimiter\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsays --b1 mid-line\r\n"
        b"--b1  \r\n\r\nsecond\n--b1--\r\nepilogue"
    )

    parts = batch.split_multipart(body, "b1")

    assert parts == [b"Content-Type: text/plain\r\n\r\nsays --b1 mid-line", b"\r\nsecond"]


def test_a_body_that_starts_with_its_delimiter_and_never_closes_is_a_protocol_error() -> None:
    assert batch.split_multipart(b"--b1\r\none\r\n--b1--", "b1") == [b"one"]
    with pytest.raises(SapProtocolError):
        batch.split_multipart(b"--b1\r\none\r\n--b1\r\ntwo", "b1")

"""The OData V2 query options the stand-in understands: $filter (eq/ne, and, or, parentheses),
$select, $top, $skip. Enough for the engine's look-ups; anything else is a 400, like SAP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sapstandin.entity_store import ODataError

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<string>'(?:[^']|'')*')|(?P<word>[\w./]+))")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Invalid filter expression")
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append((kind, value[1:-1].replace("''", "'") if kind == "string" else value))
        position = match.end()
    return tokens


def parse_filter(text: str) -> Predicate:
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Invalid filter expression")
        position += 1
        return tokens[position - 1]

    def expression() -> Predicate:
        left = term()
        while peek() == ("word", "or"):
            take()
            right = term()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def term() -> Predicate:
        left = factor()
        while peek() == ("word", "and"):
            take()
            right = factor()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def factor() -> Predicate:
        kind, value = take()
        if kind == "open":
            inner = expression()
            if take()[0] != "close":
                raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Unbalanced parentheses in filter")
            return inner
        if kind != "word":
            raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Invalid filter expression")
        _, operator = take()
        literal_kind, literal = take()
        if operator not in ("eq", "ne") or literal_kind != "string":
            raise ODataError(400, "/IWBEP/CM_MGW_RT/006", f"Filter operator '{operator}' not supported")
        if operator == "eq":
            return lambda row: str(row.get(value, "")) == literal
        return lambda row: str(row.get(value, "")) != literal

    predicate = expression()
    if position != len(tokens):
        raise ODataError(400, "/IWBEP/CM_MGW_RT/006", "Invalid filter expression")
    return predicate


def apply(rows: list[Row], args: dict[str, str]) -> list[Row]:
    if "$filter" in args:
        predicate = parse_filter(args["$filter"])
        rows = [row for row in rows if predicate(row)]
    skip = int(args.get("$skip", "0") or 0)
    rows = rows[skip:]
    if "$top" in args:
        rows = rows[: int(args["$top"])]
    if "$select" in args:
        fields = [f.strip() for f in args["$select"].split(",") if f.strip()]
        rows = [{f: row.get(f) for f in fields} for row in rows]
    return rows

"""Terraform's JSON syntax turned into its native syntax (HCL), with checkov skip comments.

We build configuration as Python dicts in Terraform's JSON shape, but write `.tf` files:
checkov cannot parse a `terraform` block written as JSON, and its JSON runner reads no
inline skips and does not apply override files. Strings keep their meaning (`${...}` and
`%{...}` are templates in both syntaxes). A dict is a nested block unless its key names an
attribute that takes an object (`ATTRIBUTE_OBJECTS`); a list of dicts is repeated blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ATTRIBUTE_OBJECTS = frozenset({"variables", "tags", "tags_all", "triggers", "parameters", "dimensions"})
LABELLED = {"resource": 2, "data": 2, "output": 1, "variable": 1, "provider": 1, "module": 1}
INDENT = "  "

# (block type, kind, label, body) -> the `checkov:skip` comments of that block, "ID:reason"
Skips = Callable[[str, str, str, dict[str, Any]], Iterable[str]]


def render(document: dict[str, Any], skips: Skips | None = None) -> str:
    lines: list[str] = []
    for section, content in document.items():
        labels = LABELLED.get(section, 0)
        if labels == 2:
            for kind, blocks in content.items():
                for label, body in blocks.items():
                    comments = list(skips(section, kind, label, body)) if skips else []
                    lines += [*_block(f"{section} {quote(kind)} {quote(label)}", body, 0, comments), ""]
        elif labels == 1:
            for label, body in content.items():
                lines += [*_block(f"{section} {quote(label)}", body, 0), ""]
        elif section == "locals":
            lines += ["locals {", *(_attribute(k, v, 1) for k, v in content.items()), "}", ""]
        else:
            lines += [*_block(section, content, 0), ""]
    return "\n".join(lines)


def _block(header: str, body: dict[str, Any], depth: int, comments: Iterable[str] = ()) -> list[str]:
    pad = INDENT * depth
    inner = [f"{pad}{INDENT}# checkov:skip={comment}" for comment in comments]
    for key, value in body.items():
        if key == "depends_on":  # references, not strings
            inner.append(f"{pad}{INDENT}depends_on = [{', '.join(value)}]")
        elif isinstance(value, dict) and key not in ATTRIBUTE_OBJECTS:
            inner += _block(key, value, depth + 1)
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) for v in value)
            and key not in ATTRIBUTE_OBJECTS
        ):
            for item in value:
                inner += _block(key, item, depth + 1)
        else:
            inner.append(_attribute(key, value, depth + 1))
    if not inner:
        return [f"{pad}{header} {{}}"]
    return [f"{pad}{header} {{", *inner, f"{pad}}}"]


def _attribute(key: str, value: Any, depth: int) -> str:
    return f"{INDENT * depth}{key} = {expression(value)}"


def expression(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote(k)} = {expression(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Terraform expression for {value!r}")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """A quoted HCL string of `text`: the literal parts escaped, its template sequences
    (`${...}`, `%{...}`) copied as they are (inside them, quotes are the expression's own)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):  # escaped: literal `${` / `%{`
            out.append(text[i : i + 3])
            i += 3
        elif text.startswith(("${", "%{"), i):
            end = _sequence_end(text, i + 2)
            out.append(text[i:end])
            i = end
        else:
            ch = text[i]
            out.append(_ESCAPES.get(ch, ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}"))
            i += 1
    return '"' + "".join(out) + '"'


def _sequence_end(text: str, i: int) -> int:
    """The index after the `}` that closes a template sequence whose body starts at `i`."""
    depth = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i + 1)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unclosed template sequence in {text!r}")


def _string_end(text: str, i: int) -> int:
    """The index after the quote that closes a string inside an expression, from `i`."""
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        elif text.startswith(("${", "%{"), i):
            i = _sequence_end(text, i + 2)
        else:
            i += 1
    raise ValueError(f"unclosed string in {text!r}")


def merge_override(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` applied as Terraform applies an override file: each argument or
    nested block type given replaces the original's; `None` unsets it."""
    merged = {section: _copy(content) for section, content in base.items()}
    for section, content in override.items():
        labels = LABELLED.get(section, 0)
        target = merged.setdefault(section, {})
        groups = content.items() if labels == 2 else [(None, content)]
        for kind, blocks in groups:
            into = target.setdefault(kind, {}) if kind is not None else target
            for label, body in blocks.items():
                original = into.setdefault(label, {})
                for key, value in body.items():
                    if value is None:
                        original.pop(key, None)
                    else:
                        original[key] = value
    return merged


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value

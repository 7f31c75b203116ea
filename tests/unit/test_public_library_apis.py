"""`chalicelib` uses third-party libraries through their public API only.

A library's private names (`module._name`, `from lib import _name`, `lib._private`
modules) change without notice between releases, so code built on them breaks or silently
drifts from the library's rules on an upgrade. Two checks over every `.py` under
`chalicelib/`: a text search for `lib._name` on the libraries the service depends on, and
an AST walk that finds, for any third-party import, a private attribute reached from the
imported name, a private name imported from it, or a private module imported.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
FIRST_PARTY = {"chalicelib"}
PRIVATE_TEXT = re.compile(
    r"\b(phonenumbers|phonenumberutil|pydantic|boto3|botocore|pyarrow|duckdb|chalice|email_validator)"
    r"(\.[A-Za-z]+)*\._[A-Za-z]"
)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_third_party(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top not in sys.stdlib_module_names and top not in FIRST_PARTY


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(source: str, filename: str = "<source>") -> list[str]:
    """Each use of a third-party private name in `source`, as `file:line: what`."""
    tree = ast.parse(source, filename)
    imported: dict[str, str] = {}  # local name -> the third-party module it came from
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_third_party(alias.name):
                    if any(_is_private(part) for part in alias.name.split(".")):
                        report(node, f"import {alias.name}")
                    local = alias.asname or alias.name.split(".", 1)[0]
                    imported[local] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_third_party(node.module):
            if any(_is_private(part) for part in node.module.split(".")):
                report(node, f"from {node.module} import ...")
            for alias in node.names:
                if _is_private(alias.name):
                    report(node, f"from {node.module} import {alias.name}")
                imported[alias.asname or alias.name] = node.module
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            root = _root_name(node.value)
            if root in imported:
                report(node, f"{ast.unparse(node)} (from {imported[root]})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and _root_name(node.args[0]) in imported
        ):
            report(node, ast.unparse(node))
    return found


def _sources() -> list[Path]:
    paths = sorted(CHALICELIB.rglob("*.py"))
    assert paths, CHALICELIB
    return paths


def test_no_third_party_private_name_is_written_anywhere_in_chalicelib() -> None:
    hits = [
        f"{path.relative_to(CHALICELIB.parent)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if PRIVATE_TEXT.search(line)
    ]
    assert hits == []


def test_no_third_party_private_name_is_used_anywhere_in_chalicelib() -> None:
    hits = [
        hit
        for path in _sources()
        for hit in private_uses(path.read_text(encoding="utf-8"), str(path.relative_to(CHALICELIB.parent)))
    ]
    assert hits == []


@pytest.mark.parametrize(
    "source",
    [
        "from phonenumbers import phonenumberutil\nphonenumberutil._MIN_LENGTH_FOR_NSN",
        "import phonenumbers\nphonenumbers.phonenumberutil._test_number_length('1', None)",
        "import phonenumbers as pn\npn._x",
        "from phonenumbers import PhoneMetadata\nPhoneMetadata._region_metadata",
        "from pydantic import _internal",
        "from pydantic._internal import _fields",
        "import botocore._internal",
        "from email_validator import validate_email as v\nv._cache",
        "import duckdb\ngetattr(duckdb, '_private')",
    ],
)
def test_the_walk_finds_each_kind_of_private_use(source: str) -> None:
    assert private_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        "import phonenumbers\nphonenumbers.parse('+4930123456', None).__class__",
        "from pydantic import BaseModel\nclass A(BaseModel):\n    def f(self):\n        return self._x",
        "import hmac\nhmac._hashlib",  # the standard library is not a third party
        "from chalicelib.normalize import field_normalizers\nfield_normalizers._phone",  # nor is this project
        "from .sibling import _helper",
    ],
)
def test_the_walk_leaves_public_and_own_names_alone(source: str) -> None:
    assert private_uses(source) == []

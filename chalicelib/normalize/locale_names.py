"""Country and language names as customers write them ("Deutschland", "Suisse", "Niemcy",
"Französisch") to ISO codes, from Babel's CLDR territory and language names.

The names come from a maintained locale library rather than a hand-written table, so they
follow CLDR as Babel is updated. Names are compared folded: case-insensitive, diacritics
stripped ("Osterreich") or spelled out the German way ("Oesterreich"). A folded name that
two locales give to two different codes is ambiguous and is dropped, so it stays invalid
rather than being guessed; with `LOCALES` as they are, CLDR has no such name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache

import pycountry
from babel import Locale

# The customers' languages: English and the common European languages
LOCALES = ("en", "de", "fr", "it", "es", "nl", "pl", "pt", "da", "sv", "cs")
# Latin letters NFKD does not decompose into a base letter and a mark
_UNDECOMPOSED = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe"})
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _without_marks(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_UNDECOMPOSED)


def folded(name: str) -> frozenset[str]:
    """The keys a name is known by: casefolded, without diacritics, and with ä/ö/ü/ß spelled out."""
    lowered = " ".join(name.split()).casefold()
    return frozenset({_without_marks(lowered), _without_marks(lowered.translate(_GERMAN))})


def name_index(names: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Folded name -> code from (name, code) pairs; a folded name with two different codes is left out."""
    codes: dict[str, set[str]] = {}
    for name, code in names:
        for key in folded(name):
            codes.setdefault(key, set()).add(code)
    return {key: next(iter(found)) for key, found in codes.items() if len(found) == 1}


def _lookup(index: dict[str, str], name: str) -> str | None:
    found = {index[key] for key in folded(name) if key in index}
    return found.pop() if len(found) == 1 else None


@cache
def _territories() -> dict[str, str]:
    """Built on first use: parsing the locales' data is the cost, once per process."""
    return name_index(
        (name, code)
        for locale in LOCALES
        for code, name in Locale.parse(locale).territories.items()
        if len(code) == 2 and code.isalpha() and pycountry.countries.get(alpha_2=code) is not None
    )


@cache
def _languages() -> dict[str, str]:
    return name_index(
        (name, code)
        for locale in LOCALES
        for code, name in Locale.parse(locale).languages.items()
        if len(code) == 2 and code.isalpha() and pycountry.languages.get(alpha_2=code) is not None
    )


def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country name in one of `LOCALES`, or None (regions such as "Europa" too)."""
    return _lookup(_territories(), name)


def language_code(name: str) -> str | None:
    """ISO 639-1 for a language name in one of `LOCALES`, or None."""
    return _lookup(_languages(), name)

"""Country and language names in the customers' languages, from Babel's CLDR names."""

from __future__ import annotations

import pycountry
import pytest
from babel import Locale

from chalicelib.normalize import field_normalizers as fields
from chalicelib.normalize import locale_names
from chalicelib.normalize.codes import ReasonCode
from tests.unit.normalize.conftest import SAMPLES, run


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Deutschland", "DE"),
        ("Suisse", "CH"),
        ("Schweiz", "CH"),
        ("Svizzera", "CH"),
        ("Österreich", "AT"),
        ("Osterreich", "AT"),
        ("Oesterreich", "AT"),
        ("Autriche", "AT"),
        ("ALLEMAGNE", "DE"),
        ("Germania", "DE"),
        ("Alemania", "DE"),
        ("Duitsland", "DE"),
        ("Niemcy", "DE"),
        ("Alemanha", "DE"),
        ("Tyskland", "DE"),
        ("Německo", "DE"),
        ("Nemecko", "DE"),
        ("Paesi Bassi", "NL"),
        ("Países Bajos", "NL"),
        ("Paises Bajos", "NL"),
        ("Włochy", "IT"),
        ("Wlochy", "IT"),
        ("Østrig", "AT"),
        ("  deutschland ", "DE"),
    ],
)
def test_country_names_in_european_languages_map_to_alpha_2(name: str, code: str) -> None:
    assert fields.country(name) == code


@pytest.mark.parametrize(
    ("value", "code"),
    [("DE", "DE"), ("deu", "DE"), ("AUT", "AT"), ("Germany", "DE"), ("Switzerland", "CH"), ("Netherlands", "NL")],
)
def test_codes_and_english_names_still_work(value: str, code: str) -> None:
    assert fields.country(value) == code


@pytest.mark.parametrize("name", ["Atlantis", "Europa", "Deutschlandd", "Welt"])
def test_unknown_names_and_regions_are_invalid_countries(name: str) -> None:
    with pytest.raises(fields.FieldInvalid) as caught:
        fields.country(name)
    assert caught.value.code == ReasonCode.INVALID_COUNTRY


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Deutsch", "de"),
        ("français", "fr"),
        ("Francais", "fr"),
        ("Französisch", "fr"),
        ("Franzoesisch", "fr"),
        ("italiano", "it"),
        ("Niederländisch", "nl"),
        ("polski", "pl"),
        ("Español", "es"),
        ("Nederlands", "nl"),
        ("German", "de"),
        ("de-AT", "de"),
        ("nl", "nl"),
    ],
)
def test_language_names_map_to_iso_639_1(name: str, code: str) -> None:
    assert fields.language(name) == code


def test_an_unknown_language_name_is_invalid() -> None:
    with pytest.raises(fields.FieldInvalid) as caught:
        fields.language("Klingonisch")
    assert caught.value.code == ReasonCode.INVALID_LANGUAGE


def test_a_folded_name_given_to_two_codes_is_dropped_not_guessed() -> None:
    index = locale_names.name_index([("Congo", "CG"), ("Côngo", "CD"), ("Österreich", "AT")])
    assert "congo" not in index
    assert index["osterreich"] == index["oesterreich"] == "AT"


def test_the_chosen_locales_have_no_ambiguous_names() -> None:
    """Every country name of every locale still finds its own code (none was dropped as ambiguous)."""
    for locale in locale_names.LOCALES:
        for code, name in Locale.parse(locale).territories.items():
            if len(code) == 2 and code.isalpha() and pycountry.countries.get(alpha_2=code) is not None:
                assert locale_names.country_code(name) == code, (locale, name)
        for code, name in Locale.parse(locale).languages.items():
            if len(code) == 2 and code.isalpha() and pycountry.languages.get(alpha_2=code) is not None:
                assert locale_names.language_code(name) == code, (locale, name)


def test_a_ticketshop_row_with_land_oesterreich_is_valid_with_country_at() -> None:
    header, first = (SAMPLES / "ticketshop" / "export.csv").read_text(encoding="utf-8").splitlines()[:2]
    cells = first.split(";")
    columns = header.split(";")
    cells[columns.index("Land")] = "Österreich"
    cells[columns.index("Sprache")] = "Deutsch"
    result = run("ticketshop", f"{header}\r\n{';'.join(cells)}\r\n".encode(), "x.csv")
    assert (len(result.valid), result.rejected) == (1, [])
    assert result.valid[0].contact.country == "AT"
    assert result.valid[0].contact.language == "de"

"""The field normalizers' caches and fast checks give exactly the answers of the slow path."""
from __future__ import annotations

import sys
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import phonenumberutil

from chalicelib.normalize import field_normalizers as fields
from chalicelib.normalize.codes import ReasonCode

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def cold_caches():
    fields.clear_caches()
    yield
    fields.clear_caches()


def test_the_control_character_class_is_exactly_unicodes_control_and_surrogate_characters() -> None:
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        expected = unicodedata.category(char) in ("Cc", "Cs")
        assert bool(fields._CONTROL_OR_SURROGATE.search(char)) is expected, hex(code_point)


def _answer(normalizer, *args):
    try:
        return normalizer(*args)
    except fields.FieldInvalid as exc:
        return exc.code


@FAST
@given(value=st.emails() | st.text(max_size=40))
def test_a_remembered_email_answer_is_the_fresh_answer(value: str) -> None:
    fields.clear_caches()
    fresh = fields._email(value)
    first, again = _answer(fields.email, value), _answer(fields.email, value)
    assert first == again == (fresh[1] if fresh[1] is not None else fresh[0])


@FAST
@given(number=st.text(alphabet="+0123456789 -()", max_size=20) | st.text(max_size=20),
       region=st.sampled_from([None, "DE", "FR", "US", "GB"]))
def test_a_remembered_phone_answer_is_the_fresh_answer(number: str, region: str | None) -> None:
    fields.clear_caches()
    fresh = fields._phone(number, region)
    first, again = _answer(fields.phone, number, region), _answer(fields.phone, number, region)
    assert first == again == (fresh[1] if fresh[1] is not None else fresh[0])


@FAST
@given(value=st.text(max_size=60), max_length=st.sampled_from([5, 200, 500]))
def test_a_remembered_text_answer_is_the_fresh_answer(value: str, max_length: int) -> None:
    fields.clear_caches()
    fresh = fields._text(value, max_length)
    first, again = _answer(fields.text, value, max_length), _answer(fields.text, value, max_length)
    assert first == again == (fresh[1] if fresh[1] is not None else fresh[0])


@FAST
@given(value=st.text(max_size=30) | st.datetimes().map(lambda d: d.strftime("%d.%m.%Y %H:%M")))
def test_a_remembered_instant_answer_is_the_fresh_answer(value: str) -> None:
    fields.clear_caches()
    conventions = (("%d.%m.%Y %H:%M",), "Europe/Berlin")
    fresh = fields._instant(value, *conventions)
    first, again = _answer(fields.instant, value, *conventions), _answer(fields.instant, value, *conventions)
    assert first == again == (fresh[1] if fresh[1] is not None else fresh[0])


_ATEXT = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~"
_LABEL = st.text(alphabet="abcxyzABCXYZ0189-", min_size=1, max_size=70)
_DOMAIN = (st.lists(_LABEL, min_size=1, max_size=5).map(".".join)
           | st.sampled_from(["example.com", "GMAIL.com", "web.de", "xn--bcher-kva.de", "xn--zz.de", "localhost",
                              "foo.test", "foo.local", "example.invalid", "a.b", "1.2.3.4", "a..b", ".a.com",
                              "a.com.", "-a.com", "a-.com", "mail.123", "xn--ls8h.la", "x" * 63 + ".com",
                              "x" * 64 + ".com", ("abcdefghi." * 25) + "com"]))
_LOCAL = (st.text(alphabet=_ATEXT + ".", min_size=0, max_size=80)
          | st.sampled_from(["Postmaster", "ABUSE", "a", "a" * 64, "a" * 65, "a" * 240, "é", "\"q\"", "a b"]))
_ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address=_ADDRESS | st.emails() | st.text(alphabet=_ATEXT + "@.é ", max_size=40))
def test_an_email_checked_by_its_remembered_domain_is_the_libraries_answer_for_the_whole_address(address: str) -> None:
    # GIVEN the domain is cold, then warm from an earlier address
    fields.clear_caches()
    cold = fields._email(address)
    warm = fields._email(address)
    # THEN both are what email-validator says of the whole address
    assert cold == warm == _email_by_library(address)


def _email_by_library(value: str) -> tuple[str, ReasonCode | None]:
    """`fields._email` as it was before the plain-address path: text clean-up, then the library."""
    try:
        raw = fields.text(value, max_length=320)
    except fields.FieldInvalid as exc:
        return "", exc.code
    return fields._email_by_library(raw) if raw is not None else ("", ReasonCode.MISSING)


@FAST
@given(locals_=st.lists(st.text(alphabet=_ATEXT + ".", min_size=1, max_size=70), min_size=2, max_size=6),
       domain=_DOMAIN)
def test_addresses_sharing_a_domain_each_get_the_libraries_answer(locals_: list[str], domain: str) -> None:
    fields.clear_caches()
    for local in locals_:
        address = f"{local}@{domain}"
        assert fields._email(address) == fields._email_by_library(address)


def test_the_plain_address_path_asks_the_library_once_per_domain() -> None:
    for local in ("anna", "Bert.Meier", "c+tickets"):
        fields.email(f"{local}@example.com")
    assert fields._email_domain.cache_info().misses == 1
    assert fields._email_domain.cache_info().hits == 2


def test_an_invalid_email_is_remembered_as_its_code_and_still_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(fields.FieldInvalid) as caught:
            fields.email("anna.schmidt at example.com")
        assert caught.value.code == ReasonCode.INVALID_EMAIL
    assert fields._email_of_str.cache_info().hits == 1


def test_long_inputs_are_normalized_but_never_remembered() -> None:
    long_name = "Anna " * (fields.CACHED_INPUT_CHARS // 5 + 1)
    assert fields.text(long_name) == long_name.strip()
    assert fields._text_of_str.cache_info().currsize == 0


def test_the_caches_are_bounded() -> None:
    for cached, size in ((fields._email_of_str, fields.EMAIL_CACHE_SIZE),
                         (fields._email_domain, fields.EMAIL_DOMAIN_CACHE_SIZE), (fields._phone_of_str, fields.PHONE_CACHE_SIZE),
                         (fields._text_of_str, fields.TEXT_CACHE_SIZE),
                         (fields._instant_of_str, fields.INSTANT_CACHE_SIZE)):
        assert cached.cache_info().maxsize == size


# -- phone validity: the number's types tried commonest first ------------------------------

def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in range(12):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append(example)
    for code in sorted(phonenumberutil.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            examples.append(example)
    return examples


def test_phone_validity_is_the_librarys_on_every_regions_example_numbers() -> None:
    examples = _example_numbers()
    # GIVEN each example, and its neighbours one digit longer, shorter and next to it
    variants = [phonenumbers.PhoneNumber(country_code=e.country_code, national_number=n,
                                         italian_leading_zero=e.italian_leading_zero)
                for e in examples for n in (e.national_number, e.national_number // 10, e.national_number * 10 + 7,
                                            e.national_number + 1)]
    # THEN validity is the library's, for valid and invalid numbers alike
    assert {fields._is_valid_number(n) for n in variants} == {True, False}
    assert [fields._is_valid_number(n) for n in variants] == [phonenumbers.is_valid_number(n) for n in variants]


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(sorted(phonenumberutil.COUNTRY_CODE_TO_REGION_CODE)) | st.integers(min_value=0, max_value=999),
       st.integers(min_value=0, max_value=10**17), st.booleans())
def test_phone_validity_is_the_librarys_on_generated_numbers(country_code: int, national: int, leading_zero: bool) -> None:
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=national,
                                      italian_leading_zero=leading_zero or None)
    assert fields._is_valid_number(number) == phonenumbers.is_valid_number(number)


@FAST
@given(st.from_regex(r"\A\+?[0-9 ()\-]{0,20}\Z"), st.sampled_from([None, "DE", "GB", "US", "FR", "AT", "CH", "IT", "XX"]))
def test_phone_normalization_is_the_plain_library_path(raw: str, region: str | None) -> None:
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
        expected = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                    if phonenumbers.is_valid_number(parsed) else None)
    except phonenumbers.NumberParseException:
        expected = None
    try:
        got = fields.phone(raw, region)
    except fields.FieldInvalid:
        got = None
    assert got == expected or (expected is None and not raw.strip())


# -- phone parsing: `+`, country code and digits read without the library's general parser --

_REGIONS = (None, "DE", "IT", "GB", "US", "CI", "XX", "001", "de")


def _library_parse(raw: str, region: str | None) -> dict | None:
    try:
        return vars(phonenumbers.parse(raw, region))
    except phonenumbers.NumberParseException:
        return None


def _direct_parse(raw: str, region: str | None) -> dict | None:
    parsed = fields._parse_international(raw, region)
    return None if parsed is None else vars(parsed)


def test_an_international_number_is_parsed_as_the_library_parses_it_on_every_regions_example_numbers() -> None:
    # GIVEN each example number in E.164 and in the international format, with a national
    # prefix after the country code, one digit shorter and longer, and next to it
    spellings = set()
    for example in _example_numbers():
        national = phonenumberutil.national_significant_number(example)
        code = example.country_code
        spellings |= {phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164),
                      phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
                      f"+{code} 0{national}", f"+{code} 00{national}", f"+{code} 1{national}",
                      f"+{code}{national[:-1]}", f"+{code}{national}7", f"+{code} {int(national) + 1}"}
    # WHEN they are read in the number's own region and in others
    for raw in sorted(spellings):
        own = phonenumbers.region_code_for_number(phonenumbers.parse(raw, None))
        for region in (*_REGIONS, own):
            direct = _direct_parse(raw, region)
            # THEN the direct reading is the library's, or it leaves the number to the library
            assert direct is None or direct == _library_parse(raw, region), (raw, region)


def test_every_regions_example_number_in_e164_is_read_directly() -> None:
    for example in _example_numbers():
        raw = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        assert _direct_parse(raw, None) == _library_parse(raw, None) == vars(example)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(sorted(phonenumberutil.COUNTRY_CODE_TO_REGION_CODE)) | st.integers(min_value=0, max_value=999),
       st.integers(min_value=0, max_value=3), st.text(alphabet="0123456789", max_size=18),
       st.lists(st.integers(min_value=1, max_value=17), max_size=4), st.sampled_from(_REGIONS))
def test_an_international_number_is_parsed_as_the_library_parses_it_on_generated_numbers(
        country_code: int, zeros: int, digits: str, breaks: list[int], region: str | None) -> None:
    # GIVEN a country code (known or not), leading zeros as Italian numbers have, more digits,
    # and spaces between groups
    national = "0" * zeros + digits
    for position in sorted(set(breaks), reverse=True):
        if position < len(national):
            national = f"{national[:position]} {national[position:]}"
    raw = f"+{country_code} {national}" if national else f"+{country_code}"
    # THEN the direct reading is the library's, and it leaves to the library only what the
    # library rejects or, for an unknown country code, reads another way
    direct = _direct_parse(raw, region)
    assert direct is None or direct == _library_parse(raw, region)
    if country_code in phonenumberutil.COUNTRY_CODE_TO_REGION_CODE and direct is None:
        assert _library_parse(raw, region) is None


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"\A[ +]{0,2}[0-9 +\-()./]{0,24}\Z"), st.sampled_from(_REGIONS))
def test_other_spellings_are_left_to_the_library(raw: str, region: str | None) -> None:
    direct = _direct_parse(raw, region)
    assert direct is None or direct == _library_parse(raw, region)
    if not fields._INTERNATIONAL.match(raw):
        assert direct is None


def test_a_number_matches_a_description_as_the_library_matches_it_on_every_region() -> None:
    # GIVEN every number description of every region and non-geographic entity, and each
    # example number with its neighbours
    metadata = [phonenumbers.PhoneMetadata.metadata_for_region(region) for region in sorted(phonenumbers.SUPPORTED_REGIONS)]
    metadata += [phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
                 for code in sorted(phonenumberutil.COUNTRY_CODES_FOR_NON_GEO_REGIONS)]
    numbers = {str(n) for e in _example_numbers() for n in (e.national_number, e.national_number // 10,
                                                            e.national_number * 10 + 7, e.national_number + 1)}
    numbers |= {"0" + n for n in list(numbers)[::7]}
    kinds = ("general_desc", *fields._NUMBER_TYPES)
    answers = set()
    for region in metadata:
        descs = [getattr(region, kind) for kind in kinds]
        for national in sorted(numbers)[::3]:
            # THEN the match is the library's, matching or not
            expected = [phonenumberutil._is_number_matching_desc(national, desc) for desc in descs]
            assert [fields._matches(national, desc) for desc in descs] == expected
            answers.update(expected)
    assert answers == {True, False}

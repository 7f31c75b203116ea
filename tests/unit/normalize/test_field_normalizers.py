"""The field normalizers: their answers, and their caches giving exactly the fresh answers."""

from __future__ import annotations

import sys
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        assert bool(fields.CONTROL_OR_SURROGATE.search(char)) is expected, hex(code_point)


def _answer(normalizer, *args):
    try:
        return normalizer(*args)
    except fields.FieldInvalid as exc:
        return exc.code


_ATEXT = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~"
_LABEL = st.text(alphabet="abcxyzABCXYZ0189-", min_size=1, max_size=70)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=5).map(".".join) | st.sampled_from(
    [
        "example.com",
        "GMAIL.com",
        "web.de",
        "xn--bcher-kva.de",
        "xn--zz.de",
        "localhost",
        "foo.test",
        "foo.local",
        "example.invalid",
        "a.b",
        "1.2.3.4",
        "a..b",
        ".a.com",
        "a.com.",
        "-a.com",
        "a-.com",
        "mail.123",
        "xn--ls8h.la",
        "x" * 63 + ".com",
        "x" * 64 + ".com",
        ("abcdefghi." * 25) + "com",
    ]
)
_LOCAL = st.text(alphabet=_ATEXT + ".", min_size=0, max_size=80) | st.sampled_from(
    ["Postmaster", "ABUSE", "a", "a" * 64, "a" * 65, "a" * 240, "é", '"q"', "a b"]
)
_ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN)


@FAST
@given(value=_ADDRESS | st.emails() | st.text(max_size=40))
def test_a_remembered_email_answer_is_the_fresh_answer(value: str) -> None:
    fields.clear_caches()
    first, again = _answer(fields.email, value), _answer(fields.email, value)
    assert first == again


@FAST
@given(
    number=st.text(alphabet="+0123456789 -()", max_size=20) | st.text(max_size=20),
    region=st.sampled_from([None, "DE", "FR", "US", "GB"]),
)
def test_a_remembered_phone_answer_is_the_fresh_answer(number: str, region: str | None) -> None:
    fields.clear_caches()
    first, again = _answer(fields.phone, number, region), _answer(fields.phone, number, region)
    assert first == again


@FAST
@given(value=st.text(max_size=60), max_length=st.sampled_from([5, 200, 500]))
def test_a_remembered_text_answer_is_the_fresh_answer(value: str, max_length: int) -> None:
    fields.clear_caches()
    first, again = _answer(fields.text, value, max_length), _answer(fields.text, value, max_length)
    assert first == again


@FAST
@given(value=st.text(max_size=30) | st.datetimes().map(lambda d: d.strftime("%d.%m.%Y %H:%M")))
def test_a_remembered_instant_answer_is_the_fresh_answer(value: str) -> None:
    fields.clear_caches()
    conventions = (("%d.%m.%Y %H:%M",), "Europe/Berlin")
    first, again = _answer(fields.instant, value, *conventions), _answer(fields.instant, value, *conventions)
    assert first == again


def test_an_invalid_email_is_remembered_as_its_code_and_still_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(fields.FieldInvalid) as caught:
            fields.email("anna.schmidt at example.com")
        assert caught.value.code == ReasonCode.INVALID_EMAIL
    assert fields.cache_info()["email"].hits == 1


def test_long_inputs_are_normalized_but_never_remembered() -> None:
    long_name = "Anna " * (fields.CACHED_INPUT_CHARS // 5 + 1)
    assert fields.text(long_name) == long_name.strip()
    assert fields.cache_info()["text"].currsize == 0


def test_the_caches_are_bounded() -> None:
    sizes = {
        "email": fields.EMAIL_CACHE_SIZE,
        "phone": fields.PHONE_CACHE_SIZE,
        "text": fields.TEXT_CACHE_SIZE,
        "instant": fields.INSTANT_CACHE_SIZE,
    }
    assert {name: info.maxsize for name, info in fields.cache_info().items()} == sizes


# -- email ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Anna.Schmidt@EXAMPLE.com ", "anna.schmidt@example.com"),
        ("Postmaster@Example.COM", "postmaster@example.com"),
        ("c+tickets@example.org", "c+tickets@example.org"),
        ("A@Bücher.DE", "a@bücher.de"),
        ("a@xn--bcher-kva.de", "a@bücher.de"),
        ("Ünïcode@example.com", "Ünïcode@example.com"),  # a non-ASCII local part keeps its case
    ],
)
def test_an_email_is_normalized_to_one_spelling(raw: str, expected: str) -> None:
    assert fields.email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("anna.schmidt at example.com", ReasonCode.INVALID_EMAIL),
        ("a..b@example.com", ReasonCode.INVALID_EMAIL),
        ("x@localhost", ReasonCode.INVALID_EMAIL),
        ("a@b.test", ReasonCode.INVALID_EMAIL),
        ("a@-a.com", ReasonCode.INVALID_EMAIL),
        ("a" * 250 + "@example.com", ReasonCode.INVALID_EMAIL),  # over 254 characters
        ("", ReasonCode.MISSING),
        ("   ", ReasonCode.MISSING),
        (None, ReasonCode.MISSING),
        (5, ReasonCode.INVALID_EMAIL),
        ("a@example.com\x00", ReasonCode.INVALID_TEXT),
    ],
)
def test_an_email_that_is_not_an_address_is_rejected_with_its_code(raw: object, code: ReasonCode) -> None:
    assert _answer(fields.email, raw) == code


# -- phone ----------------------------------------------------------------------------------


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in range(12):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append(example)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            examples.append(example)
    return examples


def test_every_regions_example_number_normalizes_to_its_e164_in_every_spelling() -> None:
    formats = phonenumbers.PhoneNumberFormat
    examples = [e for e in _example_numbers() if phonenumbers.is_valid_number(e)]
    assert len(examples) > 1000
    for example in examples:
        e164 = phonenumbers.format_number(example, formats.E164)
        own = phonenumbers.region_code_for_number(example)
        for spelling in (formats.E164, formats.INTERNATIONAL, formats.RFC3966):
            assert fields.phone(phonenumbers.format_number(example, spelling), "DE") == e164
        if own != "001":  # a non-geographic number has no national reading
            assert fields.phone(phonenumbers.format_number(example, formats.NATIONAL), own) == e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("+49 (0) 30 123456", None, "+4930123456"),
        ("+44 020 7946 0958", None, "+442079460958"),  # a national prefix after the country code
        ("+39 06 1234 5678", None, "+390612345678"),  # Italy keeps its leading zero
        ("+225 01 23 45 67 89", None, "+2250123456789"),
        ("+800 1234 5678", None, "+80012345678"),  # non-geographic
        ("tel:+49-30-123456", None, "+4930123456"),
        ("+49 30 1234567;ext=5", None, "+49301234567"),  # E.164 has no extension
        ("+４９ ３０ １２３４５６７", None, "+49301234567"),
        ("+1 650 253 0000", "de", "+16502530000"),
        (4930123456, "DE", "+4930123456"),
    ],
)
def test_a_phone_number_is_normalized_to_e164(raw: object, region: str | None, expected: str) -> None:
    assert fields.phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "code"),
    [
        ("+49 12", None, ReasonCode.INVALID_PHONE),
        ("030 1234567", None, ReasonCode.INVALID_PHONE),  # national, and no region to read it in
        ("030 1234567", "XX", ReasonCode.INVALID_PHONE),
        ("030 1234567", "de", ReasonCode.INVALID_PHONE),
        ("+49 1 SECRET 99", None, ReasonCode.INVALID_PHONE),
        ("", None, ReasonCode.MISSING),
        (" ", "DE", ReasonCode.MISSING),
        (None, "DE", ReasonCode.MISSING),
        ("1" * 70, None, ReasonCode.TOO_LONG),
        (True, None, ReasonCode.INVALID_TEXT),
    ],
)
def test_a_phone_number_that_is_not_valid_is_rejected_with_its_code(
    raw: object, region: str | None, code: ReasonCode
) -> None:
    assert _answer(fields.phone, raw, region) == code


@FAST
@given(
    st.from_regex(r"\A\+?[0-9 ()\-]{0,20}\Z"), st.sampled_from([None, "DE", "GB", "US", "FR", "AT", "CH", "IT", "XX"])
)
def test_phone_normalization_is_the_plain_library_path(raw: str, region: str | None) -> None:
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed)
            else None
        )
    except phonenumbers.NumberParseException:
        expected = None
    try:
        got = fields.phone(raw, region)
    except fields.FieldInvalid:
        got = None
    assert got == expected or (expected is None and not raw.strip())

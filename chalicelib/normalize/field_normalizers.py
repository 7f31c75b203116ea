"""Normalizing single field values: email, phone, names, country, language, currency,
date-times and amounts. Each function returns the normalized value or raises `FieldInvalid`
with a reason code; the exception never holds the value itself.

Email and phone are judged by email-validator and phonenumbers through their public API
only, so the rules stay the libraries' as they are updated. Email and phone normalization
are idempotent: normalizing a normalized value returns it unchanged.

Those library calls are the dearest part of normalizing a record, and people, event names
and dates recur across records. Each answer is a pure function of its input, so each
process remembers its last answers in bounded LRU caches keyed by the input — invalid
answers too, as reason codes, never as exceptions. Only inputs up to `CACHED_INPUT_CHARS`
long are cached, so the caches' memory stays bounded whatever the records hold. They hold
personal data in memory only, as long as the process that read the record does anyway.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from chalicelib.normalize import locale_names
from chalicelib.normalize.codes import ReasonCode

MAX_TEXT = 500
EMAIL_CACHE_SIZE = 16_384  # entries of at most ~1 KB each (see CACHED_INPUT_CHARS)
PHONE_CACHE_SIZE = 16_384
TEXT_CACHE_SIZE = 16_384
INSTANT_CACHE_SIZE = 8_192
CACHED_INPUT_CHARS = 256  # longer inputs are normalized every time, never remembered
_WHITESPACE = re.compile(r"\s+")
# Unicode's control (Cc) and surrogate (Cs) characters; both ranges are fixed by the standard
CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_AMOUNT_LIMIT = Decimal(10) ** 14
_TRUE = {"true", "1", "yes", "y", "ja", "j", "x", "opt-in", "optin", "on"}
_FALSE = {"false", "0", "no", "n", "nein", "opt-out", "optout", "off", ""}


class FieldInvalid(ValueError):
    """A value that cannot be normalized. Holds the reason code only, never the value."""

    def __init__(self, code: ReasonCode) -> None:
        super().__init__(code.value)
        self.code = code


def text(value: Any, max_length: int = MAX_TEXT) -> str | None:
    """Trimmed, whitespace-collapsed, Unicode NFC text; None for empty."""
    if value is None:
        return None
    if isinstance(value, str):
        cleaned, code = (
            _text_of_str(value, max_length) if len(value) <= CACHED_INPUT_CHARS else _text(value, max_length)
        )
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldInvalid(ReasonCode.INVALID_TEXT)
    else:
        cleaned, code = _text(str(value), max_length)
    if code is not None:
        raise FieldInvalid(code)
    return cleaned


def _text(value: str, max_length: int) -> tuple[str | None, ReasonCode | None]:
    cleaned = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if CONTROL_OR_SURROGATE.search(cleaned):
        return None, ReasonCode.INVALID_TEXT
    if len(cleaned) > max_length:
        return None, ReasonCode.TOO_LONG
    return cleaned or None, None


_text_of_str = lru_cache(maxsize=TEXT_CACHE_SIZE)(_text)


def name(value: Any) -> str | None:
    return text(value, max_length=200)


def email(value: Any) -> str:
    """The normalized address: email-validator's normalized form (NFC, IDNA-checked domain in
    lower case), with an ASCII local part lower-cased too. Mailbox providers treat local parts
    case-insensitively in practice, and one person must map to one subject id."""
    cached = isinstance(value, str) and len(value) <= CACHED_INPUT_CHARS
    normalized, code = _email_of_str(value) if cached else _email(value)
    if code is not None:
        raise FieldInvalid(code)
    return normalized


def _email(value: Any) -> tuple[str, ReasonCode | None]:
    """(normalized, None) or ("", the reason code)."""
    try:
        raw = text(value, max_length=320)
    except FieldInvalid as exc:
        return "", exc.code
    if raw is None:
        return "", ReasonCode.MISSING
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        return "", ReasonCode.INVALID_EMAIL
    local, _, domain = result.normalized.rpartition("@")
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain.lower()}", None


_email_of_str = lru_cache(maxsize=EMAIL_CACHE_SIZE)(_email)


def phone(value: Any, region: str | None = None) -> str:
    """E.164 (`+4930123456`). A number without country code is read in `region`'s plan."""
    cached = isinstance(value, str) and len(value) <= CACHED_INPUT_CHARS and isinstance(region, (str, type(None)))
    e164, code = _phone_of_str(value, region) if cached else _phone(value, region)
    if code is not None:
        raise FieldInvalid(code)
    return e164


def _phone(value: Any, region: str | None) -> tuple[str, ReasonCode | None]:
    """(E.164, None) or ("", the reason code)."""
    try:
        raw = text(value, max_length=64)
    except FieldInvalid as exc:
        return "", exc.code
    if raw is None:
        return "", ReasonCode.MISSING
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return "", ReasonCode.INVALID_PHONE
    if not phonenumbers.is_valid_number(parsed):
        return "", ReasonCode.INVALID_PHONE
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


_phone_of_str = lru_cache(maxsize=PHONE_CACHE_SIZE)(_phone)


def cache_info() -> dict[str, Any]:
    """Hits, misses and sizes of the caches of answers, by field (`functools` cache info)."""
    return {
        "email": _email_of_str.cache_info(),
        "phone": _phone_of_str.cache_info(),
        "text": _text_of_str.cache_info(),
        "instant": _instant_of_str.cache_info(),
    }


def clear_caches() -> None:
    """Forget every remembered answer (benchmarks start cold with it)."""
    for cached in (_email_of_str, _phone_of_str, _text_of_str, _instant_of_str, _country, _language, _currency, _zone):
        cached.cache_clear()


@lru_cache(maxsize=1024)
def _country(raw: str) -> str | None:
    candidate = None
    if len(raw) == 2:
        candidate = pycountry.countries.get(alpha_2=raw.upper())
    elif len(raw) == 3:
        candidate = pycountry.countries.get(alpha_3=raw.upper())
    if candidate is None:
        try:
            candidate = pycountry.countries.lookup(raw)  # English names, official names
        except LookupError:
            return locale_names.country_code(raw)  # "Deutschland", "Suisse", "Niemcy"
    return candidate.alpha_2


def country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2 from an alpha-2 or alpha-3 code, or a country name in English or
    another common European language (`locale_names`)."""
    raw = text(value, max_length=100)
    if raw is None:
        return None
    code = _country(raw)
    if code is None:
        raise FieldInvalid(ReasonCode.INVALID_COUNTRY)
    return code


@lru_cache(maxsize=256)
def _language(raw: str) -> str | None:
    primary = raw.replace("_", "-").split("-", 1)[0].lower()  # de-DE, de_AT -> de
    found = None
    if len(primary) == 2:
        found = pycountry.languages.get(alpha_2=primary)
    elif len(primary) == 3:
        found = pycountry.languages.get(alpha_3=primary)
    code: str | None = getattr(found, "alpha_2", None)
    return code if code is not None else locale_names.language_code(raw)  # "Deutsch", "français"


def language(value: Any) -> str | None:
    """ISO 639-1 (two letters) from a code, a BCP 47 tag such as `de-AT`, or a language name
    in English or another common European language (`locale_names`)."""
    raw = text(value, max_length=35)
    if raw is None:
        return None
    code = _language(raw)
    if code is None:
        raise FieldInvalid(ReasonCode.INVALID_LANGUAGE)
    return code


@lru_cache(maxsize=256)
def _currency(raw: str) -> bool:
    return pycountry.currencies.get(alpha_3=raw) is not None


def currency(value: Any) -> str | None:
    raw = text(value, max_length=16)
    if raw is None:
        return None
    code = raw.upper()
    if len(code) != 3 or not code.isascii() or not _currency(code):
        raise FieldInvalid(ReasonCode.INVALID_CURRENCY)
    return code


def amount(value: Any, decimal_comma: bool = False) -> Decimal | None:
    """A decimal amount with at most 4 places. `decimal_comma`: `1.234,50` means 1234.50."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise FieldInvalid(ReasonCode.INVALID_AMOUNT)
    if isinstance(value, float):
        value = repr(value)  # shortest round-trip form, not the binary expansion
    raw = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if decimal_comma:
        raw = raw.replace(".", "").replace(",", ".")
    try:
        parsed = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise FieldInvalid(ReasonCode.INVALID_AMOUNT) from None
    if not parsed.is_finite() or abs(parsed) >= _AMOUNT_LIMIT:
        raise FieldInvalid(ReasonCode.INVALID_AMOUNT)
    exponent = parsed.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise FieldInvalid(ReasonCode.INVALID_AMOUNT)
    return parsed


def quantity(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise FieldInvalid(ReasonCode.INVALID_QUANTITY)
    try:
        parsed = int(str(value).strip())
    except ValueError:
        raise FieldInvalid(ReasonCode.INVALID_QUANTITY) from None
    if parsed < 0 or parsed > 1_000_000:
        raise FieldInvalid(ReasonCode.INVALID_QUANTITY)
    return parsed


def flag(value: Any) -> bool | None:
    """A yes/no value as platforms write it (`true`, `1`, `ja`, `x`, ...); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return None if lowered == "" else False
    raise FieldInvalid(ReasonCode.INVALID_CONSENT)


@lru_cache(maxsize=64)
def _zone(tz_name: str) -> ZoneInfo:
    return ZoneInfo(tz_name)


def instant(value: Any, formats: tuple[str, ...] = (), local_timezone: str = "UTC") -> datetime | None:
    """A UTC datetime from ISO 8601 (with `Z`, `+0000` or `+00:00`), an epoch in seconds, or
    one of `formats` (strptime). Times without offset are in `local_timezone`."""
    if (
        isinstance(value, str)
        and len(value) <= CACHED_INPUT_CHARS
        and isinstance(formats, tuple)
        and isinstance(local_timezone, str)
    ):
        parsed, code = _instant_of_str(value, formats, local_timezone)
    else:
        parsed, code = _instant(value, formats, local_timezone)
    if code is not None:
        raise FieldInvalid(code)
    return parsed


def _instant(value: Any, formats: tuple[str, ...], local_timezone: str) -> tuple[datetime | None, ReasonCode | None]:
    try:
        return _parse_instant(value, formats, local_timezone), None
    except FieldInvalid as exc:
        return None, exc.code


_instant_of_str = lru_cache(maxsize=INSTANT_CACHE_SIZE)(_instant)


def _parse_instant(value: Any, formats: tuple[str, ...], local_timezone: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parsed: datetime | None = None
    if isinstance(value, bool):
        raise FieldInvalid(ReasonCode.INVALID_DATETIME)
    if isinstance(value, (int, float)):
        try:
            parsed = datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise FieldInvalid(ReasonCode.INVALID_DATETIME) from None
    elif isinstance(value, str):
        raw = value.strip()
        for fmt in formats:
            try:
                parsed = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
            try:
                parsed = datetime.fromisoformat(iso)
            except ValueError:
                raise FieldInvalid(ReasonCode.INVALID_DATETIME) from None
    else:
        raise FieldInvalid(ReasonCode.INVALID_DATETIME)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(local_timezone))
    try:
        utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise FieldInvalid(ReasonCode.INVALID_DATETIME) from None
    if not 1970 <= utc.year <= 2200:
        raise FieldInvalid(ReasonCode.INVALID_DATETIME)
    return utc

"""Fake people and the platform files they appear in, for the normalization benches.

Nobody here is real: names are drawn from lists of common European first and last names,
emails sit on reserved example domains, and phone numbers are random subscriber numbers
that `phonenumbers` accepts as valid for the person's country (checked once per person,
when the person is made, outside any timed loop).

How often people recur — the assumption the benches' caches depend on, stated as data:

* A person comes back. Each *visit* (an order, a lead form submitted) is by a new person
  with probability `NEW_PERSON[source]`, else by one of the last `RECENT_PEOPLE` people
  of that platform, drawn uniformly (returning customers of the same season).
* An order holds several lines. Ticket shops and Amazon write one line per ticket or item,
  Eventbrite one attendee per ticket (bought by the same buyer here), so a visit yields
  1-4 records of the same person (`LINES_PER_ORDER`); lead forms yield one.
* Later states are new records. 15% of ticket lines come back later in the same file as a
  check-in, cancellation or refund (a new document of the same person).

With the defaults `bench/normalize.py` (3,000 records per connector, 21,000 in all) sees
1.85 records per distinct email: 46% of records carry an email seen before in the run
(leads mostly once, ticket buyers two to four times) — a buyer orders for a group, checks
in, and buys again within the season. That is deliberately modest: a warm Lambda container
normalizing chunks all day sees more of its customers again than one run of 21,000 records. A few percent
of records carry a broken email, phone or date, as real exports do, so the rejection path
is measured too. `profile()` reports the actual repetition of a generated set.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import phonenumbers

FIRST_NAMES = {
    "DE": [
        "Anna",
        "Lukas",
        "Lea",
        "Jonas",
        "Marie",
        "Felix",
        "Sophie",
        "Leon",
        "Hannah",
        "Paul",
        "Jürgen",
        "Björn",
        "Käthe",
        "Maximilian",
        "Emilia",
        "Noah",
        "Mia",
        "Elias",
        "Lena",
        "Finn",
    ],
    "AT": ["Valentina", "Tobias", "Magdalena", "Florian", "Theresa", "Sebastian", "Katharina", "Raphael"],
    "FR": ["Léa", "Hugo", "Chloé", "Louis", "Camille", "Gabriel", "Inès", "Raphaël", "Zoé", "Étienne"],
    "GB": ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Freya", "Charlie", "Grace"],
    "NL": ["Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Bram", "Saar"],
    "PL": ["Zofia", "Jakub", "Łucja", "Antoni", "Małgorzata", "Paweł"],
}
LAST_NAMES = {
    "DE": [
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Schäfer",
        "Koch",
        "Bauer",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
        "Schwarz",
        "Zimmermann",
    ],
    "AT": ["Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser", "Mayer"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre", "Girard"],
    "GB": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "O'Brien", "Evans"],
    "NL": ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker"],
    "PL": ["Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski"],
}
COUNTRY_WEIGHTS = {"DE": 55, "AT": 10, "FR": 10, "GB": 10, "NL": 8, "PL": 7}
LANGUAGE = {"DE": "de", "AT": "de-AT", "FR": "fr", "GB": "en-GB", "NL": "nl", "PL": "pl"}
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "post.example.de", "example.co.uk"]
EVENTS = [
    ("V-2027-007", "Jazz Nacht Hamburg", "Elbphilharmonie, Großer Saal", "DE"),
    ("V-2027-031", "Rock am See 2027", "Seebühne Konstanz", "DE"),
    ("V-2027-044", "Data Summit Wien", "Austria Center Vienna", "AT"),
    ("V-2027-052", "Festival d'été", "Parc de la Villette", "FR"),
    ("V-2027-060", "Summer Festival 2027", "Tempelhofer Feld", "DE"),
]
CATEGORIES = [("Stehplatz", "49.90"), ("Sitzplatz Kat. 1", "89.90"), ("VIP Loge", "1249.00"), ("Early Bird", "29.00")]

NEW_PERSON = {
    "eventbrite": 0.55,
    "ticketshop": 0.55,
    "amazon_orders": 0.6,
    "canonical": 0.5,
    "facebook_leads": 0.85,
    "facebook_leads_csv": 0.85,
    "google_ads": 0.9,
}
LINES_PER_ORDER = ((1, 0.55), (2, 0.30), (3, 0.10), (4, 0.05))
RECENT_PEOPLE = 5000
LATER_STATE_SHARE = 0.15
BROKEN_SHARE = 0.03
START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str  # as the person typed it (case and all)
    phone_e164: str
    phone_national: str
    phone_spaced: str
    country: str
    language: str


def _ascii(text: str) -> str:
    table = str.maketrans(
        {
            "ä": "ae",
            "ö": "oe",
            "ü": "ue",
            "ß": "ss",
            "é": "e",
            "è": "e",
            "ë": "e",
            "É": "e",
            "ç": "c",
            "ł": "l",
            "Ł": "l",
            "ś": "s",
            "ń": "n",
            "ó": "o",
            "ą": "a",
            "ę": "e",
            "'": "",
            " ": "",
        }
    )
    return text.translate(table).lower()


class People:
    """A deterministic source of fake people, new or returning."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self._serial = 0
        self._recent: dict[str, list[Person]] = {}
        self._examples = {
            region: phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
            for region in COUNTRY_WEIGHTS
        }

    def _phone(self, region: str) -> phonenumbers.PhoneNumber:
        example = self._examples[region]
        digits = str(example.national_number)
        while True:
            keep = max(3, len(digits) - 7)
            candidate = digits[:keep] + "".join(self.rng.choice("0123456789") for _ in digits[keep:])
            number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(candidate))
            if phonenumbers.is_valid_number(number):
                return number

    def new(self) -> Person:
        rng = self.rng
        self._serial += 1
        country = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]
        first, last = rng.choice(FIRST_NAMES[country]), rng.choice(LAST_NAMES[country])
        local = rng.choice(
            [
                f"{_ascii(first)}.{_ascii(last)}",
                f"{_ascii(first)[0]}.{_ascii(last)}",
                f"{_ascii(first)}{_ascii(last)}",
                f"{_ascii(last)}.{_ascii(first)}",
            ]
        )
        local = f"{local}{self._serial}" if rng.random() < 0.9 else f"{local}.{self._serial}"
        if rng.random() < 0.2:  # people type their own address with capitals
            local = local.capitalize()
        number = self._phone(country)
        return Person(
            first_name=first,
            last_name=last,
            email=f"{local}@{rng.choice(DOMAINS)}",
            phone_e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            phone_national=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
            phone_spaced=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            country=country,
            language=LANGUAGE[country],
        )

    def visit(self, source: str) -> Person:
        recent = self._recent.setdefault(source, [])
        if recent and self.rng.random() >= NEW_PERSON[source]:
            return self.rng.choice(recent)
        person = self.new()
        recent.append(person)
        if len(recent) > RECENT_PEOPLE:
            recent.pop(0)
        return person


@dataclass
class Line:
    """One record to be: a person, what happened, and the order/event it belongs to."""

    person: Person
    serial: int
    order: int
    kind: str  # ticket_purchase, registration, check_in, cancellation, refund, lead_form, order
    at: datetime
    event: tuple[str, str, str, str]
    category: tuple[str, str]
    broken: str | None  # "email", "phone", "date" or None


def lines(source: str, count: int, people: People) -> list[Line]:
    """`count` record descriptions of one platform, orders and later states interleaved."""
    rng = people.rng
    out: list[Line] = []
    later: list[Line] = []
    order = 0
    leads = source in ("facebook_leads", "facebook_leads_csv", "google_ads")
    while len(out) < count:
        order += 1
        person = people.visit(source)
        at = START + timedelta(minutes=7 * order + rng.randint(0, 6))
        event, category = rng.choice(EVENTS), rng.choice(CATEGORIES)
        size = 1 if leads else rng.choices([n for n, _ in LINES_PER_ORDER], [w for _, w in LINES_PER_ORDER])[0]
        for _ in range(size):
            kind = "lead_form" if leads else rng.choice(["ticket_purchase"] * 4 + ["registration"])
            broken = rng.choice(["email", "phone", "date"]) if rng.random() < BROKEN_SHARE else None
            line = Line(person, len(out) + len(later), order, kind, at, event, category, broken)
            out.append(line)
            if not leads and rng.random() < LATER_STATE_SHARE:
                later.append(
                    Line(
                        person,
                        line.serial,
                        order,
                        rng.choice(["check_in"] * 6 + ["cancellation", "refund"]),
                        at + timedelta(days=rng.randint(1, 40)),
                        event,
                        category,
                        None,
                    )
                )
        while later and rng.random() < 0.2:  # later states arrive mixed into newer orders
            out.append(later.pop(0))
    return out[:count]


def _email(line: Line) -> str:
    return line.person.email.replace("@", " at ", 1) if line.broken == "email" else line.person.email


def _phone(line: Line, style: str = "spaced") -> str:
    if line.broken == "phone":
        return "+49 12"
    return {"spaced": line.person.phone_spaced, "e164": line.person.phone_e164, "national": line.person.phone_national}[
        style
    ]


def _iso(line: Line, at: datetime | None = None) -> str:
    return "2026-13-45T99:00:00Z" if line.broken == "date" else (at or line.at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_start(line: Line) -> datetime:
    return datetime(2027, 3, 5 + line.order % 20, 20, 0, tzinfo=UTC)


# -- one file per platform, in its documented layout -----------------------------------


def eventbrite_page(items: list[Line]) -> bytes:
    attendees = []
    for line in items:
        price = line.category[1] if line.kind != "registration" else "0.00"
        minor = int(price.replace(".", ""))
        money = {"display": f"€{price}", "currency": "EUR", "value": minor, "major_value": price}
        p = line.person
        attendees.append(
            {
                "team": None,
                "costs": {
                    "base_price": money,
                    "gross": money,
                    "eventbrite_fee": {**money, "value": 0, "major_value": "0.00"},
                },
                "resource_uri": f"https://www.eventbriteapi.com/v3/events/9123/attendees/{3100000000 + line.serial}/",
                "id": str(3100000000 + line.serial),
                "changed": _iso(line),
                "created": _iso(line),
                "quantity": 1,
                "variant_id": None,
                "profile": {
                    "first_name": p.first_name,
                    "last_name": p.last_name,
                    "email": _email(line),
                    "name": f"{p.first_name} {p.last_name}",
                    "cell_phone": _phone(line),
                    "addresses": {"home": {"country": p.country, "city": "Berlin"}, "ship": {}, "work": {}, "bill": {}},
                },
                "barcodes": [{"status": "unused", "barcode": f"9123{line.serial:014d}", "checkin_type": 0}],
                "answers": [],
                "checked_in": line.kind == "check_in",
                "cancelled": line.kind == "cancellation",
                "refunded": line.kind == "refund",
                "affiliate": None,
                "status": "Attending",
                "ticket_class_name": line.category[0],
                "delivery_method": "electronic",
                "event_id": line.event[0],
                "order_id": str(8700000000 + line.order),
                "ticket_class_id": "1500000002",
                "event": {
                    "id": line.event[0],
                    "name": {"text": line.event[1]},
                    "start": {"utc": _event_start(line).strftime("%Y-%m-%dT%H:%M:%SZ"), "timezone": "Europe/Berlin"},
                    "venue": {"name": line.event[2], "address": {"country": line.event[3]}},
                },
            }
        )
    page = {
        "pagination": {
            "object_count": len(attendees),
            "page_number": 1,
            "page_size": len(attendees),
            "page_count": 1,
            "has_more_items": False,
        },
        "attendees": attendees,
    }
    return json.dumps(page, ensure_ascii=False).encode("utf-8")


def _lead_fields(line: Line) -> list[tuple[str, str]]:
    p = line.person
    return [
        ("email", _email(line)),
        ("full_name", f"{p.first_name} {p.last_name}"),
        ("phone_number", _phone(line, "e164")),
        ("country", p.country),
    ]


def facebook_graph_page(items: list[Line]) -> bytes:
    data = [
        {
            "created_time": _iso(line).replace("Z", "+0000"),
            "id": str(1300000000000000 + line.serial),
            "ad_id": "23850000000000001",
            "adset_id": "23850000000000002",
            "campaign_id": "23850000000000003",
            "form_id": "640000000000001",
            "is_organic": False,
            "platform": "ig",
            "field_data": [{"name": name, "values": [value]} for name, value in _lead_fields(line)],
            "custom_disclaimer_responses": [{"checkbox_key": "newsletter_optin", "is_checked": line.serial % 3 == 0}],
        }
        for line in items
    ]
    return json.dumps({"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}}, ensure_ascii=False).encode(
        "utf-8"
    )


def facebook_download(items: list[Line]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "id",
            "created_time",
            "ad_id",
            "ad_name",
            "adset_id",
            "adset_name",
            "campaign_id",
            "campaign_name",
            "form_id",
            "form_name",
            "is_organic",
            "platform",
            "email",
            "full_name",
            "phone_number",
            "country",
            "lead_status",
        ]
    )
    for line in items:
        answers = dict(_lead_fields(line))
        writer.writerow(
            [
                f"l:{1400000000000000 + line.serial}",
                _iso(line).replace("Z", "+00:00"),
                "ag:23850000000000011",
                "Festival Teaser DE",
                "as:23850000000000012",
                "DACH 25-44",
                "c:23850000000000013",
                "Summer Festival 2027",
                "f:640000000000002",
                "Festival Presale Signup",
                "0",
                "fb",
                answers["email"],
                answers["full_name"],
                f"p:{answers['phone_number']}",
                answers["country"],
                "CREATED",
            ]
        )
    return out.getvalue().encode("utf-8")


def google_ads_webhook(line: Line) -> bytes:
    p = line.person
    columns = [
        ("Full Name", f"{p.first_name} {p.last_name}", "FULL_NAME"),
        ("User Email", _email(line), "EMAIL"),
        ("User Phone", _phone(line), "PHONE_NUMBER"),
        ("Country", p.country, "COUNTRY"),
    ]
    return json.dumps(
        {
            "lead_id": f"TeSter-{line.serial:06d}-Q2lZ4000",
            "api_version": "1.0",
            "form_id": 40000000001,
            "campaign_id": 21000000007,
            "google_key": "sample-key-not-secret",
            "is_test": False,
            "gcl_id": "EAIaIQobChMI0000sample",
            "adgroup_id": 150000000003,
            "creative_id": 680000000000,
            "lead_submit_time": _iso(line),
            "user_column_data": [{"column_name": n, "string_value": v, "column_id": c} for n, v, c in columns],
        },
        ensure_ascii=False,
    ).encode("utf-8")


def amazon_actionable_report(items: list[Line]) -> bytes:
    header = [
        "order-id",
        "order-item-id",
        "purchase-date",
        "payments-date",
        "reporting-date",
        "promise-date",
        "days-past-promise",
        "buyer-email",
        "buyer-phone-number",
        "sku",
        "product-name",
        "quantity-purchased",
        "quantity-shipped",
        "quantity-to-ship",
        "ship-service-level",
        "recipient-name",
        "ship-address-1",
        "ship-address-2",
        "ship-address-3",
        "ship-city",
        "ship-state",
        "ship-postal-code",
        "ship-country",
        "is-business-order",
        "purchase-order-number",
        "price-designation",
        "is-prime",
    ]
    rows = ["\t".join(header)]
    for line in items:
        p = line.person
        sku = "TKT-BDS26-GA" if line.kind != "registration" else "MRC-TSHIRT-M"
        at = _iso(line).replace("Z", "+00:00")
        rows.append(
            "\t".join(
                [
                    f"303-{3000000 + line.order:07d}-4000000",
                    str(51000000000000 + line.serial),
                    at,
                    at,
                    at,
                    at,
                    "0",
                    _email(line),
                    _phone(line),
                    f"{sku}-{line.serial}",
                    line.event[1],
                    "1",
                    "0",
                    "1",
                    "Standard",
                    f"{p.first_name} {p.last_name}",
                    "Musterstraße 1",
                    "",
                    "",
                    "Berlin",
                    "Berlin",
                    "10115",
                    p.country,
                    "false",
                    "",
                    "",
                    "false",
                ]
            )
        )
    return ("\n".join(rows) + "\n").encode("utf-8")


_TICKETSHOP_STATUS = {
    "ticket_purchase": "bezahlt",
    "registration": "reserviert",
    "check_in": "eingecheckt",
    "cancellation": "storniert",
    "refund": "erstattet",
}


def ticketshop_export(items: list[Line]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(
        [
            "Bestellnummer",
            "Ticketnummer",
            "Bestelldatum",
            "Status",
            "Anrede",
            "Vorname",
            "Nachname",
            "E-Mail",
            "Telefon",
            "Land",
            "Sprache",
            "Newsletter",
            "Veranstaltung",
            "Veranstaltungsnummer",
            "Beginn",
            "Spielstätte",
            "Kategorie",
            "Preis",
            "Währung",
            "Geändert am",
        ]
    )
    for line in items:
        p = line.person
        local = line.at.astimezone(timezone(timedelta(hours=1)))
        ordered = "31.02.2026 25:00" if line.broken == "date" else local.strftime("%d.%m.%Y %H:%M")
        later = local.strftime("%d.%m.%Y %H:%M") if line.kind in ("check_in", "cancellation", "refund") else ""
        # German customers write national numbers; the shop's region (DE) reads them
        phone = _phone(line, "national") if p.country == "DE" else _phone(line)
        price = line.category[1].replace(".", ",")
        writer.writerow(
            [
                f"B-2026-{10000 + line.order}",
                f"T{7700000 + line.serial}",
                ordered,
                _TICKETSHOP_STATUS[line.kind],
                "Frau" if line.serial % 2 else "Herr",
                p.first_name,
                p.last_name,
                _email(line),
                phone,
                p.country,
                p.language,
                "ja" if line.serial % 4 == 0 else "nein",
                line.event[1],
                line.event[0],
                _event_start(line).strftime("%d.%m.%Y %H:%M"),
                line.event[2],
                line.category[0],
                price if len(price) < 8 else "1.249,00",
                "EUR",
                later,
            ]
        )
    return out.getvalue().encode("utf-8")


def canonical_record(line: Line) -> dict[str, Any]:
    p = line.person
    record: dict[str, Any] = {
        "platform": "partner_shop",
        "record_id": f"rec-{line.serial}",
        "contact": {
            "email": _email(line),
            "first_name": p.first_name,
            "last_name": p.last_name,
            "phone": _phone(line),
            "country": p.country,
            "language": p.language,
            "marketing_consent": {"granted": line.serial % 3 == 0, "at": _iso(line), "source": "partner_signup_form"},
        },
        "interaction": {"type": line.kind, "occurred_at": _iso(line)},
        "event": {
            "id": line.event[0],
            "name": line.event[1],
            "start": _event_start(line).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "venue": line.event[2],
            "country": line.event[3],
        },
    }
    if line.kind == "ticket_purchase":
        record["interaction"].update(
            {
                "amount": line.category[1],
                "currency": "EUR",
                "order_id": f"PO-{line.order}",
                "item": line.category[0],
                "quantity": 1,
            }
        )
    return record


def canonical_lines(items: list[Line]) -> bytes:
    return "".join(json.dumps(canonical_record(line), ensure_ascii=False) + "\n" for line in items).encode("utf-8")


# -- the benches' inputs -----------------------------------------------------------------


@dataclass(frozen=True)
class RawFile:
    source: str
    key: str
    content: bytes


def _key(source: str, number: int, extension: str) -> str:
    return f"incoming/{source}/2026/11/28/bench{number:06d}.{extension}"


def platform_files(records_per_source: int, seed: int = 7) -> list[RawFile]:
    """Files of every connector, `records_per_source` records each, in files of realistic size
    (an Eventbrite page holds 50 attendees, a Graph API page 25 leads, a Google Ads webhook one)."""
    people = People(seed)
    files: list[RawFile] = []

    def batched(items: list[Line], size: int) -> Iterator[list[Line]]:
        for start in range(0, len(items), size):
            yield items[start : start + size]

    for number, batch in enumerate(batched(lines("eventbrite", records_per_source, people), 50)):
        files.append(RawFile("eventbrite", _key("eventbrite", number, "json"), eventbrite_page(batch)))
    for number, batch in enumerate(batched(lines("facebook_leads", records_per_source, people), 25)):
        files.append(RawFile("facebook_leads", _key("facebook_leads", number, "json"), facebook_graph_page(batch)))
    download = lines("facebook_leads_csv", records_per_source, people)
    files.append(RawFile("facebook_leads_csv", _key("facebook_leads_csv", 0, "csv"), facebook_download(download)))
    for number, line in enumerate(lines("google_ads", records_per_source, people)):
        files.append(RawFile("google_ads", _key("google_ads", number, "json"), google_ads_webhook(line)))
    amazon = lines("amazon_orders", records_per_source, people)
    files.append(RawFile("amazon_orders", _key("amazon_orders", 0, "txt"), amazon_actionable_report(amazon)))
    shop = lines("ticketshop", records_per_source, people)
    files.append(RawFile("ticketshop", _key("ticketshop", 0, "csv"), ticketshop_export(shop)))
    canonical = lines("canonical", records_per_source, people)
    files.append(RawFile("canonical", _key("canonical", 0, "jsonl"), canonical_lines(canonical)))
    return files

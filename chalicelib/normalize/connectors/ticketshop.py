"""The European ticketing shop's CSV export: semicolon-separated, German headers, decimal
commas, `dd.mm.yyyy hh:mm` local times (Europe/Berlin), one line per ticket.

Columns: `Bestellnummer`, `Ticketnummer`, `Bestelldatum`, `Status`, `Anrede`, `Vorname`,
`Nachname`, `E-Mail`, `Telefon`, `Land`, `Sprache`, `Newsletter` (ja/nein), `Veranstaltung`,
`Veranstaltungsnummer`, `Beginn`, `Spielstätte`, `Kategorie`, `Preis`, `Währung`,
`Geändert am`. `Status` values: `bezahlt` (ticket purchase), `reserviert` (registration),
`eingecheckt` (check-in), `storniert` (cancellation), `erstattet` (refund).
The record id is `{Ticketnummer}:{interaction}`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.normalize.connectors.base import Connector, Draft, scalar
from chalicelib.normalize.schema import InteractionType
from chalicelib.raw_files.formats import FileFormat

STATUS = {
    "bezahlt": InteractionType.TICKET_PURCHASE,
    "reserviert": InteractionType.REGISTRATION,
    "angemeldet": InteractionType.REGISTRATION,
    "eingecheckt": InteractionType.CHECK_IN,
    "storniert": InteractionType.CANCELLATION,
    "erstattet": InteractionType.REFUND,
}


def _status(data: dict[str, Any]) -> InteractionType | None:
    return STATUS.get(str(data.get("Status") or "").strip().lower())


class TicketShopExport(Connector):
    name = "ticketshop"
    file_format = FileFormat(kind="delimited", extensions=("csv",), delimiter=";")
    datetime_formats = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y")
    local_timezone = "Europe/Berlin"
    decimal_comma = True
    default_phone_region = "DE"
    required_columns = (("Ticketnummer",), ("E-Mail",))

    def record_id(self, data: dict[str, Any]) -> str | None:
        ticket = scalar(data.get("Ticketnummer"))
        kind = _status(data)
        if not ticket:
            return None
        return f"{ticket}:{kind.value}" if kind else ticket

    def draft(self, data: dict[str, Any]) -> Draft:
        kind = _status(data)
        changed = data.get("Geändert am") or None
        at_order = kind in (InteractionType.TICKET_PURCHASE, InteractionType.REGISTRATION)
        newsletter = data.get("Newsletter")
        return Draft(
            interaction_type=kind,
            occurred_at=data.get("Bestelldatum") if at_order or not changed else changed,
            email=data.get("E-Mail"),
            first_name=data.get("Vorname"),
            last_name=data.get("Nachname"),
            phone=data.get("Telefon") or None,
            country=data.get("Land") or None,
            language=data.get("Sprache") or None,
            consent_granted=newsletter if str(newsletter or "").strip() else None,
            consent_at=data.get("Bestelldatum"),
            consent_source="ticketshop_checkout",
            amount=data.get("Preis"),
            currency=data.get("Währung") or None,
            order_id=scalar(data.get("Bestellnummer")),
            item=data.get("Kategorie") or None,
            quantity=1,
            event_id=scalar(data.get("Veranstaltungsnummer")),
            event_name=data.get("Veranstaltung") or None,
            event_start=data.get("Beginn") or None,
            event_venue=data.get("Spielstätte") or None,
        )


CONNECTORS = [TicketShopExport()]

"""The European ticketing shop's CSV export, declared as data: `ticketshop.json` beside this
file is its mapping (columns `Bestellnummer`, `Ticketnummer`, `Bestelldatum`, `Status`,
`Vorname`, `Nachname`, `E-Mail`, `Telefon`, `Land`, `Sprache`, `Newsletter`, `Veranstaltung`,
`Veranstaltungsnummer`, `Beginn`, `Spielstätte`, `Kategorie`, `Preis`, `Währung`,
`Geändert am`). The record id is the `Ticketnummer`; a later export of a ticket is a new
version of its document, dated by `Geändert am`.

Other shops (and other versions of this one) are mappings operators declare
(`PUT /sources/{name}/mapping`), with no code.
"""

from __future__ import annotations

from pathlib import Path

from chalicelib.normalize.mappings import mapped_connector, shipped_mapping

CONNECTORS = [mapped_connector(shipped_mapping(Path(__file__).with_suffix(".json")))]

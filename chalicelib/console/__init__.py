"""The operations console: the static page, script and styles `GET /console` serves.

Only the files listed in `ASSETS` are served, each with its own content type; all are text,
so API Gateway needs no binary media type for them. The page reads everything from the
authenticated JSON API with the operator's token (`README.md` in this directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chalicelib.console.exceptions import UnknownAsset

HERE = Path(__file__).resolve().parent

HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"

INDEX = "index.html"

# served name -> (file under this directory, content type); nothing else is ever read
ASSETS: dict[str, tuple[str, str]] = {
    INDEX: ("index.html", HTML),
    "console.js": ("console.js", JAVASCRIPT),
    "console.css": ("console.css", CSS),
    "alpine-3.17.5.min.js": ("vendor/alpine-3.17.5.min.js", JAVASCRIPT),
    "uplot-1.6.32.min.js": ("vendor/uplot-1.6.32.min.js", JAVASCRIPT),
    "uplot-1.6.32.min.css": ("vendor/uplot-1.6.32.min.css", CSS),
}

# The page loads scripts and styles from its own origin only and talks to the API there.
# Alpine.js evaluates its directives with `new Function`, hence 'unsafe-eval'; no inline
# script or style is allowed (styles set from script, as uPlot and Alpine do, are).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str

    def headers(self) -> dict[str, str | list[str]]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS}


@cache
def asset(name: str) -> Asset:
    """The served file `name`; raises `UnknownAsset` for anything not in `ASSETS`."""
    if name not in ASSETS:
        raise UnknownAsset(f"the console has no file {name!r}")
    path, content_type = ASSETS[name]
    return Asset((HERE / path).read_text(encoding="utf-8"), content_type)

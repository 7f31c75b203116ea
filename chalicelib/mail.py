"""Mail to business operations through SES (the emulator's SES locally)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Mailer(Protocol):
    def send(self, subject: str, body: str) -> None: ...


class HtmlMailer(Protocol):
    """A mailer that can add an HTML part beside the plain text (the daily summary)."""

    def send(self, subject: str, body: str, html: str | None = None) -> None: ...


class SesMailer:
    def __init__(self, sender: str, recipients: list[str], client: Any) -> None:
        self.sender = sender
        self.recipients = recipients
        self.client = client

    def send(self, subject: str, body: str, html: str | None = None) -> None:
        parts: dict[str, Any] = {"Text": {"Data": body, "Charset": "UTF-8"}}
        if html is not None:
            parts["Html"] = {"Data": html, "Charset": "UTF-8"}
        self.client.send_email(
            Source=self.sender,
            Destination={"ToAddresses": self.recipients},
            Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": parts},
        )


@dataclass
class InMemoryMailer:
    sent: list[tuple[str, str]] = field(default_factory=list)
    html: list[str | None] = field(default_factory=list)  # the HTML part of each mail sent, if any

    def send(self, subject: str, body: str, html: str | None = None) -> None:
        self.sent.append((subject, body))
        self.html.append(html)

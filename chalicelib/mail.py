"""Mail to business operations through SES (the emulator's SES locally)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Mailer(Protocol):
    def send(self, subject: str, body: str) -> None: ...


class SesMailer:
    def __init__(self, sender: str, recipients: list[str], client: Any) -> None:
        self.sender = sender
        self.recipients = recipients
        self.client = client

    def send(self, subject: str, body: str) -> None:
        self.client.send_email(
            Source=self.sender,
            Destination={"ToAddresses": self.recipients},
            Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
        )


@dataclass
class InMemoryMailer:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, subject: str, body: str) -> None:
        self.sent.append((subject, body))

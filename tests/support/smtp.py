"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, optionally with trustme TLS.

Fixtures ``smtp_server`` and ``tls`` (in tests/conftest.py) start these; tests read what the
server accepted from its :class:`Mailbox`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER, PASSWORD = "sentinel@example.com", "c0rrect-h0rse-battery"


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse or dawdle on cue.

    ``envelopes`` holds, for each accepted message, the recipients it was sent to (the
    envelope, not the ``To`` header), so a test can count what each recipient received.
    """

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # answered to DATA before accepting
    unknown: set[str] = field(default_factory=set)  # recipients answered with 550
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    """Replies to RCPT for one recipient, used up one per RCPT before accepting it."""
    rcpt_delay: float = 0.0  # seconds before answering each RCPT
    data_delay: float = 0.0  # seconds before answering the end of DATA (message accepted)
    drop_after_data: bool = False  # accept the message, then close without a reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.rcpt_delay)
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.rcpt_replies.get(address):
            return self.rcpt_replies[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append(list(envelope.rcpt_tos))
        await asyncio.sleep(self.data_delay)
        if self.drop_after_data:
            assert server.transport is not None
            server.transport.close()
        return "250 2.0.0 Message accepted"

    def received_by(self, address: str) -> int:
        """Return how many accepted messages were sent to ``address``."""
        return sum(address in envelope for envelope in self.envelopes)


@dataclass
class Accounts:
    """An aiosmtpd authenticator for one user; records the mechanism each login used."""

    mechanisms: list[str] = field(default_factory=list)

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@dataclass
class Server:
    port: int
    mailbox: Mailbox
    accounts: Accounts


@dataclass(frozen=True)
class Tls:
    server_context: ssl.SSLContext
    ca_file: Path


def free_port() -> int:
    """Return a port nothing listens on (bound and released: connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

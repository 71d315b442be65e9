"""Find the email channel's SMTP settings: the config first, then the environment, field by field.

Settings come from ``notifications.email`` in the config, then from ``SMTP_*`` environment
variables (the SQL Sentinel names ``SMTP_USER``, ``SMTP_FROM`` and ``SMTP_USE_TLS`` too), so
that a password can stay out of the file. Every missing or wrong setting is a
:class:`~sqlsentinel.errors.ConfigError` that names what to set, so ``sqlsentinel test``
catches it. The sender address is resolved here for the SES channel too
(:func:`sender_address`), so both channels read and check it the same way.

Nothing here imports smtplib: the SES channel uses this module without it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr

from sqlsentinel.config.schema import NotificationSettings
from sqlsentinel.durations import parse_duration
from sqlsentinel.errors import ConfigError
from sqlsentinel.notifications.tls import client_context

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT",
    "SmtpServer",
    "check_header_value",
    "is_address",
    "resolve",
    "sender_address",
    "tls_context",
]

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 10.0
_KEY = "notifications.email."
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class SmtpServer:
    """The resolved SMTP settings: where to connect, how to secure it, who to log in as."""

    host: str
    port: int
    security: str  # "starttls", "ssl" or "none"
    from_address: str
    timeout: float
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def address(self) -> str:
        """Return ``host:port``, for messages."""
        return f"{self.host}:{self.port}"


def resolve(settings: NotificationSettings, environ: Mapping[str, str]) -> SmtpServer:
    """Return the SMTP settings, each from the config first, then from the environment."""
    email = settings.email

    def pick(value: object, *names: str) -> str | None:
        if value is not None and str(value).strip():
            return str(value).strip()
        return next((environ[n].strip() for n in names if environ.get(n, "").strip()), None)

    host = pick(email.smtp_host, "SMTP_HOST")
    if host is None:
        raise ConfigError(
            "no SMTP server is configured: set notifications.email.smtp_host or the "
            "SMTP_HOST environment variable"
        )
    security, explicit = _security(email.security, environ)
    port_text = pick(email.smtp_port, "SMTP_PORT")
    if port_text is None:
        port = DEFAULT_PORTS[security]
    elif not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"SMTP_PORT must be a port number from 1 to 65535, not '{port_text}'")
    else:
        port = int(port_text)
    if port == 465 and security == "starttls" and not explicit:
        security = "ssl"  # 465 is the implicit-TLS port: STARTTLS there would only time out
    username = pick(email.smtp_username, "SMTP_USERNAME", "SMTP_USER")
    password = email.smtp_password or environ.get("SMTP_PASSWORD") or None
    if username and not password:
        raise ConfigError(
            f"an SMTP username ('{username}') is set but no password: set "
            f"{_KEY}smtp_password or the SMTP_PASSWORD environment variable"
        )
    if password and not username:
        raise ConfigError(
            f"an SMTP password is set but no username: set {_KEY}smtp_username or the "
            "SMTP_USERNAME environment variable"
        )
    sender = sender_address(email.from_address, environ=environ, username=username)
    if sender is None:
        raise ConfigError(
            f"no sender address is configured: set {_KEY}from_address or the "
            "SMTP_FROM_ADDRESS environment variable"
        )
    if email.timeout is not None:
        timeout = email.timeout.total_seconds()
    else:
        timeout_text = pick(None, "SMTP_TIMEOUT")
        try:
            timeout = DEFAULT_TIMEOUT if timeout_text is None else _seconds(timeout_text)
        except ValueError as exc:
            raise ConfigError(f"SMTP_TIMEOUT: {exc}") from None
    ca_file = pick(email.ca_file, "SMTP_CA_FILE")
    return SmtpServer(host, port, security, sender, timeout, username, password, ca_file)


def sender_address(
    *configured: str | None, environ: Mapping[str, str], username: str | None = None
) -> str | None:
    """Return the sender: the first configured value, else ``SMTP_FROM_ADDRESS`` or ``SMTP_FROM``.

    Values are stripped; blank ones count as unset. ``username`` (the SMTP login) is the
    last resort when it is an address itself. Returns ``None`` when there is no sender at
    all — each channel says in its own words where to set one — and raises ``ConfigError``
    for a value that is not an email address or holds a control character (a line break
    would start a new header).
    """
    sender = next((value.strip() for value in configured if value and value.strip()), None)
    if sender is None:
        names = ("SMTP_FROM_ADDRESS", "SMTP_FROM")
        sender = next((environ[n].strip() for n in names if environ.get(n, "").strip()), None)
        if sender is None and username and is_address(username):
            sender = username
        if sender is None:
            return None
    if not is_address(sender):
        raise ConfigError(f"SMTP_FROM_ADDRESS (or SMTP_FROM) '{sender}' is not an email address")
    check_header_value(sender, "the sender address")
    return sender


def tls_context(server: SmtpServer) -> ssl.SSLContext | None:
    """Return the verifying TLS context for ``server`` (shared per CA file), ``None`` for none."""
    if server.security == "none":
        return None
    try:
        return client_context(server.ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(
            f"the CA bundle '{server.ca_file}' (ca_file or SMTP_CA_FILE) cannot be read: "
            f"{exc}; name a PEM file holding the CA that signed the server's certificate"
        ) from exc


def _security(configured: str | None, environ: Mapping[str, str]) -> tuple[str, bool]:
    """Return starttls, ssl or none (config, SMTP_SECURITY, SMTP_USE_TLS, default), and
    whether it was named outright (``SMTP_USE_TLS=true`` only says "encrypt")."""
    if configured is not None:
        return configured, True
    value = environ.get("SMTP_SECURITY", "").strip().lower()
    if value:
        if value not in DEFAULT_PORTS:
            raise ConfigError(f"SMTP_SECURITY must be starttls, ssl or none, not '{value}'")
        return value, True
    use_tls = environ.get("SMTP_USE_TLS", "").strip().lower()
    if use_tls in _TRUE or not use_tls:
        return "starttls", False
    if use_tls in _FALSE:
        return "none", True
    raise ConfigError(f"SMTP_USE_TLS must be true or false, not '{use_tls}'")


def _seconds(text: str) -> float:
    seconds = parse_duration(text).total_seconds()
    if seconds <= 0:
        raise ValueError("must be longer than 0 seconds")
    return seconds


def is_address(value: str) -> bool:
    """Say whether ``value`` holds an email address (``a@example.com``, ``A <a@example.com>``)."""
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    return bool(local and at and domain) and " " not in address


def check_header_value(value: str, what: str) -> None:
    """Raise ``ConfigError`` for a control character in ``value`` (``what`` names it)."""
    # A line break in an address would start a new header; the message could not be built.
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ConfigError(f"{what} {value!r} contains a control character")

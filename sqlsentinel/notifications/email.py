"""Send notifications as email through an SMTP server, with the standard library only.

Settings come from ``notifications.email`` in the config, then from ``SMTP_*`` environment
variables (the SQL Sentinel names ``SMTP_USER``, ``SMTP_FROM`` and ``SMTP_USE_TLS`` too), so
that a password can stay out of the file. Certificate verification is always on; a private CA
is trusted by naming its bundle (``ca_file``), never by turning verification off.

Every smtplib, ssl and socket exception is translated into a
:class:`~sqlsentinel.errors.NotifyError`: SMTP 5xx replies, bad credentials, an untrusted
certificate or a server without STARTTLS are permanent (retrying cannot fix them); SMTP 4xx
replies, refused or dropped connections and timeouts are transient.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr

from sqlsentinel.config.schema import EmailChannel, NotificationSettings
from sqlsentinel.durations import parse_duration
from sqlsentinel.errors import ConfigError, NotifyError
from sqlsentinel.notifications import content
from sqlsentinel.notifications.base import Notification, Notifier
from sqlsentinel.redact import redactor

__all__ = ["EmailNotifier", "SmtpServer", "create", "resolve"]

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 10.0
_KEY = "notifications.email."
_READABLE = default_policy.clone(utf8=True)  # headers unencoded, for people
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


def create(
    spec: EmailChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> Notifier:
    """Return the email notifier for ``spec``, or raise ``ConfigError`` saying what to set."""
    server = resolve(settings, environ)
    for address in spec.recipients:
        _check_header_value(address, "a recipient")
    context = None
    if server.security != "none":
        try:
            context = ssl.create_default_context(cafile=server.ca_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(
                f"the CA bundle '{server.ca_file}' (ca_file or SMTP_CA_FILE) cannot be read: "
                f"{exc}; name a PEM file holding the CA that signed the server's certificate"
            ) from exc
    redactor.add(server.password)
    return EmailNotifier(spec, server, context)


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
    sender = pick(email.from_address, "SMTP_FROM_ADDRESS", "SMTP_FROM")
    if sender is None and username and _is_address(username):
        sender = username
    if sender is None:
        raise ConfigError(
            f"no sender address is configured: set {_KEY}from_address or the "
            "SMTP_FROM_ADDRESS environment variable"
        )
    if not _is_address(sender):
        raise ConfigError(f"SMTP_FROM_ADDRESS (or SMTP_FROM) '{sender}' is not an email address")
    _check_header_value(sender, "the sender address")
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


def _is_address(value: str) -> bool:
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    return bool(local and at and domain) and " " not in address


def _check_header_value(value: str, what: str) -> None:
    # A line break in an address would start a new header; the message could not be built.
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ConfigError(f"{what} {value!r} contains a control character")


class EmailNotifier:
    """Deliver a notification as one ``multipart/alternative`` email (plain text and HTML)."""

    channel = "email"

    def __init__(
        self, spec: EmailChannel, server: SmtpServer, context: ssl.SSLContext | None
    ) -> None:
        self._spec = spec
        self._server = server
        self._context = context

    @property
    def target(self) -> str:
        """Return the recipients, comma-separated."""
        return ", ".join(self._spec.recipients)

    def message(self, notification: Notification, *, readable: bool = False) -> EmailMessage:
        """Return the email for ``notification``; ``readable`` keeps the bodies unencoded."""
        n, spec = notification, self._spec
        domain = parseaddr(self._server.from_address)[1].rpartition("@")[2]
        msg = EmailMessage()
        msg["From"] = self._server.from_address
        msg["To"] = ", ".join(spec.recipients)
        msg["Subject"] = content.subject(n, spec.subject)
        msg["Date"] = format_datetime(n.sent_at)
        # Derived from the idempotency key, so a resend after a crash carries the same id.
        msg["Message-ID"] = f"<{n.message_id_hash}@{_ascii_domain(domain)}>"
        msg["X-Sentinel-Idempotency-Key"] = n.idempotency_key
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders stay quiet
        cte = "8bit" if readable else None
        msg.set_content(content.text_body(n, spec.body), cte=cte)
        msg.add_alternative(content.html_body(n, spec.body), subtype="html", cte=cte)
        return msg

    def render(self, notification: Notification) -> str:
        """Return the whole message, headers and both parts, as text for ``--dry-run``."""
        message = self.message(notification, readable=True)
        # bytes, then text: the str generator would re-encode the 8bit parts as base64
        return message.as_bytes(policy=_READABLE).decode("utf-8")

    def send(self, notification: Notification) -> None:
        """Connect, secure the connection, log in if configured, send one message, quit."""
        server, message = self._server, self.message(notification)
        try:
            smtp = self._connect()
            try:
                refused = self._transact(smtp, message)
            finally:
                _quit(smtp)
        except NotifyError:
            raise
        except (smtplib.SMTPException, OSError) as exc:  # ssl and socket errors are OSErrors
            raise _translate(exc, server) from exc
        if refused:  # some recipients got it: a retry would send them a duplicate
            raise NotifyError(
                f"the SMTP server refused {_refusals(refused)}; the others were sent the message",
                permanent=True,
            )

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        if server.security == "ssl":
            return smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout, context=self._context
            )
        return smtplib.SMTP(server.host, server.port, timeout=server.timeout)

    def _transact(self, smtp: smtplib.SMTP, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        server = self._server
        if server.security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise NotifyError(
                    f"the SMTP server {server.address} does not offer STARTTLS, so the message "
                    "would travel unencrypted; use security: ssl for a port 465-style server, "
                    "or security: none only for a trusted local relay",
                    permanent=True,
                )
            smtp.starttls(context=self._context)
            smtp.ehlo()
        if server.username and server.password:
            smtp.login(server.username, server.password)
        return smtp.send_message(message)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; once the message is handed over, a failed QUIT must not fail the send."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii") if domain else "sqlsentinel"
    except UnicodeError:
        return "sqlsentinel"


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt} ({_reply(*reply)})" for rcpt, reply in refused.items())


def _translate(exc: smtplib.SMTPException | OSError, server: SmtpServer) -> NotifyError:
    """Return our error for a smtplib, ssl or socket one: permanent when a retry cannot help."""
    where = f"the SMTP server {server.address}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return NotifyError(
            f"{where} refused the username or password ({reply}); check SMTP_USERNAME and "
            "SMTP_PASSWORD (or notifications.email.smtp_username and smtp_password)",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return NotifyError(
            f"{where} refused the recipient {_refusals(exc.recipients)}; check the alert's "
            "recipients",
            permanent=any(code >= 500 for code in codes),
        )
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 530:
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return NotifyError(
            f"{where} requires encryption or a login first ({reply}); use security starttls "
            "or ssl, with a username and password if the server asks for them",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return NotifyError(
            f"{where} refused the sender address {server.from_address} ({reply}); check "
            "notifications.email.from_address or SMTP_FROM_ADDRESS",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return NotifyError(f"{where} answered {reply}", permanent=exc.smtp_code >= 500)
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        # smtplib reports a reply that never came as a disconnection; say what it was
        return NotifyError(
            f"{where} did not answer within {server.timeout:g}s; if it expects TLS from the "
            "first byte (port 465), set security: ssl"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return NotifyError(f"{where} closed the connection unexpectedly ({exc})")
    if isinstance(exc, smtplib.SMTPNotSupportedError) and server.username:
        return NotifyError(
            f"{where} does not offer login (AUTH) on this connection; use security starttls "
            "or ssl, or remove the username for a relay that needs no login",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPException):  # a capability the server lacks
        return NotifyError(f"{where} cannot take the message: {exc}", permanent=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NotifyError(
            f"the certificate of {where} is not trusted ({exc.verify_message}); if a private "
            "CA signed it, name the CA bundle in notifications.email.ca_file or SMTP_CA_FILE",
            permanent=True,
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return NotifyError(f"{where} closed the connection during the TLS handshake ({exc})")
    if isinstance(exc, ssl.SSLError):
        return NotifyError(
            f"the TLS handshake with {where} failed ({exc.reason or exc}); check that security "
            "matches the port: ssl for 465, starttls for 587",
            permanent=True,
        )
    if isinstance(exc, ConnectionRefusedError):
        return NotifyError(f"{where} refused the connection; is it running on port {server.port}?")
    return NotifyError(f"cannot talk to {where}: {exc}")

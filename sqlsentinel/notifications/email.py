"""Send notifications as email through an SMTP server, with the standard library only.

Settings are resolved by :mod:`~sqlsentinel.notifications.email_settings` (the config, then
``SMTP_*`` variables). Certificate verification is always on; a private CA is trusted by
naming its bundle (``ca_file``), never by turning verification off.

One attempt (:meth:`EmailNotifier.send`), step by step:

1. Connect, read the greeting, secure the connection (STARTTLS or implicit TLS), log in.
2. ``MAIL FROM``, then ``RCPT TO`` for each recipient that has not been served yet. A 5xx
   refusal is final for that recipient; a 4xx (greylisting: 450, 451) is retried for it.
3. ``DATA``, the message (CRLF line endings, dot-stuffed), and the final ``.``. From the
   moment the final dot is written the server may have taken the message, so its reply is
   waited for as long as RFC 5321 §4.5.3.2 suggests within reason (the timeout, at least
   :data:`FINAL_REPLY_TIMEOUT`), and a lost reply is "outcome unknown": a permanent failure,
   never resent within the run — resending is how a slow server ends up delivering twice
   (RFC 1047).
4. The recipients the server accepted are remembered for this notification (by its
   idempotency key), so a retry sends only to those not served yet — the same message, the
   same ``Message-ID`` and ``To`` — and a partial success is never a duplicate for anyone.

smtplib drives the conversation, but not ``sendmail``: it hides whether a failure happened
before or after the final dot. Every smtplib, ssl and socket exception is translated into a
:class:`~sqlsentinel.errors.NotifyError`: SMTP 5xx replies, bad credentials, an untrusted
certificate or a server without STARTTLS are permanent; SMTP 4xx replies, refused or dropped
connections and timeouts (before the final dot) are transient.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr

from sqlsentinel.config.schema import EmailChannel, NotificationSettings
from sqlsentinel.errors import NotifyError
from sqlsentinel.notifications import content
from sqlsentinel.notifications.base import Notification, Notifier
from sqlsentinel.notifications.email_settings import (
    SmtpServer,
    check_header_value,
    resolve,
    tls_context,
)
from sqlsentinel.notifications.factory import target_of
from sqlsentinel.redact import redactor

__all__ = ["FINAL_REPLY_TIMEOUT", "EmailNotifier", "SmtpServer", "create", "resolve"]

FINAL_REPLY_TIMEOUT = 60.0
"""Least time, in seconds, to wait for the reply to the final dot (RFC 5321 allows 10 min)."""
_READABLE = default_policy.clone(utf8=True)  # headers unencoded, for people
_WIRE = default_policy.clone(linesep="\r\n")
_WIRE_UTF8 = default_policy.clone(linesep="\r\n", utf8=True)  # for an SMTPUTF8 session
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.M)

Reply = tuple[int, bytes]


def create(
    spec: EmailChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> Notifier:
    """Return the email notifier for ``spec``, or raise ``ConfigError`` saying what to set."""
    server = resolve(settings, environ)
    for address in spec.recipients:
        check_header_value(address, "a recipient")
    context = tls_context(server)
    redactor.add(server.password)
    return EmailNotifier(spec, server, context)


@dataclass
class _Progress:
    """What earlier attempts at one notification achieved, kept while a retry may follow."""

    served: set[str] = field(default_factory=set)
    """Recipients the server took the message for."""
    refused: dict[str, Reply] = field(default_factory=dict)
    """Recipients refused with a 5xx: never tried again."""


class EmailNotifier:
    """Deliver a notification as one ``multipart/alternative`` email (plain text and HTML)."""

    channel = "email"

    def __init__(
        self, spec: EmailChannel, server: SmtpServer, context: ssl.SSLContext | None
    ) -> None:
        self._spec = spec
        self._server = server
        self._context = context
        self._progress: dict[str, _Progress] = {}

    @property
    def target(self) -> str:
        """Return the recipients, comma-separated."""
        return target_of(self._spec)

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
        """Send one attempt to every recipient not served yet (see the module docstring)."""
        key = notification.idempotency_key
        progress = self._progress.setdefault(key, _Progress())
        pending = [
            rcpt
            for rcpt in self._spec.recipients
            if rcpt not in progress.served and rcpt not in progress.refused
        ]
        deferred: dict[str, Reply] = {}
        try:
            if pending:
                deferred = self._attempt(self.message(notification), pending, progress)
        except NotifyError as exc:
            if exc.permanent:
                del self._progress[key]
            raise
        if not deferred:  # nothing left to retry: a later send of this key starts afresh
            del self._progress[key]
        if deferred or progress.refused:
            raise _refused(self._server, progress, deferred)

    def _attempt(
        self, message: EmailMessage, recipients: Sequence[str], progress: _Progress
    ) -> dict[str, Reply]:
        """Run one SMTP session; return the recipients refused for now (4xx)."""
        greeted = False
        try:
            smtp = self._connect()
            greeted = True
            try:
                self._secure(smtp)
                return self._transact(smtp, message, recipients, progress)
            finally:
                _quit(smtp)
        except NotifyError:
            raise
        except (smtplib.SMTPException, OSError) as exc:  # ssl and socket errors are OSErrors
            raise _translate(exc, self._server, greeted=greeted) from exc

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        if server.security == "ssl":
            return smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout, context=self._context
            )
        return smtplib.SMTP(server.host, server.port, timeout=server.timeout)

    def _secure(self, smtp: smtplib.SMTP) -> None:
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

    def _transact(
        self,
        smtp: smtplib.SMTP,
        message: EmailMessage,
        recipients: Sequence[str],
        progress: _Progress,
    ) -> dict[str, Reply]:
        """Send MAIL, RCPT and DATA as ``sendmail`` would, knowing when the final dot left."""
        server = self._server
        sender = parseaddr(server.from_address)[1]
        envelope = [sender, *(parseaddr(rcpt)[1] for rcpt in recipients)]
        smtp.ehlo_or_helo_if_needed()
        options: list[str] = []
        policy = _WIRE
        if not all(address.isascii() for address in envelope):
            if not smtp.has_extn("smtputf8"):
                raise NotifyError(
                    f"the SMTP server {server.address} cannot take non-ASCII addresses (it "
                    "does not offer SMTPUTF8); use ASCII addresses or another server",
                    permanent=True,
                )
            options += ["SMTPUTF8", "BODY=8BITMIME"]
            policy = _WIRE_UTF8
        data = _data(message.as_bytes(policy=policy))
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        code, reply = smtp.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        accepted, deferred = [], {}
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code in (250, 251):
                accepted.append(rcpt)
            elif 400 <= code < 500:
                deferred[rcpt] = (code, reply)
            else:
                progress.refused[rcpt] = (code, reply)
        if not accepted:
            return deferred
        code, reply = smtp.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        smtp.send(data)
        # The final dot is out: the server may take the message whatever happens next.
        wait = max(server.timeout, FINAL_REPLY_TIMEOUT)
        try:
            _set_timeout(smtp, wait)
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise _unconfirmed(server, exc, wait) from exc
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        progress.served.update(accepted)
        _set_timeout(smtp, server.timeout)  # for QUIT
        return deferred


def _data(message: bytes) -> bytes:
    """Return ``message`` as DATA carries it: CRLF line ends, dot-stuffed, ending in CRLF.CRLF."""
    data = _LEADING_DOT.sub(b"..", _LINE_END.sub(b"\r\n", message))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _set_timeout(smtp: smtplib.SMTP, seconds: float) -> None:
    if smtp.sock is not None:
        smtp.sock.settimeout(seconds)


def _unconfirmed(server: SmtpServer, exc: BaseException, wait: float) -> NotifyError:
    timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
    why = f"no reply within {wait:g}s" if timed_out else "the connection closed"
    return NotifyError(
        f"the SMTP server {server.address} did not confirm the message after it was sent "
        f"({why}); it may have been delivered, so it is not resent, to avoid a duplicate",
        permanent=True,
    )


def _refused(server: SmtpServer, progress: _Progress, deferred: Mapping[str, Reply]) -> NotifyError:
    """Return the error for recipients refused for good (5xx) or for now (4xx)."""
    where = f"the SMTP server {server.address}"
    parts = []
    if progress.refused:
        parts.append(
            f"{where} refused {_recipients(progress.refused)}; check the alert's recipients"
        )
    if deferred:
        subject = "it" if progress.refused else where
        parts.append(f"{subject} refused {_recipients(deferred)} for now")
    if progress.served:
        parts.append("the others were sent the message")
    return NotifyError("; ".join(parts), permanent=not deferred)


def _recipients(refused: Mapping[str, Reply]) -> str:
    noun = "the recipient" if len(refused) == 1 else "the recipients"
    return f"{noun} {_refusals(refused)}"


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


def _translate(
    exc: smtplib.SMTPException | OSError, server: SmtpServer, *, greeted: bool
) -> NotifyError:
    """Return our error for a smtplib, ssl or socket one: permanent when a retry cannot help.

    ``greeted`` says whether the server had sent its greeting: silence before it is what
    STARTTLS against an implicit-TLS port looks like, and only then is that the hint.
    """
    where = f"the SMTP server {server.address}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return NotifyError(
            f"{where} refused the username or password ({reply}); check SMTP_USERNAME and "
            "SMTP_PASSWORD (or notifications.email.smtp_username and smtp_password)",
            permanent=exc.smtp_code >= 500,
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
        silent = f"{where} did not answer within {server.timeout:g}s"
        if not greeted and isinstance(exc, smtplib.SMTPServerDisconnected):  # connected, no word
            silent += "; if it expects TLS from the first byte (port 465), set security: ssl"
        return NotifyError(silent)
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

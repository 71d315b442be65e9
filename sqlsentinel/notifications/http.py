"""Send one HTTP request for the Slack and webhook channels, and say in a sentence what went wrong.

The one place sqlsentinel talks HTTP, on the standard library's ``urllib.request`` (no
dependency to install, nothing to load unless a Slack or webhook channel is used: the factory
imports this module only then). Every failure becomes a
:class:`~sqlsentinel.errors.NotifyError`, chained with ``from``:

* 2xx — delivered, the moment the status arrives. The response body is never read: what a
  receiver says after accepting changes nothing, and a body that stalls or breaks off must
  not turn a delivered notification into a failure that is sent again.
* 429 — transient, with ``retry_after`` from the ``Retry-After`` header (seconds, or an
  HTTP-date read against the response's own ``Date`` so that clock skew does not matter).
* 408, 425 and 5xx; connection refused or reset; timeouts; DNS failures — transient:
  retrying can succeed. (5xx honour ``Retry-After`` too.)
* other 4xx — permanent, quoting the status, the reason and the start of the response body,
  where receivers put what is wrong (Slack: ``invalid_payload``, ``no_service``,
  ``channel_not_found``).
* 3xx — permanent. Redirects are never followed: ``urllib`` would follow one for a GET but
  turn a redirected POST into a body-less GET, and following one to another host would hand
  it the ``Authorization`` header and the signed payload. A webhook URL should be the
  receiver's final address; the message names where it redirects (redacted).
* a TLS certificate that does not verify — permanent: waiting does not fix a certificate.
  Certificates are verified against the system's trust store (one context per process, see
  :mod:`~sqlsentinel.notifications.tls`; ``SSL_CERT_FILE`` names a private CA). Proxies come
  from ``HTTPS_PROXY``/``NO_PROXY`` as usual.

``timeout`` bounds connecting and each wait for data, not the whole exchange. A receiver that
times out may still have acted on the request; the ``Idempotency-Key`` header lets it
recognise the retry. Messages show ``shown`` (the caller's redacted URL), never the URL.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from sqlsentinel import __version__
from sqlsentinel.errors import NotifyError
from sqlsentinel.notifications.tls import client_context
from sqlsentinel.redact import redact_url

__all__ = ["USER_AGENT", "body_excerpt", "parse_retry_after", "send", "translate"]

USER_AGENT = f"sqlsentinel/{__version__}"

Explain = Callable[[int, str], str | None]
"""Return a channel's own advice for a status and response body, or ``None`` for the default."""

_EXCERPT = 200
_READ_LIMIT = 64 * 1024  # a rejection's reason fits in far less; never read an endless answer
_TRANSIENT_4XX = frozenset({408, 425, 429})
_HINTS = {
    400: "the receiver rejected the request; fix what it says above",
    401: "the receiver did not accept the credentials; check the Authorization header or token",
    403: "the receiver refused the request; check the credentials and that the URL is allowed",
    404: "there is no receiver at this URL; check the URL (a revoked webhook answers 404 too)",
    405: "the receiver does not accept this method; set 'method' to one it accepts",
    410: "the receiver is gone (a deleted or archived webhook); create a new one and update "
    "the URL",
    413: "the message is too large for the receiver; return fewer or shorter context columns",
    414: "the URL is too long for the receiver; use method POST instead of GET",
    415: "the receiver does not accept JSON; point the channel at an endpoint that does",
}
_DEFAULT_HINT = "the receiver rejected the request; fix what it says and check the URL"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into the 3xx response itself (see the module docstring)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


def send(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout: float,
    shown: str,
    explain: Explain | None = None,
    now: Callable[[], datetime] | None = None,
) -> None:
    """Send one request; return on a 2xx answer, else raise ``NotifyError`` saying what to fix.

    ``shown`` is how messages name the receiver (a redacted URL). ``explain`` lets a channel
    give better advice for a rejection than the generic hint. ``now`` is only read to
    interpret a ``Retry-After`` date when the response carries no ``Date`` of its own.
    """
    where = f"{method} {shown}"
    if not url.lower().startswith(("http://", "https://")):
        raise NotifyError(f"{where}: only http:// and https:// URLs can be sent to", permanent=True)
    try:
        opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=client_context())
        )
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("User-Agent", USER_AGENT)
        for name, value in headers.items():
            request.add_header(name, value)
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            text = _read_quietly(exc)
            raise _rejection(where, exc.code, exc.reason, exc.headers, text, explain, now) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise translate(exc, where=where, timeout=timeout) from exc
    # urllib returns only a 2xx (anything else is an HTTPError): delivered. The body stays
    # unread — waiting for it could only turn this success into a failure (module docstring).
    response.close()


def translate(exc: BaseException, *, where: str, timeout: float) -> NotifyError:
    """Return the ``NotifyError`` for a failure to exchange a request (no HTTP status)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        # set by the ssl module's C code, absent on an error built by hand
        detail = getattr(reason, "verify_message", None) or "verification failed"
        return NotifyError(
            f"{where}: the receiver's TLS certificate could not be verified ({detail}); fix "
            "its certificate, use the host name it is issued for, or add a private CA with "
            "the SSL_CERT_FILE environment variable",
            permanent=True,
        )
    if isinstance(reason, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return NotifyError(f"{where}: the connection closed during the TLS handshake")
    if isinstance(reason, ssl.SSLError):
        detail = getattr(reason, "reason", None) or reason
        return NotifyError(
            f"{where}: TLS failed ({detail}); check that the URL's scheme (http or https) and "
            "port match the receiver",
            permanent=True,
        )
    if isinstance(reason, TimeoutError):
        return NotifyError(
            f"{where}: no answer within {timeout:g}s; the receiver is slow or unreachable "
            "(raise notifications.http.timeout if it is only slow)"
        )
    if isinstance(reason, socket.gaierror):
        return NotifyError(
            f"{where}: the host name could not be resolved ({reason.strerror}); check the "
            "URL's host and the DNS of this machine"
        )
    if isinstance(reason, ConnectionRefusedError):
        return NotifyError(
            f"{where}: the connection was refused; check that the receiver is running and "
            "that the URL's host and port are right"
        )
    if isinstance(reason, ConnectionError | http.client.HTTPException):
        return NotifyError(
            f"{where}: the connection broke before an answer ({type(reason).__name__}); "
            "the receiver or a proxy dropped it"
        )
    if isinstance(reason, OSError):
        return NotifyError(f"{where}: the request failed ({reason.strerror or reason})")
    # A URL or header value http.client refuses to send (its message quotes the value, which
    # may be a secret, so only the type is shown); retrying would fail the same way.
    return NotifyError(
        f"{where}: the request could not be made ({type(reason).__name__}); check that the URL "
        "and every header value are plain text on one line",
        permanent=True,
    )


def _rejection(
    where: str,
    status: int,
    reason: str,
    headers: Message,
    text: str,
    explain: Explain | None,
    now: Callable[[], datetime] | None,
) -> NotifyError:
    answered = f"{where} answered {status} {reason}".rstrip()
    quoted = body_excerpt(text)
    if quoted:
        answered += f': "{quoted}"'
    if status == 429 or status >= 500 or status in _TRANSIENT_4XX:
        wait = parse_retry_after(headers.get("Retry-After"), _date(headers, now))
        advice = (
            "the receiver is rate-limiting"
            if status == 429
            else "the receiver failed; a retry may succeed"
        )
        if wait is not None:
            advice += f" (it asked to retry after {wait:g}s)"
        return NotifyError(f"{answered}; {advice}", retry_after=wait)
    if 300 <= status < 400:
        location = headers.get("Location") or "elsewhere"
        return NotifyError(
            f"{answered}; it redirects to {redact_url(location, hide_path=True)}, and redirects "
            "are not followed: set the URL to the final address",
            permanent=True,
        )
    hint = (explain(status, text) if explain else None) or _HINTS.get(status, _DEFAULT_HINT)
    return NotifyError(f"{answered}; {hint}", permanent=True)


def _read_quietly(exc: urllib.error.HTTPError) -> str:
    try:
        data = exc.read(_READ_LIMIT)
    except (OSError, http.client.HTTPException):
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""


def body_excerpt(text: str, limit: int = _EXCERPT) -> str:
    """Return the first ``limit`` characters of a response body on one printable line."""
    line = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _date(headers: Message, now: Callable[[], datetime] | None) -> datetime:
    """Return the response's ``Date``, or this machine's clock when it has none."""
    value = headers.get("Date")
    if value:
        try:
            date = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
        else:
            if date.tzinfo is not None:
                return date
    return now() if now is not None else datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or ``None`` when it says nothing.

    Both forms of RFC 9110 are read: ``120`` (seconds) and an HTTP-date, counted from
    ``now`` (a date in the past means "now": 0). Anything else is ignored rather than trusted.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in the date: RFC 5322 for "UTC, source unknown"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())

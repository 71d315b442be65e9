"""Send a notification as JSON to any HTTP endpoint, signed when the entry has a ``secret``.

The entry: ``url`` (http or https), ``method`` (``POST`` by default, ``PUT``, ``PATCH``, or
``GET``), ``headers`` and ``secret``. The timeout is ``notifications.http.timeout``.

**The body** (POST, PUT, PATCH) is every field of the notification — ``alert``, ``kind``,
``status``, ``actual_value``, ``threshold``, ``description``, ``severity``, ``labels``,
``context``, ``error``, ``runbook_url``, ``slot``, ``timestamp``, ``idempotency_key``,
``test`` — as compact JSON with sorted keys, UTF-8, ``Content-Type: application/json``.

**GET** (accepted for SQL Sentinel compatibility) sends no body: the same fields become query
parameters appended to the URL's own — ``labels`` and ``context`` flattened as
``labels.<name>`` and ``context.<column>``, values as text (``true``/``false``, JSON for
structures), a NULL left out. Long context makes long URLs; prefer POST.

**Headers**: ``User-Agent: sqlsentinel/<version>``, ``Idempotency-Key: <alert>:<slot>:<kind>``
(the same for every retry of one notification: de-duplicate on it), the entry's own headers
(which may replace ``Content-Type`` and ``User-Agent``, never the two below), and with a
``secret`` the signature::

    X-Sentinel-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by the secret>

For a GET the signed bytes are the request's query string as sent (everything after ``?``).
To verify, compute the HMAC over the raw body as received — before any JSON parsing, which
would change the bytes — and compare in constant time::

    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["X-Sentinel-Signature"])

There is no separate timestamp header: the body's own ``timestamp`` (when it was sent) and
``idempotency_key`` are covered by the signature, so a receiver that rejects old timestamps
and keys it has seen is safe from replays.

Header values of credential-like headers (``Authorization``, ``X-Api-Key``, ...) and the
secret are never shown: :meth:`WebhookNotifier.render` prints them as ``***``, and errors
and logs name the URL with its path after the first segment and its whole query masked
(``https://fn.example.net/api/***?***``): a receiver's query is often its key, whatever the
parameter is called. The query's values are registered with the redactor too (all but
short settings such as ``v=2``: see :func:`~sqlsentinel.config.secrets.url_secrets`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlsentinel.config.secrets import header_secrets, url_secrets
from sqlsentinel.errors import ConfigError
from sqlsentinel.models import JsonValue
from sqlsentinel.notifications import http
from sqlsentinel.notifications.base import Notification, format_value
from sqlsentinel.notifications.factory import target_of
from sqlsentinel.redact import MASK, redactor

if TYPE_CHECKING:
    from sqlsentinel.config.schema import NotificationSettings, WebhookChannel

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier", "body", "create", "query_params", "sign"]

SIGNATURE_HEADER = "X-Sentinel-Signature"
_OURS = frozenset({"idempotency-key", SIGNATURE_HEADER.lower()})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def body(notification: Notification) -> bytes:
    """Return the JSON body: every field of the notification, compact, keys sorted, UTF-8.

    Sorted keys and fixed separators make the bytes — and so the signature — the same for
    the same notification. Values are JSON-safe already; ``default=str`` is the guard for
    anything that is not.
    """
    text = json.dumps(
        notification.payload(),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return text.encode("utf-8")


def query_params(notification: Notification) -> list[tuple[str, str]]:
    """Return the fields of the notification as GET query parameters, in a stable order."""
    params: list[tuple[str, str]] = []

    def add(name: str, value: JsonValue) -> None:
        if value is not None:
            params.append((name, format_value(value)))

    for key, value in sorted(notification.payload().items()):
        if isinstance(value, dict):
            for name, item in value.items():
                add(f"{key}.{name}", item)
        else:
            add(key, value)
    return params


def sign(secret: str, data: bytes) -> str:
    """Return the ``X-Sentinel-Signature`` value for ``data``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookNotifier:
    """Send JSON to one HTTP endpoint."""

    url: str = field(repr=False)
    spec: WebhookChannel = field(repr=False, compare=False)
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    channel: str = field(default="webhook", init=False)

    @property
    def target(self) -> str:
        """Return the URL with its path and query (often a token) and credentials masked."""
        return target_of(self.spec)

    def request(self, notification: Notification) -> tuple[str, bytes | None, dict[str, str]]:
        """Return the URL, body and headers of the request for ``notification``."""
        url, data = self.url, None
        if self.method == "GET":
            query = urlencode(query_params(notification))
            scheme, netloc, path, own, _ = urlsplit(url)
            query = f"{own}&{query}" if own else query
            url, signed = urlunsplit((scheme, netloc, path, query, "")), query.encode("ascii")
        else:
            data = signed = body(notification)
        headers = {"User-Agent": http.USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        chosen = {name.lower(): name for name in headers}
        for name, value in self.headers.items():
            if name.lower() in _OURS:
                continue
            headers.pop(chosen.get(name.lower(), name), None)
            headers[name] = value
        headers["Idempotency-Key"] = notification.idempotency_key
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, signed)
        return url, data, headers

    def render(self, notification: Notification) -> str:
        """Return the request as it would be sent, credential-like header values as ``***``."""
        _, data, headers = self.request(notification)
        hidden = header_secrets(self.headers)
        shown = self.target
        if data is None:  # a GET carries the fields in its URL: show ours, never the URL's own
            shown += ("&" if "?" in shown else "?") + urlencode(query_params(notification))
        lines = [f"{self.method} {shown}"]
        for name, value in headers.items():
            secret = value in hidden or redactor.scrub(value) != value
            lines.append(f"{name}: {MASK if secret else value}")
        if data is not None:
            lines += ["", data.decode("utf-8")]
        return redactor.scrub("\n".join(lines))

    def send(self, notification: Notification) -> None:
        """Send the request once; raise ``NotifyError`` as :func:`http.send` does."""
        url, data, headers = self.request(notification)
        http.send(
            self.method, url, body=data, headers=headers, timeout=self.timeout, shown=self.target
        )


def _check_headers(headers: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` for a header HTTP cannot carry, naming it but never its value."""
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise ConfigError(
                f"the header name '{name}' is not valid in HTTP; use letters, digits and '-'"
            )
        if _CONTROL.search(value):
            raise ConfigError(
                f"the value of header '{name}' contains a line break or control character; "
                "write it on one line"
            )
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ConfigError(
                f"the value of header '{name}' has characters HTTP headers cannot carry; "
                "use ASCII (percent-encode or base64 anything else)"
            ) from None


def create(
    spec: WebhookChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> WebhookNotifier:
    """Return the notifier for a ``channel: webhook`` entry, or raise ``ConfigError``."""
    _check_headers(spec.headers)
    # A receiver's query is often its credential (Azure Functions' ?code=), whatever its
    # name; the loader registered it, and so does the channel for a config built elsewhere.
    redactor.add(*url_secrets(spec.url, every_query_value=True))
    return WebhookNotifier(
        url=spec.url,
        spec=spec,
        method=spec.method,
        headers=MappingProxyType(dict(spec.headers)),
        secret=spec.secret or None,
        timeout=settings.http.timeout.total_seconds(),
    )

"""Keep secrets out of everything a person or a log collector can read.

Two layers. URLs are redacted where they are shown (``redact_url``). And every secret the
process knows — passwords in data-source URLs, SMTP passwords, webhook tokens, and environment
variables whose names say they are secret — is registered with :data:`redactor`, which scrubs
log records, error messages and ``--debug`` tracebacks on their way out. The second layer is
what catches a driver that echoes a connection string in an exception.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

__all__ = ["MASK", "RedactingFormatter", "Redactor", "redact_url", "redactor", "url_password"]

MASK = "***"

_SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "access_token", "api_key", "apikey", "key"}
)
_SECRET_ENV_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|WEBHOOK", re.I)
# Shorter secrets are only masked as whole words, so that a two-letter password does not
# turn every matching pair of letters in a message into asterisks.
_MIN_SUBSTRING_SECRET = 4
# ``scheme://user:password@host`` — the password runs from the ':' after the user to the
# first '@', as SQLAlchemy reads it (a literal '@' in a password must be written %40).
_USERINFO = re.compile(
    r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@]*:)(?P<password>[^@]*)@(?P<tail>.*)$", re.S
)


def url_password(url: str) -> str | None:
    """Return the (percent-decoded) password of ``url``, or ``None`` when it has none."""
    match = _USERINFO.match(url)
    if match is None or not match["password"]:
        return None
    return unquote(match["password"])


def redact_url(url: str, *, hide_path: bool = False) -> str:
    """Return ``url`` with its password (and password-like query values) replaced by ``***``.

    ``hide_path`` also masks the path after its first segment, for URLs whose path is the
    secret (Slack incoming webhooks: ``https://hooks.slack.com/services/T0/B0/XXXX``).
    Works on the text rather than through ``urllib`` so that ``sqlite:///file.db`` keeps its
    empty host.
    """
    match = _USERINFO.match(url)
    if match is not None and match["password"]:
        url = f"{match['head']}{MASK}@{match['tail']}"
    base, question, query = url.partition("?")
    if question:
        query, hash_mark, fragment = query.partition("#")
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{key}={MASK}"
            if equals and unquote(key).lower() in _SECRET_QUERY_KEYS
            else key + equals + value
            for key, equals, value in pairs
        )
        query = f"?{query}{hash_mark}{fragment}"
    if hide_path and "://" in base:
        scheme, _, rest = base.partition("://")
        netloc, slash, path = rest.partition("/")
        if path:
            first, more, _ = path.partition("/")
            path = f"{first}/{MASK}" if more else MASK
        base = f"{scheme}://{netloc}{slash}{path}"
    return base + query


class Redactor:
    """Hold the secrets this process knows and mask them in any text.

    Thread-safe: the tick registers secrets while worker threads log.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *secrets: str | None) -> None:
        """Register secrets (and their percent-encoded forms); ``None`` and blanks are ignored."""
        fresh = set()
        for secret in secrets:
            if secret and secret.strip():
                fresh.add(secret)
                fresh.add(quote(secret, safe=""))
                fresh.add(unquote(secret))
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets = self._secrets | fresh
            self._pattern = self._compile(self._secrets)

    def add_environment(self, environ: Mapping[str, str] | None = None) -> None:
        """Register the values of environment variables whose names say they hold secrets."""
        environ = os.environ if environ is None else environ
        self.add(*(value for name, value in environ.items() if _SECRET_ENV_NAME.search(name)))

    def add_url(self, url: str) -> None:
        """Register the password of ``url``, if it has one."""
        self.add(url_password(url))

    def clear(self) -> None:
        """Forget every secret (for tests that build a fresh world)."""
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    @property
    def secrets(self) -> frozenset[str]:
        """Return the registered secrets."""
        return self._secrets

    def scrub(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    @staticmethod
    def _compile(secrets: Iterable[str]) -> re.Pattern[str] | None:
        ordered = sorted(secrets, key=len, reverse=True)
        alternatives = [
            re.escape(s) if len(s) >= _MIN_SUBSTRING_SECRET else rf"(?<!\w){re.escape(s)}(?!\w)"
            for s in ordered
        ]
        return re.compile("|".join(alternatives)) if alternatives else None


class RedactingFormatter(logging.Formatter):
    """Format log records, then mask every registered secret — tracebacks included."""

    def __init__(self, fmt: str | None = None, *, secrets: Redactor | None = None) -> None:
        super().__init__(fmt)
        self._redactor = secrets if secrets is not None else redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.scrub(super().format(record))


redactor = Redactor()
"""The process-wide redactor: config loading registers secrets, output paths scrub with it."""

"""Keep secrets out of everything a person or a log collector can read.

Two layers. URLs are redacted where they are shown (``redact_url``). And every secret the
process knows — passwords in data-source URLs, SMTP passwords, webhook tokens, and environment
variables whose names say they are secret — is registered with :data:`redactor`, which scrubs
log records, error messages and ``--debug`` tracebacks on their way out. The second layer is
what catches a driver that echoes a connection string in an exception; it also redacts any
URL it finds in the text, for secrets that were never registered (a config that failed to
load can still quote its URL back in an error).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

__all__ = [
    "MASK",
    "RedactingFormatter",
    "Redactor",
    "redact_url",
    "redact_urls_in",
    "redactor",
    "url_password",
]

MASK = "***"

_SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "access_token", "api_key", "apikey", "key"}
)
_SECRET_ENV_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|WEBHOOK", re.I)
# Shorter secrets are only masked where they stand on their own (not inside a longer word), so
# that PGPASSWORD=postgres does not turn "postgresql://" into "***ql://". A secret is always
# delimited in what we print — ``user:secret@host``, ``"secret"``, ``KEY=secret``.
_MIN_SUBSTRING_SECRET = 12
_MIN_ENV_SECRET = 8
# ``scheme://user:`` — where a URL's password starts.
_USERINFO_HEAD = re.compile(r"[A-Za-z][\w+.-]*://[^:/@\s]*:")
# A URL inside free text: a scheme, then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][\w+.-]*://[^\s'"<>`]+""")


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """Return ``(head, password, tail)`` of ``scheme://user:password@tail``, or ``None``.

    SQLAlchemy ends a password at its first '@', but people write passwords with a literal
    '@' (``u:p@ss@host``); reading up to the last '@' before the host's path keeps all of such
    a password hidden. Masking too much of a URL is harmless; masking too little is a leak.
    """
    head = _USERINFO_HEAD.match(url)
    if head is None:
        return None
    rest = url[head.end() :]
    first_at = rest.find("@")
    if first_at < 0:
        return None
    ends = [i for i in (rest.find(c, first_at) for c in "/?#") if i >= 0]
    last_at = rest.rfind("@", 0, min(ends, default=len(rest)))
    return head.group(), rest[:last_at], rest[last_at + 1 :]


def url_password(url: str) -> str | None:
    """Return the (percent-decoded) password of ``url``, or ``None`` when it has none."""
    parts = _split_userinfo(url)
    if parts is None or not parts[1]:
        return None
    return unquote(parts[1])


def redact_url(url: str, *, hide_path: bool = False) -> str:
    """Return ``url`` with its password (and password-like query values) replaced by ``***``.

    ``hide_path`` is for a URL shown as a channel's target, whose path or query may be the
    secret: it masks the path after its first segment (Slack incoming webhooks:
    ``https://hooks.slack.com/services/T0/B0/XXXX``) and the whole query and fragment
    (``?code=<key>`` of an Azure Function, ``?token=`` of many receivers) — a target never
    needs them, and no list of parameter names can know every receiver's. Without it, only
    query values whose names say they are secrets are masked (database URLs, whose options
    such as ``sslmode`` are worth seeing). Works on the text rather than through ``urllib``
    so that ``sqlite:///file.db`` keeps its empty host.
    """
    parts = _split_userinfo(url)
    if parts is not None and parts[1]:
        url = f"{parts[0]}{MASK}@{parts[2]}"
    base, question, query = url.partition("?")
    if not question:
        base, hash_mark, fragment = url.partition("#")
        query = f"{hash_mark}{MASK}" if hide_path and hash_mark else f"{hash_mark}{fragment}"
    elif hide_path:
        query = f"?{MASK}" if query else "?"
    else:
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


def redact_urls_in(text: str) -> str:
    """Return ``text`` with every URL in it redacted as by :func:`redact_url`.

    Catches the URLs whose secrets were never registered: a config that failed to load
    (so its passwords are unknown) can still be quoted back in an error message.
    """
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)


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
        fresh: set[str] = set()
        for secret in secrets:
            if secret and secret.strip():
                for plain in {secret, unquote(secret)}:
                    # as written, fully encoded, and as SQLAlchemy renders it in a URL
                    fresh.update((plain, quote(plain, safe=""), quote(plain, safe=" +")))
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets = self._secrets | fresh
            self._pattern = self._compile(self._secrets)

    def add_environment(self, environ: Mapping[str, str] | None = None) -> None:
        """Register the values of environment variables whose names say they hold secrets.

        Values shorter than 8 characters are skipped: ``SECRET_ENABLED=true`` or
        ``TOKEN_TTL=3600`` is a setting, and masking it would corrupt every ``true`` and
        ``3600`` in the output. Secrets a config actually uses are registered by the loader
        whatever their length.
        """
        environ = os.environ if environ is None else environ
        self.add(
            *(
                value
                for name, value in environ.items()
                if _SECRET_ENV_NAME.search(name) and len(value.strip()) >= _MIN_ENV_SECRET
            )
        )

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
        """Return ``text`` with every registered secret, and every URL password, as ``***``."""
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return redact_urls_in(text)

    @staticmethod
    def _compile(secrets: Iterable[str]) -> re.Pattern[str] | None:
        alternatives = []
        for secret in sorted(secrets, key=len, reverse=True):
            pattern = re.escape(secret)
            if len(secret) < _MIN_SUBSTRING_SECRET:
                # a boundary only where the secret itself begins or ends with a word character
                before = r"(?<!\w)" if re.match(r"\w", secret) else ""
                after = r"(?!\w)" if re.search(r"\w$", secret) else ""
                pattern = f"{before}{pattern}{after}"
            alternatives.append(pattern)
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

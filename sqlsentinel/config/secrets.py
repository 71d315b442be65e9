"""Find the secrets a config holds, so the redactor can mask them wherever they turn up.

Only values that are credentials are registered: masking a plain word such as ``production``
(an ``X-Environment`` header) would turn every occurrence of it in logs into ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlsplit

from sqlsentinel.redact import url_password

__all__ = ["header_secrets", "url_secrets"]

_SECRET_NAME = re.compile(
    r"auth|token|key|secret|signature|sig\b|passw|pwd|session|cookie|credential", re.I
)
# ``Token token=abc`` (PagerDuty) carries the secret after the '='; base64 padding does not.
MIN_QUERY_SECRET = 8
"""Shortest query value of a receiver's URL registered as a secret whatever its name."""
_KEY_VALUE = re.compile(r"^[A-Za-z_]+=(?P<value>[^=\s].*)$")


def header_secrets(headers: Mapping[str, str]) -> set[str]:
    """Return the values of headers whose names say they carry credentials, and the credential.

    ``Authorization: Bearer abc`` yields ``Bearer abc`` and ``abc``, so the token is masked
    where it appears alone too.
    """
    found: set[str] = set()
    for name, value in headers.items():
        if not _SECRET_NAME.search(name):
            continue
        found.add(value)
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if credential and scheme.isalpha():
            found.add(credential)
            match = _KEY_VALUE.match(credential)
            if match:
                found.add(match["value"])
    return found


def url_secrets(url: str, *, every_query_value: bool = False) -> set[str]:
    """Return the password of ``url`` and the values of credential-like query parameters.

    ``every_query_value`` is for the URL of a receiver (a webhook, Slack), whose query is
    often the credential whatever its name (Azure Functions' ``?code=``): then every query
    value of at least :data:`MIN_QUERY_SECRET` characters is returned too. Shorter ones
    (``?v=2``, ``?format=json``) are settings, and masking them would turn every ``2`` in
    the output into ``***``; a short value under a credential-like name is still returned.
    """
    found = {url_password(url) or ""}
    try:
        query = urlsplit(url).query
    except ValueError:
        return found - {""}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if _SECRET_NAME.search(unquote_plus(key)) or (
            every_query_value and len(unquote_plus(value)) >= MIN_QUERY_SECRET
        ):
            # as written (a base64 key keeps its '+') and as a form decoder reads it
            found.update((value, unquote_plus(value)))
    return found - {""}

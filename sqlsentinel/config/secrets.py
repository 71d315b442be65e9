"""Find the secrets a config holds, so the redactor can mask them wherever they turn up.

Only values that are credentials are registered: masking a plain word such as ``production``
(an ``X-Environment`` header) would turn every occurrence of it in logs into ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from sqlsentinel.redact import url_password

__all__ = ["header_secrets", "url_secrets"]

_SECRET_NAME = re.compile(
    r"auth|token|key|secret|signature|sig\b|passw|pwd|session|cookie|credential", re.I
)
# ``Token token=abc`` (PagerDuty) carries the secret after the '='; base64 padding does not.
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


def url_secrets(url: str) -> set[str]:
    """Return the password of ``url`` and the values of credential-like query parameters."""
    found = {url_password(url) or ""}
    try:
        query = urlsplit(url).query
    except ValueError:
        return found - {""}
    found.update(value for key, value in parse_qsl(query) if _SECRET_NAME.search(key))
    return found - {""}

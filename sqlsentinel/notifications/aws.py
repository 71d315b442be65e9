"""Share the boto3 seam of the SES and SNS channels: lazy clients and botocore errors as ours.

boto3 costs ~120 ms of import, so nothing here imports it until a message is actually sent:
:func:`require_boto3` only asks whether it is installed. A client is built once per
process for each (service, region, timeout) — a warm Lambda reuses it — with botocore's own
retries off, because :func:`~sqlsentinel.notifications.delivery.deliver` retries (and
records each attempt) itself. :func:`aws_errors` turns every botocore exception into a
:class:`~sqlsentinel.errors.NotifyError`, chained with ``from``: throttling, 5xx and
connection trouble are transient; everything else is permanent and says what to fix.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlsentinel.errors import ConfigError, NotifyError

__all__ = [
    "EXTRA_HINT",
    "aws_errors",
    "client",
    "region",
    "require_boto3",
    "require_region",
    "translate",
]

EXTRA_HINT = "boto3 is not installed; install the AWS extra: pip install 'sqlsentinel[aws]'"

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
        "KMSThrottlingException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
"""Error codes that mean "not now" rather than "not like this": retried with backoff."""

_CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}
    | {"ExpiredToken", "ExpiredTokenException", "InvalidSignatureException"}
)
_PERMISSION_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})


def require_boto3() -> None:
    """Raise ``ConfigError`` naming the extra when boto3 is missing — without importing it."""
    if importlib.util.find_spec("boto3") is None:
        raise ConfigError(EXTRA_HINT)


def region(configured: str | None, environ: Mapping[str, str]) -> str | None:
    """Return the channel's region, else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else ``None``.

    ``None`` leaves the choice to boto3 (``~/.aws/config``); ``environ`` is the one the
    caller was given, which in a Lambda handler need not be ``os.environ``.
    """
    return configured or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


def require_region(service: str, configured: str | None, environ: Mapping[str, str]) -> str | None:
    """Return the region as :func:`region` does, or raise ``ConfigError`` when boto3 has none.

    With no region on the channel nor in ``AWS_REGION``/``AWS_DEFAULT_REGION``, boto3 can
    still find one in its config file, so a channel is refused only when that file does not
    exist either (``AWS_CONFIG_FILE``, else ``~/.aws/config``). Reading the file would mean
    importing boto3 (~120 ms), so a file without a region still fails — at send time, saying
    to set one. ``AWS_CONFIG_FILE`` is read from ``environ``, then from the process
    environment, which is where boto3 reads it.
    """
    found = region(configured, environ)
    if found is None and not _config_file_exists(environ):
        raise ConfigError(
            f"no AWS region for {service}: set region on the channel, or the AWS_REGION "
            "environment variable (or a region in the AWS config file, ~/.aws/config)"
        )
    return found


def _config_file_exists(environ: Mapping[str, str]) -> bool:
    path = environ.get("AWS_CONFIG_FILE") or os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    return os.path.isfile(os.path.expanduser(path))


@functools.cache
def client(service: str, region: str | None, timeout: float = 10.0) -> Any:
    """Return this process's boto3 client for ``service`` in ``region`` (boto3's own if None).

    Each client gets its own session: boto3 sessions are not thread-safe, clients are.
    Raises ``NotifyError`` (permanent) when boto3 is missing; call it inside
    :func:`aws_errors`, which reports a region that cannot be found.
    """
    try:
        boto3 = _untyped("boto3")
        config_module = _untyped("botocore.config")
    except ImportError as exc:
        raise NotifyError(EXTRA_HINT, permanent=True) from exc
    config = config_module.Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": 1},  # deliver() retries, and records it
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


@contextmanager
def aws_errors(service: str, permission: str = "") -> Iterator[None]:
    """Turn any botocore exception raised inside into ``NotifyError``, chained with ``from``."""
    try:
        yield
    except NotifyError:
        raise
    except Exception as exc:
        error = translate(exc, service, permission)
        if error is None:
            raise  # not botocore's: a bug, which deliver() records as such
        raise error from exc


def translate(exc: Exception, service: str, permission: str = "") -> NotifyError | None:
    """Return the ``NotifyError`` for a botocore exception, or ``None`` for any other.

    ``service`` names the channel in the message (``SES``); ``permission`` is the IAM action
    it needs (``ses:SendEmail``), named when AWS denies it.
    """
    bx = _untyped("botocore.exceptions")

    if isinstance(exc, bx.ClientError):
        return _client_error(exc, service, permission)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return NotifyError(
            f"{service}: no AWS credentials found: {exc}; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the function an IAM role",
            permanent=True,
        )
    if isinstance(exc, bx.NoRegionError):
        return NotifyError(
            f"{service}: no AWS region: set region on the channel or AWS_REGION", permanent=True
        )
    if isinstance(exc, bx.SSLError):
        return NotifyError(
            f"{service}: TLS verification failed: {exc}; if a proxy re-signs traffic, point "
            "AWS_CA_BUNDLE at its certificate",
            permanent=True,
        )
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):  # timeouts included
        return NotifyError(f"{service} could not be reached: {exc}")
    if isinstance(exc, bx.BotoCoreError):
        return NotifyError(f"{service}: {exc}", permanent=True)
    return None


def _untyped(name: str) -> Any:
    """Import ``name`` as ``Any``: boto3 ships no type hints, and the seam is this module."""
    return importlib.import_module(name)


def _client_error(exc: Any, service: str, permission: str) -> NotifyError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "").strip()
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    text = f"{service} refused the request: {code}" + (f": {message}" if message else "")
    if code in THROTTLING_CODES or status == 429 or status >= 500:
        return NotifyError(text, retry_after=_retry_after(meta.get("HTTPHeaders", {})))
    if code in _PERMISSION_CODES and permission:
        text += f" (allow {permission} for the identity sqlsentinel runs as)"
    elif code in _CREDENTIAL_CODES:
        text += " (the AWS credentials are wrong or expired)"
    elif code == "MessageRejected" and "not verified" in message.lower():
        text += " (verify the sender address or domain in SES for this region)"
    elif code in ("NotFound", "NotFoundException"):
        text += " (check the ARN, the account and the region)"
    return NotifyError(text, permanent=True)


def _retry_after(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after")))
    except (TypeError, ValueError):
        return None

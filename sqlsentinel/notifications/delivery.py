"""Send one notification through every channel of an alert, retrying what can succeed later.

The steps, for each channel in turn:

1. Send. Success ends the channel with ``ok=True``.
2. A permanent failure (``NotifyError(permanent=True)``: bad credentials, unknown recipient,
   HTTP 4xx, a missing setting) ends the channel at once: retrying cannot fix it.
3. A transient failure (connection refused, timeout, SMTP 4xx, HTTP 5xx or 429) is retried
   after ``backoff * 2**(attempt-1)`` seconds, or the server's ``Retry-After`` if longer, up to
   ``attempts`` tries. A server that asks for more than :data:`MAX_WAIT` is not waited for:
   the channel fails now, and its outcome carries the wait the server asked for.
4. Anything else a channel raises is a bug; it is recorded as a failure, never retried,
   and never stops the other channels.

Every outcome is logged and returned; one channel failing never stops another or the run.
``sleep`` is injected so that tests never wait for real.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlsentinel.errors import NotifyError
from sqlsentinel.notifications.base import ChannelOutcome, Notification, Notifier
from sqlsentinel.redact import redactor

__all__ = ["MAX_WAIT", "deliver"]

log = logging.getLogger(__name__)

MAX_WAIT = 60.0
"""Longest wait between two attempts, in seconds; a tick cannot wait longer than this."""


def deliver(
    notification: Notification,
    notifiers: Sequence[Notifier],
    *,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ChannelOutcome]:
    """Send ``notification`` through each notifier; return one outcome per notifier."""
    return [
        _deliver_one(notification, notifier, attempts=attempts, backoff=backoff, sleep=sleep)
        for notifier in notifiers
    ]


def _deliver_one(
    notification: Notification,
    notifier: Notifier,
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> ChannelOutcome:
    kind, name = notification.kind, notification.alert.name
    error = ""
    permanent, retry_after = False, None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            notifier.send(notification)
        except NotifyError as exc:
            error = redactor.scrub(str(exc))
            permanent, retry_after = exc.permanent, exc.retry_after
            if exc.permanent or attempt == attempts:
                break
            delay = backoff * 2 ** (attempt - 1)
            if exc.retry_after is not None:
                if exc.retry_after > MAX_WAIT:
                    error += (
                        f" (the server asked to wait {exc.retry_after:g}s, longer than a run waits)"
                    )
                    break
                delay = max(delay, exc.retry_after)
            delay = min(delay, MAX_WAIT)
            log.info(
                "alert '%s': %s to %s failed (attempt %d of %d), retrying in %gs: %s",
                name, notifier.channel, notifier.target, attempt, attempts, delay, error,
            )  # fmt: skip
            sleep(delay)
        except Exception as exc:  # a bug in a channel must not cost the other channels
            error = redactor.scrub(f"unexpected {type(exc).__name__}: {exc}")
            permanent, retry_after = False, None
            log.debug("alert '%s': %s raised", name, notifier.channel, exc_info=True)
            break
        else:
            log.info(
                "alert '%s': %s %s delivered to %s (attempt %d)",
                name, kind, notifier.channel, notifier.target, attempt,
            )  # fmt: skip
            return ChannelOutcome(notifier.channel, kind, True, attempt, None, notifier.target)
    log.warning(
        "alert '%s': %s %s NOT delivered to %s after %d attempt%s: %s",
        name, kind, notifier.channel, notifier.target, attempt, "" if attempt == 1 else "s", error,
    )  # fmt: skip
    return ChannelOutcome(
        notifier.channel, kind, False, attempt, error, notifier.target, permanent, retry_after
    )

"""Decide whether a run notifies, and with which kind. Pure: plain values in, a kind out.

This holds the rule for a run by hand (``sqlsentinel execute``), which has no memory of
earlier runs; the scheduled tick's decision, with its cooldowns, consecutive counts,
silences and recoveries, builds on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlsentinel.models import Kind, QueryResult, Status

if TYPE_CHECKING:
    from sqlsentinel.config import Alert

__all__ = ["manual_kind"]


def manual_kind(alert: Alert, result: QueryResult) -> Kind | None:
    """Return what a run by hand notifies, or ``None``.

    FIRING when the query says ALERT; ERROR when it failed or timed out and the alert has
    ``notify_on_error``; nothing for OK, because without the previous state a run by hand
    cannot tell a recovery from a quiet day.
    """
    if result.status is Status.ALERT:
        return Kind.FIRING
    if result.status.failed and alert.notify_on_error:
        return Kind.ERROR
    return None

"""Define the notification every channel sends and the interface a channel implements.

A :class:`Notifier` renders a :class:`Notification` for its channel and sends it, raising
:class:`~sqlsentinel.errors.NotifyError` — ``permanent=True`` when retrying cannot help (bad
credentials, an unknown recipient, HTTP 4xx). :func:`~sqlsentinel.notifications.delivery.
deliver` does the retrying and turns every attempt into a :class:`ChannelOutcome`.

Every notification carries a stable idempotency key ``<alert>:<slot>:<kind>`` (the alert's
name percent-encoded, so a ':' in it cannot be confused with the separators): a receiver
that sees the same key twice is seeing a duplicate it can drop — a runner killed after
sending and before recording, or a request that arrived but whose answer was lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import quote

from sqlsentinel.errors import NotifyError
from sqlsentinel.models import JsonValue, Kind, QueryResult

if TYPE_CHECKING:
    from sqlsentinel.config import Alert

__all__ = ["ChannelOutcome", "Notification", "Notifier", "Unavailable", "format_value"]

STANDARD_FIELDS = (
    "alert_name",
    "status",
    "kind",
    "actual_value",
    "threshold",
    "description",
    "severity",
    "runbook_url",
    "slot",
)
"""The placeholders every template may use; context columns of the query add to these."""


def format_value(value: JsonValue) -> str:
    """Return a query value as people read it: empty for NULL, JSON for structures."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Notification:
    """What happened to one alert in one run, to be told through each of its channels.

    ``slot`` is the cron slot the run belongs to (for a run by hand, the moment it started);
    ``sent_at`` is when the notification goes out. Both are aware datetimes, passed in —
    nothing here reads the clock. ``test`` marks a notification sent by ``notify-test``.
    """

    alert: Alert
    kind: Kind
    result: QueryResult
    slot: datetime
    sent_at: datetime
    test: bool = False

    @property
    def idempotency_key(self) -> str:
        """Return ``<alert>:<slot>:<kind>``, stable for this alert, slot and kind."""
        prefix = "test:" if self.test else ""
        return f"{prefix}{quote(self.alert.name, safe='')}:{_utc_text(self.slot)}:{self.kind}"

    @property
    def message_id_hash(self) -> str:
        """Return a hex digest of the idempotency key (for ids that must be short or plain)."""
        return hashlib.sha256(self.idempotency_key.encode("utf-8")).hexdigest()[:32]

    @property
    def slot_text(self) -> str:
        """Return the slot in the alert's timezone, with UTC beside it when they differ."""
        local = self.slot.astimezone(self.alert.schedule.tz)
        text = local.strftime("%Y-%m-%d %H:%M %Z")
        if local.utcoffset():
            text += self.slot.astimezone(UTC).strftime(" (%H:%M UTC)")
        return text

    def fields(self) -> dict[str, str]:
        """Return the template placeholders and their values, context columns included.

        The standard names win over a context column of the same name: a query cannot
        change what ``{alert_name}`` means.
        """
        alert, result = self.alert, self.result
        values = {name: format_value(value) for name, value in result.context.items()}
        values.update(
            alert_name=alert.name,
            status=result.status.value,
            kind=self.kind.value,
            actual_value=format_value(result.actual_value),
            threshold=format_value(result.threshold),
            description=alert.description or "",
            severity=alert.severity.value,
            runbook_url=alert.runbook_url or "",
            slot=_utc_text(self.slot),
        )
        return values

    def payload(self) -> dict[str, JsonValue]:
        """Return every fact of the notification as a JSON-ready mapping (webhook, SNS)."""
        alert, result = self.alert, self.result
        return {
            "alert": alert.name,
            "kind": self.kind.value,
            "status": result.status.value,
            "actual_value": result.actual_value,
            "threshold": result.threshold,
            "description": alert.description,
            "severity": alert.severity.value,
            "labels": dict(alert.labels),
            "context": dict(result.context),
            "error": result.error,
            "runbook_url": alert.runbook_url,
            "slot": _utc_text(self.slot),
            "timestamp": _utc_text(self.sent_at),
            "idempotency_key": self.idempotency_key,
            "test": self.test,
        }


@dataclass(frozen=True)
class ChannelOutcome:
    """What happened when one channel was asked to deliver one notification."""

    channel: str
    kind: Kind
    ok: bool
    attempts: int
    error: str | None = None
    target: str = field(default="", compare=False)
    permanent: bool = field(default=False, compare=False)
    """The last failure cannot be fixed by retrying (the tick does not retry it next run)."""
    retry_after: float | None = field(default=None, compare=False)
    """Seconds the receiver asked to wait before the next try, if it said."""
    entry: str = field(default="", compare=False)
    """The id of the alert's ``notify`` entry this is for (see ``factory.entry_ids``)."""

    def to_dict(self) -> dict[str, JsonValue]:
        """Return the outcome as recorded in history and printed as JSON."""
        return {
            "channel": self.channel,
            "kind": self.kind.value,
            "ok": self.ok,
            "attempts": self.attempts,
            "error": self.error,
        }


@runtime_checkable
class Notifier(Protocol):
    """One configured channel of one alert.

    ``channel`` is its type (``email``, ``slack`` ...); ``target`` says where it delivers,
    without secrets (``alerts@example.com``, ``https://hooks.slack.com/services/***``).
    """

    @property
    def channel(self) -> str:
        """Return the channel type: ``email``, ``slack``, ``webhook``, ``ses`` or ``sns``."""
        ...

    @property
    def target(self) -> str:
        """Return where it delivers, for people and logs, without secrets."""
        ...

    def render(self, notification: Notification) -> str:
        """Return what would be sent, for ``--dry-run`` (secrets masked)."""
        ...

    def send(self, notification: Notification) -> None:
        """Deliver once; raise ``NotifyError`` (``permanent`` when retrying cannot help)."""
        ...


@dataclass(frozen=True)
class Unavailable:
    """A channel whose settings are missing: every send fails, saying what to set.

    At ``sqlsentinel test`` time this is a config error; at run time it is a failed
    outcome and exit code 1 — never a quiet no-op.
    """

    channel: str
    target: str
    reason: str

    def render(self, notification: Notification) -> str:
        return f"cannot be sent: {self.reason}"

    def send(self, notification: Notification) -> None:
        raise NotifyError(self.reason, permanent=True)

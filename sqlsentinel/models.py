"""Hold the values that flow between the steps of a run: statuses, policies, query results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "AlertState",
    "EmptyResult",
    "JsonValue",
    "Kind",
    "Pending",
    "QueryResult",
    "Severity",
    "Status",
    "TriggeredBy",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


class EmptyResult(StrEnum):
    """What a query that returns no row means (the alert's ``empty_result``)."""

    ERROR = "error"
    OK = "ok"
    ALERT = "alert"


class Severity(StrEnum):
    """How urgent an alert is; travels into every notification."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Kind(StrEnum):
    """Why a notification is sent."""

    FIRING = "FIRING"  # the alert started firing
    REPEAT = "REPEAT"  # still firing after its cooldown
    RESOLVED = "RESOLVED"  # back to OK after a notified ALERT
    ERROR = "ERROR"  # the query failed or timed out

    @property
    def headline(self) -> str:
        """Return the words a subject line uses for this kind."""
        return {"REPEAT": "STILL FIRING"}.get(self.value, self.value)


class Status(StrEnum):
    """The outcome of running an alert's query."""

    OK = "OK"
    ALERT = "ALERT"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"

    @property
    def failed(self) -> bool:
        """Say whether the query failed to give an answer (ERROR or TIMEOUT)."""
        return self in (Status.ERROR, Status.TIMEOUT)


@dataclass(frozen=True)
class QueryResult:
    """What an alert's query said, made JSON-safe, and how long it took.

    ``context`` holds every column other than ``status``, ``actual_value`` and ``threshold``,
    in the order the query returned them. ``error`` is set exactly when the status failed.
    """

    status: Status
    actual_value: JsonValue = None
    threshold: JsonValue = None
    context: Mapping[str, JsonValue] = field(default_factory=dict)
    error: str | None = None
    duration: float = 0.0

    @property
    def duration_ms(self) -> float:
        """Return the duration in milliseconds, rounded to 0.1 ms."""
        return round(self.duration * 1000, 1)

    def to_dict(self) -> dict[str, JsonValue]:
        """Return the result as a JSON-ready mapping."""
        return {
            "status": self.status.value,
            "actual_value": self.actual_value,
            "threshold": self.threshold,
            "context": dict(self.context),
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


class TriggeredBy(StrEnum):
    """What started a run."""

    CRON = "CRON"  # the tick, for a scheduled slot
    MANUAL = "MANUAL"  # a person: execute, run
    API = "API"  # a program, through the library


@dataclass(frozen=True)
class Pending:
    """A notification some channels did not receive, to be retried on the next run.

    ``entries`` are the ids of the ``notify`` entries still owed it (see
    :func:`sqlsentinel.notifications.factory.entry_ids`); the retry uses the original
    ``slot``, so the idempotency key is the same and a receiver can drop a duplicate.
    """

    kind: Kind
    slot: datetime
    entries: tuple[str, ...]

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "kind": self.kind.value,
            "slot": self.slot.isoformat(),
            "entries": list(self.entries),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Pending:
        entries = data.get("entries")
        return cls(
            Kind(str(data["kind"])),
            datetime.fromisoformat(str(data["slot"])),
            tuple(str(entry) for entry in entries) if isinstance(entries, list) else (),
        )


@dataclass(frozen=True)
class AlertState:
    """What the state database remembers about one alert between runs.

    Times are aware UTC datetimes. An alert that never ran has the defaults.

    The claim fields (``claimed_slot``, ``attempt``, ``lease_owner``, ``lease_expires``,
    ``completed_slot``) make each (alert, slot) run once; the rest feed the decision:
    consecutive counts, whether the current firing episode was notified, when the last
    notifications went out, a notification still owed to some channels, and a silence.
    """

    alert: str
    claimed_slot: datetime | None = None
    attempt: int = 0
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    completed_slot: datetime | None = None
    last_status: Status | None = None
    last_run_at: datetime | None = None
    consecutive_alerts: int = 0
    consecutive_oks: int = 0
    consecutive_errors: int = 0
    firing_notified: bool = False
    """A FIRING of the current episode reached at least one channel."""
    last_notified_at: datetime | None = None
    """When a FIRING or REPEAT last reached a channel (the cooldown counts from here)."""
    last_notified_kind: Kind | None = None
    error_notified_at: datetime | None = None
    """When an ERROR notification last reached a channel (its own cooldown)."""
    pending: Pending | None = None
    silenced_until: datetime | None = None
    silence_reason: str | None = None
    config_hash: str | None = None

    def silenced(self, now: datetime) -> bool:
        """Say whether the alert is silenced at ``now``."""
        return self.silenced_until is not None and now < self.silenced_until

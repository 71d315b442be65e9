"""Describe one recorded run: a row of ``sqlsentinel_executions``.

Each row carries the ``config_hash`` of the alert definition that produced it
(:attr:`sqlsentinel.config.Alert.config_hash`), so history can say which version of a query
gave a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlsentinel.models import JsonValue, QueryResult, TriggeredBy

if TYPE_CHECKING:
    from sqlsentinel.config import Alert
    from sqlsentinel.notifications.base import ChannelOutcome

__all__ = ["MISSED", "Execution", "utc_text"]

MISSED = "MISSED"
"""The status of a slot that was not run because it was older than its grace."""


def utc_text(instant: datetime | None) -> str | None:
    """Return ``2026-11-27T10:00:00Z`` (microseconds kept when present), or ``None``."""
    if instant is None:
        return None
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class Execution:
    """One run of one alert (or one missed slot), as history records it."""

    alert: str
    triggered_by: TriggeredBy
    status: str  # OK, ALERT, ERROR, TIMEOUT or MISSED
    started_at: datetime
    finished_at: datetime
    slot: datetime | None = None
    attempt: int = 1
    duration_ms: int = 0
    actual_value: JsonValue = None
    threshold: JsonValue = None
    context: Mapping[str, JsonValue] = field(default_factory=dict)
    error: str | None = None
    decision: str | None = None
    notifications: Sequence[Mapping[str, JsonValue]] = ()
    coalesced: int = 0
    runner_id: str | None = None
    config_hash: str | None = None
    id: int | None = None

    @classmethod
    def of_run(
        cls,
        alert: Alert,
        result: QueryResult,
        *,
        triggered_by: TriggeredBy,
        started_at: datetime,
        slot: datetime | None,
        attempt: int = 1,
        decision: str | None = None,
        outcomes: Sequence[ChannelOutcome] = (),
        coalesced: int = 0,
        runner_id: str | None = None,
    ) -> Execution:
        """Return the record of one run of ``alert`` that gave ``result``."""
        return cls(
            alert=alert.name,
            triggered_by=triggered_by,
            status=result.status.value,
            started_at=started_at,
            finished_at=started_at,
            slot=slot,
            attempt=attempt,
            duration_ms=round(result.duration * 1000),
            actual_value=result.actual_value,
            threshold=result.threshold,
            context=dict(result.context),
            error=result.error,
            decision=decision,
            notifications=[{**o.to_dict(), "entry": o.entry, "target": o.target} for o in outcomes],
            coalesced=coalesced,
            runner_id=runner_id,
            config_hash=alert.config_hash,
        )

    def to_dict(self) -> dict[str, JsonValue]:
        """Return the run as ``sqlsentinel history --format json`` prints it."""
        return {
            "alert": self.alert,
            "slot": utc_text(self.slot),
            "triggered_by": self.triggered_by.value,
            "attempt": self.attempt,
            "status": self.status,
            "started_at": utc_text(self.started_at),
            "duration_ms": self.duration_ms,
            "actual_value": self.actual_value,
            "threshold": self.threshold,
            "context": dict(self.context),
            "error": self.error,
            "notifications": [
                {key: outcome.get(key) for key in ("channel", "kind", "ok", "attempts", "error")}
                for outcome in self.notifications
            ],
        }

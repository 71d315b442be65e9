"""Hold the values that flow between the steps of a run: statuses, policies, query results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

__all__ = ["EmptyResult", "JsonValue", "Kind", "QueryResult", "Severity", "Status"]

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

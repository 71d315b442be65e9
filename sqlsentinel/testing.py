"""Fakes of sqlsentinel's ports, for tests — ours and yours.

:class:`RecordingNotifier` stands in for a channel: it records what it was asked to send and
can be told to fail, so the delivery and decision logic can be tested without a server.
:class:`MemoryStateStore` stands in for the state database, with the same claim and fencing
rules, so the tick can be tested without one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlsentinel.executor.history import Execution
from sqlsentinel.executor.state import Claim, Claimed, Record
from sqlsentinel.models import AlertState
from sqlsentinel.notifications.base import Notification

__all__ = ["MemoryStateStore", "RecordingNotifier"]


@dataclass
class RecordingNotifier:
    """A channel that records every notification and raises the failures it is given.

    ``failures`` are raised one per call, in order, before sends start succeeding —
    ``RecordingNotifier(failures=[NotifyError("451", permanent=False)] * 2)`` fails twice,
    then delivers.
    """

    channel: str = "recording"
    target: str = "memory"
    failures: list[BaseException] = field(default_factory=list)
    sent: list[Notification] = field(default_factory=list)
    calls: int = 0

    @classmethod
    def failing(cls, *failures: BaseException, channel: str = "recording") -> RecordingNotifier:
        """Return a notifier that raises ``failures`` in order, then delivers."""
        return cls(channel=channel, failures=list(failures))

    def render(self, notification: Notification) -> str:
        return f"{notification.kind} {notification.alert.name} ({notification.idempotency_key})"

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)


class MemoryStateStore:
    """The state store in memory, with the same claim and fencing rules as the SQL one.

    For tests of the tick and the commands that need no database; thread-safe.
    """

    def __init__(self) -> None:
        self.states: dict[str, AlertState] = {}
        self.revisions: dict[str, int] = {}
        self.executions: list[Execution] = []
        self._lock = threading.Lock()

    def load(self) -> dict[str, AlertState]:
        with self._lock:
            return dict(self.states)

    def claim(self, wanted: Sequence[Claim], runner: str, now: datetime) -> list[Claimed]:
        won = []
        with self._lock:
            for request in wanted:
                previous = self.states.get(request.alert, AlertState(request.alert))
                if not _claimable(previous, request.slot, now):
                    continue
                attempt = previous.attempt + 1 if previous.claimed_slot == request.slot else 1
                self._write(
                    replace(
                        previous,
                        claimed_slot=request.slot,
                        attempt=attempt,
                        lease_owner=runner,
                        lease_expires=request.lease_until,
                    )
                )
                won.append(Claimed(request.alert, request.slot, attempt, previous))
        return won

    def record(self, records: Sequence[Record], runner: str, now: datetime) -> list[str]:
        refused = []
        with self._lock:
            for item in records:
                current = self.states.get(item.state.alert)
                if current is None or (
                    current.claimed_slot,
                    current.attempt,
                    current.lease_owner,
                ) != (
                    item.slot,
                    item.attempt,
                    runner,
                ):
                    refused.append(item.state.alert)
                    continue
                self._write(
                    replace(
                        item.state,
                        claimed_slot=item.slot,
                        attempt=item.attempt,
                        completed_slot=item.slot,
                        lease_owner=None,
                        lease_expires=None,
                        silenced_until=current.silenced_until,
                        silence_reason=current.silence_reason,
                    )
                )
                self.executions.append(item.execution)
        return refused

    def record_missed(self, missed: Sequence[Execution], runner: str, now: datetime) -> int:
        count = 0
        with self._lock:
            for run in missed:
                current = self.states.get(run.alert, AlertState(run.alert))
                if run.slot is None or (
                    current.claimed_slot is not None and current.claimed_slot >= run.slot
                ):
                    continue
                self._write(
                    replace(current, claimed_slot=run.slot, completed_slot=run.slot, attempt=1)
                )
                self.executions.append(run)
                count += 1
        return count

    def baseline(self, slots: Sequence[tuple[str, datetime]], now: datetime) -> None:
        with self._lock:
            for alert, slot in slots:
                current = self.states.get(alert, AlertState(alert))
                if current.claimed_slot is None:
                    self._write(replace(current, claimed_slot=slot, completed_slot=slot))

    def read(self, alert: str) -> tuple[AlertState, int]:
        with self._lock:
            return self.states.get(alert, AlertState(alert)), self.revisions.get(alert, 0)

    def record_manual(
        self, new: AlertState, execution: Execution, revision: int, now: datetime
    ) -> bool:
        with self._lock:
            self.executions.append(execution)
            if self.revisions.get(new.alert, 0) != revision:
                return False
            current = self.states.get(new.alert, AlertState(new.alert))
            claim = {f: getattr(current, f) for f in _CLAIM_FIELDS}
            self._write(replace(new, **claim))
            return True

    def silence(
        self, alert: str, until: datetime | None, reason: str | None, now: datetime
    ) -> None:
        with self._lock:
            current = self.states.get(alert, AlertState(alert))
            self._write(replace(current, silenced_until=until, silence_reason=reason))

    def history(self, alert: str | None, limit: int) -> list[Execution]:
        with self._lock:
            runs = [run for run in self.executions if alert is None or run.alert == alert]
        return list(reversed(runs))[:limit]

    def forget(self, alerts: Iterable[str], now: datetime) -> int:
        count = 0
        with self._lock:
            for alert in alerts:
                current = self.states.get(alert)
                if current is not None and (
                    current.lease_expires is None or current.lease_expires <= now
                ):
                    del self.states[alert]
                    count += 1
        return count

    def prune(self, before: datetime, batch: int) -> int:
        with self._lock:
            old = [run for run in self.executions if run.started_at < before][:batch]
            for run in old:
                self.executions.remove(run)
        return len(old)

    def _write(self, new: AlertState) -> None:
        self.states[new.alert] = new
        self.revisions[new.alert] = self.revisions.get(new.alert, 0) + 1


def _over(state: AlertState, now: datetime) -> bool:
    return (
        state.completed_slot == state.claimed_slot
        or state.lease_expires is None
        or state.lease_expires <= now
    )


_CLAIM_FIELDS = ("claimed_slot", "attempt", "lease_owner", "lease_expires", "completed_slot")


def _claimable(state: AlertState, slot: datetime, now: datetime) -> bool:
    lapsed = state.lease_expires is None or state.lease_expires <= now
    if state.claimed_slot is None:
        return True
    if state.claimed_slot < slot:
        return state.completed_slot == state.claimed_slot or lapsed
    return (
        state.claimed_slot == slot
        and state.completed_slot != slot
        and state.lease_expires is not None
        and state.lease_expires <= now
    )

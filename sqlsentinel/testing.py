"""Fakes of sqlsentinel's ports, for tests — ours and yours.

:class:`RecordingNotifier` stands in for a channel: it records what it was asked to send and
can be told to fail, so the delivery and decision logic can be tested without a server.
:class:`MemoryStateStore` stands in for the state database, with the same claim and fencing
rules, so the tick can be tested without one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlsentinel.errors import StateStoreError
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

    For tests of the tick and the commands that need no database; thread-safe. It gives back
    what the SQL store gives back — times as aware UTC, history rows with ids and with their
    JSON values as JSON reads them — and, like the SQL store's unique key, refuses a second
    history row for one scheduled (alert, slot, attempt), writing nothing of that call; so a
    test that passes here does not fail for want of a real database.
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
            new: dict[str, AlertState] = {}  # written only once every history row is valid
            runs = []
            for item in records:
                alert = item.state.alert
                current = new.get(alert) or self.states.get(alert)
                claim = (item.slot, item.attempt, runner)
                if current is None or _claim_of(current) != claim:
                    refused.append(alert)
                    continue
                new[alert] = replace(
                    item.state,
                    claimed_slot=current.claimed_slot,
                    attempt=item.attempt,
                    completed_slot=item.slot,
                    lease_owner=None,
                    lease_expires=None,
                    silenced_until=current.silenced_until,
                    silence_reason=current.silence_reason,
                )
                runs.append(item.execution)
            self._add_runs(runs, "record runs")
            for state in new.values():
                self._write(state)
        return refused

    def record_missed(self, missed: Sequence[Execution], runner: str, now: datetime) -> int:
        with self._lock:
            new: dict[str, AlertState] = {}
            runs = []
            for run in missed:
                current = new.get(run.alert) or self.states.get(run.alert, AlertState(run.alert))
                if run.slot is None or (
                    current.claimed_slot is not None
                    and not (current.claimed_slot < run.slot and _over(current, now))
                ):
                    continue  # a newer slot was claimed, or a run is in flight
                new[run.alert] = replace(
                    current,
                    claimed_slot=run.slot,
                    completed_slot=run.slot,
                    attempt=1,
                    lease_owner=None,
                    lease_expires=None,
                )
                runs.append(run)
            self._add_runs(runs, "record missed slots")
            for state in new.values():
                self._write(state)
        return len(runs)

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
            self._add_runs([execution], "record the run")
            current = self.states.setdefault(new.alert, AlertState(new.alert))
            if self.revisions.get(new.alert, 0) != revision:
                return False
            # a run by hand writes what the decision remembers, never a claim or a silence
            kept = {name: getattr(current, name) for name in _NOT_DECIDED}
            self._write(replace(new, **kept))
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
            # oldest first: the list is in the order the rows were added, as ids are
            old = [run for run in self.executions if run.started_at < before][:batch]
            gone = {id(run) for run in old}
            self.executions = [run for run in self.executions if id(run) not in gone]
        return len(old)

    def _write(self, new: AlertState) -> None:
        self.states[new.alert] = _in_utc(new)
        self.revisions[new.alert] = self.revisions.get(new.alert, 0) + 1

    def _add_runs(self, runs: Sequence[Execution], doing: str) -> None:
        """Append history rows as the database would store them, or raise and add none."""
        taken = {_run_key(run) for run in self.executions if run.slot is not None}
        for run in runs:
            key = _run_key(run)
            if run.slot is not None and key in taken:
                raise StateStoreError(
                    f"the state database (in memory) could not {doing}: alert '{run.alert}' "
                    f"already has a run for slot {run.slot.isoformat()}, attempt {run.attempt}"
                )
            taken.add(key)
        next_id = max((run.id or 0 for run in self.executions), default=0) + 1
        for number, run in enumerate(runs, start=next_id):
            self.executions.append(_as_stored(run, number))


_CLAIM_FIELDS = ("claimed_slot", "attempt", "lease_owner", "lease_expires", "completed_slot")
_NOT_DECIDED = (*_CLAIM_FIELDS, "silenced_until", "silence_reason")


def _claim_of(state: AlertState) -> tuple[datetime | None, int, str | None]:
    return state.claimed_slot, state.attempt, state.lease_owner


def _run_key(run: Execution) -> tuple[str, datetime | None, int]:
    return run.alert, run.slot, run.attempt


def _utc(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(UTC)


def _in_utc(state: AlertState) -> AlertState:
    """Return ``state`` with its times in UTC, as the state database gives them back."""
    times: dict[str, object] = {
        f.name: _utc(getattr(state, f.name))
        for f in fields(state)
        if isinstance(getattr(state, f.name), datetime)
    }
    if state.pending is not None:
        times["pending"] = replace(state.pending, slot=state.pending.slot.astimezone(UTC))
    return replace(state, **times)  # type: ignore[arg-type]


def _as_stored(run: Execution, number: int) -> Execution:
    """Return ``run`` as the history table gives it back: with an id, UTC times, JSON values."""

    def json_value(value: object) -> Any:
        return json.loads(json.dumps(value, ensure_ascii=False, default=str))

    return replace(
        run,
        id=number,
        slot=_utc(run.slot),
        started_at=run.started_at.astimezone(UTC),
        finished_at=run.finished_at.astimezone(UTC),
        actual_value=json_value(run.actual_value),
        threshold=json_value(run.threshold),
        context=json_value(dict(run.context)),
        notifications=json_value(list(run.notifications)),
    )


def _over(state: AlertState, now: datetime) -> bool:
    return (
        state.completed_slot == state.claimed_slot
        or state.lease_expires is None
        or state.lease_expires <= now
    )


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

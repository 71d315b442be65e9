"""Build every statement the state store runs: the one module that holds state SQL.

Named functions return SQLAlchemy Core statements, so every lock and update the tick relies
on can be reviewed here; :mod:`sqlsentinel.executor.state` executes them. Also here: the
conversions between :class:`~sqlsentinel.models.AlertState` /
:class:`~sqlsentinel.executor.history.Execution` and rows (times stored as naive UTC, JSON
as text).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from sqlsentinel.database.schema import configs, executions, state
from sqlsentinel.executor.history import Execution
from sqlsentinel.models import AlertState, Kind, Pending, Status, TriggeredBy

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.sql.elements import ColumnElement

    from sqlsentinel.executor.state import Claim, Record


def to_db(instant: datetime | None) -> datetime | None:
    """Return an aware datetime as naive UTC, as the tables store it."""
    return None if instant is None else instant.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime | None) -> datetime | None:
    """Return a stored naive-UTC datetime as an aware one."""
    return None if value is None else value.replace(tzinfo=UTC)


def to_json(value: Any) -> str:
    """Return ``value`` as JSON text, keys in their order (a query's columns keep theirs)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def from_json(text: str | None) -> Any:
    """Return the value of stored JSON text (``None`` for NULL)."""
    return None if text is None else json.loads(text)


def state_from_row(row: Row[Any]) -> AlertState:
    m = row._mapping
    pending = from_json(m["pending"])
    return AlertState(
        alert=m["alert"],
        claimed_slot=from_db(m["claimed_slot"]),
        attempt=m["attempt"] or 0,
        lease_owner=m["lease_owner"],
        lease_expires=from_db(m["lease_expires"]),
        completed_slot=from_db(m["completed_slot"]),
        last_status=Status(m["last_status"]) if m["last_status"] else None,
        last_run_at=from_db(m["last_run_at"]),
        consecutive_alerts=m["consecutive_alerts"] or 0,
        consecutive_oks=m["consecutive_oks"] or 0,
        consecutive_errors=m["consecutive_errors"] or 0,
        firing_notified=bool(m["firing_notified"]),
        last_notified_at=from_db(m["last_notified_at"]),
        last_notified_kind=Kind(m["last_notified_kind"]) if m["last_notified_kind"] else None,
        error_notified_at=from_db(m["error_notified_at"]),
        pending=Pending.from_dict(pending) if pending else None,
        silenced_until=from_db(m["silenced_until"]),
        silence_reason=m["silence_reason"],
        config_hash=m["config_hash"],
    )


def decision_values(new: AlertState, now: datetime) -> dict[str, Any]:
    """Return the columns a run writes: everything the decision remembers."""
    return {
        "last_status": new.last_status.value if new.last_status else None,
        "last_run_at": to_db(new.last_run_at),
        "consecutive_alerts": new.consecutive_alerts,
        "consecutive_oks": new.consecutive_oks,
        "consecutive_errors": new.consecutive_errors,
        "firing_notified": new.firing_notified,
        "last_notified_at": to_db(new.last_notified_at),
        "last_notified_kind": new.last_notified_kind.value if new.last_notified_kind else None,
        "error_notified_at": to_db(new.error_notified_at),
        "pending": pending_json(new.pending),
        "config_hash": new.config_hash,
        "updated_at": to_db(now),
        "revision": state.c.revision + 1,
    }


def pending_json(pending: Pending | None) -> str | None:
    """Return a pending notification as stored: JSON, its slot in UTC like every stored time."""
    if pending is None:
        return None
    return to_json(replace(pending, slot=pending.slot.astimezone(UTC)).to_dict())


def execution_values(run: Execution) -> dict[str, Any]:
    return {
        "alert": run.alert,
        "slot": to_db(run.slot),
        "triggered_by": run.triggered_by.value,
        "attempt": run.attempt,
        "status": run.status,
        "started_at": to_db(run.started_at),
        "finished_at": to_db(run.finished_at),
        "duration_ms": run.duration_ms,
        "actual_value": to_json(run.actual_value),
        "threshold": to_json(run.threshold),
        "context": to_json(dict(run.context)),
        "error": run.error,
        "decision": run.decision,
        "notifications": to_json(list(run.notifications)),
        "coalesced": run.coalesced,
        "runner_id": run.runner_id,
        "config_hash": run.config_hash,
    }


def execution_from_row(row: Row[Any]) -> Execution:
    m = row._mapping
    return Execution(
        id=m["id"],
        alert=m["alert"],
        slot=from_db(m["slot"]),
        triggered_by=TriggeredBy(m["triggered_by"]),
        attempt=m["attempt"],
        status=m["status"],
        started_at=from_db(m["started_at"]) or datetime.min.replace(tzinfo=UTC),
        finished_at=from_db(m["finished_at"]) or datetime.min.replace(tzinfo=UTC),
        duration_ms=m["duration_ms"],
        actual_value=from_json(m["actual_value"]),
        threshold=from_json(m["threshold"]),
        context=from_json(m["context"]) or {},
        error=m["error"],
        decision=m["decision"],
        notifications=from_json(m["notifications"]) or [],
        coalesced=m["coalesced"],
        runner_id=m["runner_id"],
        config_hash=m["config_hash"],
    )


# --- the statements -----------------------------------------------------------------------


def insert_missing_states(dialect: str, alerts: Sequence[str], now: datetime) -> Any:
    """INSERT state rows for ``alerts``, ignoring those that exist (another runner's)."""
    rows = [
        {"alert": name, "attempt": 0, "consecutive_alerts": 0, "consecutive_oks": 0,
         "consecutive_errors": 0, "firing_notified": False, "revision": 0,
         "created_at": to_db(now), "updated_at": to_db(now)}
        for name in alerts
    ]  # fmt: skip
    if dialect == "postgresql":
        return postgresql.insert(state).values(rows).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(state).values(rows).on_conflict_do_nothing()
    return mysql.insert(state).values(rows).prefix_with("IGNORE")


def claimable(slot: datetime, now: datetime) -> ColumnElement[bool]:
    """The condition under which a state row may be claimed for ``slot`` at ``now``.

    Never claimed; or claimed for an older slot whose run is over (completed, or its lease
    expired — a newer slot never takes over a run in flight, whose record would then be
    refused); or claimed for this very slot by a runner whose lease expired before it
    completed.
    """
    s, n = to_db(slot), to_db(now)
    lapsed = or_(state.c.lease_expires.is_(None), state.c.lease_expires <= n)
    return or_(
        state.c.claimed_slot.is_(None),
        and_(
            state.c.claimed_slot < s,
            or_(state.c.completed_slot == state.c.claimed_slot, lapsed),
        ),
        and_(
            state.c.claimed_slot == s,
            or_(state.c.completed_slot.is_(None), state.c.completed_slot != s),
            state.c.lease_expires <= n,
        ),
    )


def select_claimable(wanted: Sequence[Claim], now: datetime) -> Any:
    """SELECT the claimable rows of ``wanted``, locking them and skipping locked ones."""
    condition = or_(*(and_(state.c.alert == w.alert, claimable(w.slot, now)) for w in wanted))
    return select(state).where(condition).with_for_update(skip_locked=True)


def claim_row(claim: Claim, attempt: int, runner: str, now: datetime) -> Any:
    """UPDATE one row to "slot s, attempt n, leased to ``runner``", if still claimable."""
    return (
        update(state)
        .where(state.c.alert == claim.alert, claimable(claim.slot, now))
        .values(
            claimed_slot=to_db(claim.slot),
            attempt=attempt,
            lease_owner=runner,
            lease_expires=to_db(claim.lease_until),
            updated_at=to_db(now),
            revision=state.c.revision + 1,
        )
    )


def fenced(alert: str, slot: datetime, attempt: int, runner: str) -> ColumnElement[bool]:
    """The condition that the row is still this runner's claim of (slot, attempt)."""
    return and_(
        state.c.alert == alert,
        state.c.claimed_slot == to_db(slot),
        state.c.attempt == attempt,
        state.c.lease_owner == runner,
    )


def complete_row(record: Record, runner: str, now: datetime) -> Any:
    """UPDATE a claimed row with the run's outcome, if the claim is still this runner's."""
    return (
        update(state)
        .where(fenced(record.state.alert, record.slot, record.attempt, runner))
        .values(
            completed_slot=to_db(record.slot),
            lease_owner=None,
            lease_expires=None,
            **decision_values(record.state, now),
        )
    )


def miss_row(run: Execution, now: datetime) -> Any:
    """UPDATE a row to "slot s missed": claimed and completed, unless s (or later) was
    claimed, or a run is still in flight."""
    s, n = to_db(run.slot), to_db(now)
    over = or_(
        state.c.completed_slot == state.c.claimed_slot,
        state.c.lease_expires.is_(None),
        state.c.lease_expires <= n,
    )
    return (
        update(state)
        .where(
            state.c.alert == run.alert,
            or_(state.c.claimed_slot.is_(None), and_(state.c.claimed_slot < s, over)),
        )
        .values(
            claimed_slot=s,
            completed_slot=s,
            attempt=1,
            lease_owner=None,
            lease_expires=None,
            updated_at=to_db(now),
            revision=state.c.revision + 1,
        )
    )


def baseline_row(alert: str, slot: datetime, now: datetime) -> Any:
    """UPDATE a never-claimed row to start from ``slot`` (claimed and completed)."""
    s = to_db(slot)
    return (
        update(state)
        .where(state.c.alert == alert, state.c.claimed_slot.is_(None))
        .values(
            claimed_slot=s, completed_slot=s, updated_at=to_db(now), revision=state.c.revision + 1
        )
    )


def manual_row(new: AlertState, revision: int, now: datetime) -> Any:
    """UPDATE the decision columns after a run by hand, if no one wrote since it read."""
    return (
        update(state)
        .where(state.c.alert == new.alert, state.c.revision == revision)
        .values(**decision_values(new, now))
    )


def silence_row(alert: str, until: datetime | None, reason: str | None, now: datetime) -> Any:
    """UPDATE an alert's silence."""
    return (
        update(state)
        .where(state.c.alert == alert)
        .values(
            silenced_until=to_db(until),
            silence_reason=reason,
            updated_at=to_db(now),
            revision=state.c.revision + 1,
        )
    )


def register_configs(dialect: str, rows: Sequence[dict[str, Any]]) -> Any:
    """INSERT alert definitions by hash, ignoring those already stored."""
    if dialect == "postgresql":
        return postgresql.insert(configs).values(rows).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(configs).values(rows).on_conflict_do_nothing()
    return mysql.insert(configs).values(rows).prefix_with("IGNORE")


def select_states() -> Any:
    """SELECT every state row (the tick reads them all in one query)."""
    return select(state)


def select_state(alert: str) -> Any:
    """SELECT one alert's state row."""
    return select(state).where(state.c.alert == alert)


def select_existing(alerts: Sequence[str]) -> Any:
    """SELECT which of ``alerts`` have a state row."""
    return select(state.c.alert).where(state.c.alert.in_(alerts))


def delete_states(alerts: Sequence[str], now: datetime) -> Any:
    """DELETE the state of ``alerts``, unless a runner holds a lease on it."""
    return delete(state).where(
        state.c.alert.in_(alerts),
        or_(state.c.lease_expires.is_(None), state.c.lease_expires <= to_db(now)),
    )


def select_history(alert: str | None, limit: int) -> Any:
    """SELECT the latest ``limit`` history rows (of one alert, or all), newest first."""
    query = select(executions).order_by(executions.c.id.desc()).limit(limit)
    return query if alert is None else query.where(executions.c.alert == alert)


def select_expired(before: datetime, batch: int) -> Any:
    """SELECT the ids of at most ``batch`` history rows older than ``before``, oldest first."""
    return (
        select(executions.c.id)
        .where(executions.c.started_at < to_db(before))
        .order_by(executions.c.id)
        .limit(batch)
    )


def delete_executions(ids: Sequence[int]) -> Any:
    """DELETE history rows by id (two steps, because MySQL refuses LIMIT in a subquery)."""
    return delete(executions).where(executions.c.id.in_(ids))


def insert_executions() -> Any:
    """INSERT history rows (executed with a list of :func:`execution_values`)."""
    return executions.insert()


def count_executions() -> Any:
    """SELECT the number of history rows."""
    return select(func.count()).select_from(executions)

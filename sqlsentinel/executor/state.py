"""Keep the state of alerts between runs, in the state database.

:class:`StateStore` is the port the tick uses; :class:`SqlStateStore` implements it on
SQLite, PostgreSQL and MariaDB/MySQL, and :class:`sqlsentinel.testing.MemoryStateStore` in
memory. Every statement it runs is built by a named function in
:mod:`sqlsentinel.database.statements`, so every lock and update can be reviewed there.

**Claiming** ``(alert, slot)`` — exactly one runner wins each, however many ticks overlap:

1. Insert the state rows that do not exist yet, in name order (a conflict means another
   runner did; one order for all runners means they cannot deadlock on each other's rows).
2. In one transaction, select the rows that are still claimable for their slot — never
   claimed, claimed for an older slot, or claimed for this slot by a runner whose lease
   expired before it completed — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB, so a
   row another runner is claiming right now is skipped, not waited for. (SQLite has no row
   locks: its state transactions begin ``IMMEDIATE``, which serialises writers, and the
   conditional UPDATE below re-checks the same condition.)
3. Update each selected row to "slot s, attempt n, leased to runner r until t", with the
   claimable condition repeated in the WHERE clause; a row the UPDATE did not change (its
   rowcount is 0) was taken by someone else, and is dropped.
4. Commit. The rows updated are the claims won, each with the state it had before.

**Recording** a run is fenced: the state row is updated, and the history row inserted, only
while the row is still ``(slot s, attempt n, runner r)`` — a runner that was killed, or lost
its lease to a later attempt, has its late write refused. State and history change in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from sqlsentinel.database import statements
from sqlsentinel.database.schema import ensure_schema
from sqlsentinel.errors import StateStoreError
from sqlsentinel.executor.history import Execution
from sqlsentinel.models import AlertState
from sqlsentinel.redact import redact_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["Claim", "Claimed", "Record", "SqlStateStore", "StateStore"]


@dataclass(frozen=True)
class Claim:
    """A request to run ``alert`` for ``slot``, leased until ``lease_until``."""

    alert: str
    slot: datetime
    lease_until: datetime


@dataclass(frozen=True)
class Claimed:
    """A claim won: the attempt number and the state the alert had before it."""

    alert: str
    slot: datetime
    attempt: int
    previous: AlertState


@dataclass(frozen=True)
class Record:
    """The outcome of a claimed run: the alert's new state and its history row."""

    state: AlertState
    execution: Execution
    slot: datetime
    attempt: int


class StateStore(Protocol):
    """Where alert state and history live. Times are aware UTC datetimes."""

    def load(self) -> dict[str, AlertState]:
        """Return the state of every alert, in one query."""
        ...

    def claim(self, wanted: Sequence[Claim], runner: str, now: datetime) -> list[Claimed]:
        """Claim what can be claimed of ``wanted``; return the claims won."""
        ...

    def record(self, records: Sequence[Record], runner: str, now: datetime) -> list[str]:
        """Store claimed runs (fenced); return the alerts whose late write was refused."""
        ...

    def record_missed(self, missed: Sequence[Execution], runner: str, now: datetime) -> int:
        """Mark missed slots as claimed and done, with a MISSED history row; return how many."""
        ...

    def baseline(self, slots: Sequence[tuple[str, datetime]], now: datetime) -> None:
        """Set the starting slot of new alerts whose latest slot was beyond their grace."""
        ...

    def read(self, alert: str) -> tuple[AlertState, int]:
        """Return one alert's state and its revision (for a run by hand)."""
        ...

    def record_manual(
        self, new: AlertState, execution: Execution, revision: int, now: datetime
    ) -> bool:
        """Store a run by hand; its state only if the row is still at ``revision``.

        Returns False when another runner wrote the state meanwhile (the history row is
        stored either way).
        """
        ...

    def silence(
        self, alert: str, until: datetime | None, reason: str | None, now: datetime
    ) -> None:
        """Silence ``alert`` until ``until`` (``None`` lifts the silence)."""
        ...

    def history(self, alert: str | None, limit: int) -> list[Execution]:
        """Return the latest ``limit`` runs (of one alert, or all), newest first."""
        ...

    def forget(self, alerts: Iterable[str], now: datetime) -> int:
        """Delete the state of alerts that left the config (not while leased)."""
        ...

    def prune(self, before: datetime, batch: int) -> int:
        """Delete at most ``batch`` history rows older than ``before``."""
        ...


class SqlStateStore:
    """The state store on a SQL database (see the module docstring for the algorithms)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._url = redact_url(engine.url.render_as_string(hide_password=True))

    @classmethod
    def open(
        cls, url: str, *, upgrade_command: str = "sqlsentinel db upgrade CONFIG"
    ) -> SqlStateStore:
        """Connect to the state database at ``url``, creating its tables on first use.

        Raises ``StateStoreError`` (exit code 3) when it cannot be reached (for SQLite: its
        file cannot be created or opened) or is at another schema version.
        """
        from sqlsentinel.database.engines import get_state_engine

        try:
            engine = get_state_engine(url)  # creates a new SQLite file, owner-only
        except OSError as exc:
            raise StateStoreError(
                f"the state database {redact_url(url)} could not be created: {exc}"
            ) from exc
        store = cls(engine)
        with store._errors("open"):
            ensure_schema(engine, upgrade_command=upgrade_command)
        return store

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        return _translated(f"the state database {self._url} could not {doing}")

    def load(self) -> dict[str, AlertState]:
        with self._errors("be read"), self.engine.connect() as conn:
            rows = conn.execute(statements.select_states()).all()
            conn.rollback()
        return {row._mapping["alert"]: statements.state_from_row(row) for row in rows}

    def claim(self, wanted: Sequence[Claim], runner: str, now: datetime) -> list[Claimed]:
        if not wanted:
            return []
        with self._errors("claim alerts"), self.engine.connect() as conn:
            self._ensure_rows(conn, [w.alert for w in wanted], now)
            by_name = {w.alert: w for w in wanted}
            won: list[Claimed] = []
            for row in conn.execute(statements.select_claimable(wanted, now)).all():
                previous = statements.state_from_row(row)
                request = by_name[previous.alert]
                same = previous.claimed_slot == request.slot
                attempt = previous.attempt + 1 if same else 1
                if conn.execute(statements.claim_row(request, attempt, runner, now)).rowcount == 1:
                    won.append(Claimed(previous.alert, request.slot, attempt, previous))
            conn.commit()
        return won

    def record(self, records: Sequence[Record], runner: str, now: datetime) -> list[str]:
        refused: list[str] = []
        if not records:
            return refused
        with self._errors("record runs"), self.engine.connect() as conn:
            kept = []
            for item in records:
                if conn.execute(statements.complete_row(item, runner, now)).rowcount == 1:
                    kept.append(item)
                else:
                    refused.append(item.state.alert)
            if kept:
                conn.execute(
                    statements.insert_executions(),
                    [statements.execution_values(r.execution) for r in kept],
                )
            conn.commit()
        return refused

    def record_missed(self, missed: Sequence[Execution], runner: str, now: datetime) -> int:
        if not missed:
            return 0
        with self._errors("record missed slots"), self.engine.connect() as conn:
            self._ensure_rows(conn, [m.alert for m in missed], now)
            kept = [m for m in missed if conn.execute(statements.miss_row(m, now)).rowcount == 1]
            if kept:
                conn.execute(
                    statements.insert_executions(), [statements.execution_values(m) for m in kept]
                )
            conn.commit()
        return len(kept)

    def baseline(self, slots: Sequence[tuple[str, datetime]], now: datetime) -> None:
        if not slots:
            return
        with self._errors("record new alerts"), self.engine.connect() as conn:
            self._ensure_rows(conn, [alert for alert, _ in slots], now)
            for alert, slot in slots:
                conn.execute(statements.baseline_row(alert, slot, now))
            conn.commit()

    def read(self, alert: str) -> tuple[AlertState, int]:
        with self._errors("be read"), self.engine.connect() as conn:
            row = conn.execute(statements.select_state(alert)).first()
            conn.rollback()
        if row is None:
            return AlertState(alert), 0
        return statements.state_from_row(row), int(row._mapping["revision"])

    def record_manual(
        self, new: AlertState, execution: Execution, revision: int, now: datetime
    ) -> bool:
        with self._errors("record the run"), self.engine.connect() as conn:
            self._ensure_rows(conn, [new.alert], now)
            updated = conn.execute(statements.manual_row(new, revision, now)).rowcount == 1
            conn.execute(statements.insert_executions(), [statements.execution_values(execution)])
            conn.commit()
        return updated

    def silence(
        self, alert: str, until: datetime | None, reason: str | None, now: datetime
    ) -> None:
        with self._errors("silence the alert"), self.engine.connect() as conn:
            self._ensure_rows(conn, [alert], now)
            conn.execute(statements.silence_row(alert, until, reason, now))
            conn.commit()

    def history(self, alert: str | None, limit: int) -> list[Execution]:
        with self._errors("be read"), self.engine.connect() as conn:
            rows = conn.execute(statements.select_history(alert, limit)).all()
            conn.rollback()
        return [statements.execution_from_row(row) for row in rows]

    def forget(self, alerts: Iterable[str], now: datetime) -> int:
        names = list(alerts)
        if not names:
            return 0
        with self._errors("clean up removed alerts"), self.engine.connect() as conn:
            count = conn.execute(statements.delete_states(names, now)).rowcount
            conn.commit()
        return int(count)

    def prune(self, before: datetime, batch: int) -> int:
        with self._errors("apply history retention"), self.engine.connect() as conn:
            ids = list(conn.execute(statements.select_expired(before, batch)).scalars())
            if ids:
                conn.execute(statements.delete_executions(ids))
            conn.commit()
        return len(ids)

    def register(
        self, definitions: Mapping[str, tuple[str, Mapping[str, Any]]], now: datetime
    ) -> None:
        """Store alert definitions by config hash (``{hash: (alert, definition)}``)."""
        if not definitions:
            return
        rows = [
            {
                "config_hash": h,
                "alert": a,
                "definition": statements.to_json(d),
                "first_seen_at": statements.to_db(now),
            }
            for h, (a, d) in definitions.items()
        ]
        with self._errors("record alert definitions"), self.engine.connect() as conn:
            conn.execute(statements.register_configs(self.dialect, rows))
            conn.commit()

    def _ensure_rows(self, conn: Connection, alerts: Sequence[str], now: datetime) -> None:
        existing = set(conn.execute(statements.select_existing(alerts)).scalars())
        # in one order for every runner: two runners inserting overlapping rows in different
        # orders would each wait for a row the other inserted (a deadlock on PostgreSQL)
        missing = sorted(set(alerts) - existing)
        if missing:
            conn.execute(statements.insert_missing_states(self.dialect, missing, now))

    def count(self) -> int:
        """Return how many history rows there are (for tests and benchmarks)."""
        with self.engine.connect() as conn:
            value = conn.execute(statements.count_executions()).scalar_one()
            conn.rollback()
        return int(value)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn SQLAlchemy's errors into ``StateStoreError`` naming what failed (STYLE rule 3)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StateStoreError(f"{what}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    from sqlsentinel.redact import redactor

    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split())
    return redactor.scrub(text) or type(orig).__name__

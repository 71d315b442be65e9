"""Run an alert's SQL read-only and within its timeout, and say what it returned.

The steps of :func:`run_query`:

1. Refuse a SQLite data source whose file is missing (SQLite would create an empty one).
2. Check a connection out of the engine's pool (pre-pinged).
3. Begin a read-only transaction with the timeout enforced by the server
   (:mod:`sqlsentinel.executor.dialects`).
4. Run the SQL exactly as written, as one statement — no bind-parameter parsing, so
   ``LIKE 'a%'`` and ``':x'`` mean what they say, and no second statement after a ``;`` —
   under a client-side guard that cancels it from another thread if the server has not
   stopped it shortly after the timeout.
5. Fetch at most two rows (enough to tell "one" from "more than one").
6. Roll back, always, and restore the session; a connection whose state is unknown (the guard
   fired, or the statement was not a query) is discarded instead of pooled. A query the
   server stopped at its own timeout leaves the connection in a known state: it is kept.
7. Hold the rows to the contract (:mod:`sqlsentinel.executor.contract`).

Failures never escape as exceptions: they are results with status ERROR or TIMEOUT and an
``error`` sentence, because a failing alert must still be recorded and reported.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlsentinel.database.engines import missing_sqlite_file
from sqlsentinel.durations import format_duration
from sqlsentinel.errors import ContractError, QueryError, QueryTimeout
from sqlsentinel.executor.contract import evaluate
from sqlsentinel.executor.dialects import Failure, QuerySession, session_for
from sqlsentinel.models import EmptyResult, QueryResult, Status
from sqlsentinel.redact import redact_url, redactor

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["GUARD_MARGIN", "ping", "run_query"]

log = logging.getLogger(__name__)

GUARD_MARGIN = 1.0
"""Seconds after the timeout at which the client cancels a query the server has not stopped."""


def run_query(
    engine: Engine,
    sql: str,
    *,
    timeout: timedelta | float = 30.0,
    empty_result: EmptyResult = EmptyResult.ERROR,
    clock: Callable[[], float] = time.monotonic,
    session: QuerySession | None = None,
) -> QueryResult:
    """Run ``sql`` on ``engine`` and return its result; never raises for a database problem.

    ``session`` overrides the dialect's read-only/timeout strategy (used to test the
    client-side guard on its own).
    """
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    started = clock()
    try:
        columns, rows = _fetch(engine, sql, seconds, session)
        result = evaluate(columns, rows, empty_result)
    except QueryTimeout as exc:
        return QueryResult(Status.TIMEOUT, error=str(exc), duration=clock() - started)
    except QueryError as exc:
        return QueryResult(Status.ERROR, error=str(exc), duration=clock() - started)
    return dataclasses.replace(result, duration=clock() - started)


def ping(engine: Engine) -> tuple[str | None, str | None]:
    """Connect once; return ``(server description, None)`` or ``(None, error sentence)``."""
    from sqlalchemy.exc import SQLAlchemyError

    url = engine.url.render_as_string(hide_password=False)
    missing = missing_sqlite_file(url)
    if missing is not None:
        return None, f"could not connect to {redact_url(url)}: {missing}"
    try:
        with engine.connect() as conn:
            dialect = conn.dialect
            version = ".".join(str(part) for part in dialect.server_version_info or ())
    except SQLAlchemyError as exc:
        return None, f"could not connect to {redact_url(url)}: {_reason(exc)}"
    product = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL"}.get(
        dialect.name, dialect.name
    )
    if getattr(dialect, "is_mariadb", False):
        product = "MariaDB"
    return f"{product} {version}".strip(), None


def _fetch(
    engine: Engine, sql: str, timeout: float, session: QuerySession | None
) -> tuple[list[str], Sequence[Sequence[Any]]]:
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    url = engine.url.render_as_string(hide_password=False)
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise QueryError(f"could not connect to {redact_url(url)}: {missing}")
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise QueryError(f"could not connect to {redact_url(url)}: {_reason(exc)}") from exc

    session = session or session_for(engine.dialect.name)
    delay = timeout + GUARD_MARGIN if session.server_timeout else timeout
    guard = _Guard(delay, lambda: session.cancel(engine, conn))
    keep = False
    try:
        try:
            session.begin(conn, timeout)
        except SQLAlchemyError as exc:
            raise QueryError(f"could not start a read-only transaction: {_reason(exc)}") from exc
        began = time.monotonic()
        try:
            with guard:
                result = conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
                if not result.returns_rows:
                    raise ContractError(
                        "the statement returned no result set; an alert query must be a "
                        "SELECT that returns a status column"
                    )
                columns = list(result.keys())
                rows = result.fetchmany(2)
                result.close()
        except DBAPIError as exc:
            # The server reported the error (its own timeout included) and the connection
            # is in a known state; a rollback makes it reusable. If the guard fired, it is
            # discarded below whatever the error says.
            keep = True
            failure = session.classify(exc.orig) if exc.orig is not None else None
            if guard.fired or failure is Failure.TIMEOUT:
                raise QueryTimeout(_timeout_message(timeout)) from exc
            raise QueryError(_failure_message(failure, exc)) from exc
        except SQLAlchemyError as exc:
            raise QueryError(_reason(exc)) from exc
        keep = True
        if guard.fired or time.monotonic() - began > timeout:
            raise QueryTimeout(_timeout_message(timeout))
        return columns, rows
    finally:
        _release(conn, session, keep=keep and not guard.fired)


def _release(conn: Connection, session: QuerySession, *, keep: bool) -> None:
    """Roll back and return the connection to the pool as it was, or discard it."""
    try:
        conn.rollback()
        if keep:
            session.end(conn)
            conn.rollback()
        else:
            conn.invalidate()
    except Exception as exc:  # restoring failed: this connection must not be reused
        log.debug("discarding a connection that could not be restored: %s", exc)
        conn.invalidate()
    finally:
        conn.close()


class _Guard:
    """Cancel the query from a timer thread if it is still running after ``delay`` seconds."""

    def __init__(self, delay: float, cancel: Callable[[], None]) -> None:
        self._delay = delay
        self._cancel = cancel
        self._timer: threading.Timer | None = None
        self.fired = False

    def __enter__(self) -> _Guard:
        self._timer = threading.Timer(self._delay, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._timer is not None
        self._timer.cancel()
        if self.fired:
            self._timer.join(timeout=5)

    def _fire(self) -> None:
        self.fired = True
        try:
            self._cancel()
        except Exception as exc:
            log.warning("could not cancel a query that ran past its timeout: %s", _reason(exc))


def _timeout_message(timeout: float) -> str:
    return (
        f"the query ran longer than its timeout of {format_duration(timedelta(seconds=timeout))} "
        "and was cancelled; make it faster or raise the alert's 'timeout:'"
    )


def _failure_message(failure: Failure | None, exc: Exception) -> str:
    if failure is Failure.WRITE:
        return (
            "the query tried to write to the database; alert queries run in a read-only "
            "transaction that is always rolled back, so nothing was changed — use a SELECT"
        )
    if failure is Failure.SEVERAL_STATEMENTS:
        return (
            "the query holds more than one statement; an alert query must be a single SELECT "
            "that returns a status column, so nothing was run"
        )
    if failure is Failure.CONNECTION_CHANGE:
        return (
            "the query tried to change the connection (ATTACH, DETACH or a PRAGMA that sets a "
            "value), which alert queries may not do — use a SELECT"
        )
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    """Return the driver's own message in one line, with error codes, and secrets masked."""
    orig: BaseException = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = orig.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1]} (error {args[0]})"  # PyMySQL: (1146, "Table 'x' doesn't exist")
    else:
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        text = primary or str(orig)
        hint = getattr(diag, "message_hint", None)
        if hint:
            text = f"{text} (hint: {hint})"
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return redactor.scrub(lines[0] if lines else type(orig).__name__)

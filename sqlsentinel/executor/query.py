"""Run an alert's SQL read-only and within its timeout, and say what it returned.

The steps of :func:`run_query`:

1. Refuse an engine of a database or driver sqlsentinel cannot keep read-only, and a SQLite
   data source whose file is missing (SQLite would create an empty one).
2. Check a connection out of the engine's pool (pre-pinged).
3. Begin a read-only transaction with the timeout enforced by the server
   (:mod:`sqlsentinel.executor.dialects`).
4. Run the SQL exactly as written, as one statement — no bind-parameter parsing, so
   ``LIKE 'a%'`` and ``':x'`` mean what they say, and no second statement after a ``;`` —
   under a client-side guard that cancels it from another thread if the server has not
   stopped it shortly after the timeout.
5. Fetch at most two rows (enough to tell "one" from "more than one"), without the driver
   loading the rest of the result.
6. Roll back, always, and restore the session; a connection whose state is unknown (the guard
   fired, or the statement was not a query) is discarded instead of pooled. A query the
   server stopped at its own timeout leaves the connection in a known state: it is kept.
7. Hold the rows to the contract (:mod:`sqlsentinel.executor.contract`). An answer that
   came later than the timeout is a TIMEOUT too, even though nothing had to be cancelled.

Failures never escape as exceptions: they are results with status ERROR or TIMEOUT and an
``error`` sentence, because a failing alert must still be recorded and reported. Connecting,
beginning and restoring the session are the boundary with the driver: whatever they raise
(PyMySQL raises a plain ``TypeError`` for a URL option it does not know) becomes an error
sentence, and anything else unexpected is logged and reported as an ERROR naming its type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlsentinel.database.engines import missing_sqlite_file
from sqlsentinel.durations import format_duration
from sqlsentinel.errors import ContractError, QueryError, QueryTimeout
from sqlsentinel.executor.contract import evaluate
from sqlsentinel.executor.dialects import Failure, Fetched, QuerySession, session_for
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

    A run lasts at most about: the connect timeout
    (:data:`~sqlsentinel.database.engines.CONNECT_TIMEOUT`, when a new connection is opened)
    + the pool's checkout wait (when every pooled connection is busy) + ``timeout`` +
    :data:`GUARD_MARGIN`, plus the cancel itself (bounded at a few seconds) in the rare case
    the client guard has to send one. A server that stops answering altogether in the middle
    of a query is not bounded by this.

    ``clock`` measures the duration and decides whether the answer came too late.
    ``session`` replaces the database's own read-only/timeout strategy, and with it the
    check that the engine's database is supported (used to test the client guard alone).
    """
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    started = clock()
    try:
        columns, rows = _fetch(engine, sql, seconds, session, clock)
        result = evaluate(columns, rows, empty_result)
    except QueryTimeout as exc:
        return QueryResult(Status.TIMEOUT, error=str(exc), duration=clock() - started)
    except QueryError as exc:
        return QueryResult(Status.ERROR, error=str(exc), duration=clock() - started)
    except Exception as exc:  # a bug, ours or a driver's: still a result to record, not a crash
        reason = _foreign_reason(exc)
        log.debug("the query runner failed unexpectedly: %s", reason, exc_info=True)
        error = f"the query runner failed unexpectedly: {reason}"
        return QueryResult(Status.ERROR, error=error, duration=clock() - started)
    return dataclasses.replace(result, duration=clock() - started)


def ping(engine: Engine) -> tuple[str | None, str | None]:
    """Connect once; return ``(server description, None)`` or ``(None, error sentence)``."""
    url = engine.url.render_as_string(hide_password=False)
    missing = missing_sqlite_file(engine.url)
    if missing is not None:
        return None, f"could not connect to {redact_url(url)}: {missing}"
    try:
        with engine.connect() as conn:
            dialect = conn.dialect
            version = ".".join(str(part) for part in dialect.server_version_info or ())
    except Exception as exc:  # the driver boundary (see the module docstring)
        return None, f"could not connect to {redact_url(url)}: {_connect_reason(exc, url)}"
    product = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL"}.get(
        dialect.name, dialect.name
    )
    if getattr(dialect, "is_mariadb", False):
        product = "MariaDB"
    return f"{product} {version}".strip(), None


def _fetch(
    engine: Engine,
    sql: str,
    timeout: float,
    session: QuerySession | None,
    clock: Callable[[], float],
) -> Fetched:
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    url = engine.url.render_as_string(hide_password=False)
    session = session or session_for(engine)
    missing = missing_sqlite_file(engine.url)
    if missing is not None:
        raise QueryError(f"could not connect to {redact_url(url)}: {missing}")
    try:
        conn = engine.connect()
    except Exception as exc:  # the driver boundary (see the module docstring)
        raise QueryError(
            f"could not connect to {redact_url(url)}: {_connect_reason(exc, url)}"
        ) from exc

    # A session may call the driver directly (psycopg's stream): its errors come unwrapped.
    driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    delay = timeout + GUARD_MARGIN if session.server_timeout else timeout
    guard = _Guard(delay, lambda: session.cancel(engine, conn))
    keep = False
    try:
        try:
            session.begin(conn, timeout)
        except Exception as exc:  # the driver boundary (see the module docstring)
            raise QueryError(
                f"could not start a read-only transaction on {redact_url(url)}: "
                f"{_foreign_reason(exc)}"
            ) from exc
        began = clock()
        try:
            with guard:
                fetched = session.fetch(conn, sql)
        except (DBAPIError, driver_error) as exc:
            # The server reported the error (its own timeout included) and the connection
            # is in a known state; a rollback makes it reusable. If the guard fired, it is
            # discarded below whatever the error says.
            keep = True
            orig = exc.orig if isinstance(exc, DBAPIError) else exc
            failure = session.classify(orig) if orig is not None else None
            if guard.fired or failure is Failure.TIMEOUT:
                raise QueryTimeout(_cancelled_message(timeout)) from exc
            raise QueryError(_failure_message(failure, exc, timeout)) from exc
        except SQLAlchemyError as exc:
            raise QueryError(_reason(exc)) from exc
        if fetched is None:  # not a query: what it did to the session is unknown, so discard
            raise ContractError(
                "the statement returned no result set; an alert query must be a "
                "SELECT that returns a status column"
            )
        keep = True
        took = clock() - began
        if guard.fired or took > timeout:  # an answer, but too late to count
            raise QueryTimeout(_late_message(timeout, took))
        return fetched
    finally:
        _release(conn, session, keep=keep and not guard.fired)


def _release(conn: Connection, session: QuerySession, *, keep: bool) -> None:
    """Roll back and return the connection to the pool as it was, or discard it; never raise."""
    try:
        conn.rollback()
        if keep:
            session.end(conn)
            conn.rollback()
        else:
            conn.invalidate()
    except Exception as exc:  # restoring failed: this connection must not be reused
        log.debug("discarding a connection that could not be restored: %s", _reason(exc))
        with contextlib.suppress(Exception):
            conn.invalidate()
    finally:
        with contextlib.suppress(Exception):
            conn.close()


class _Guard:
    """Cancel the query from a timer thread if it is still running after ``delay`` seconds.

    Firing and leaving exclude each other (one lock and a ``done`` flag): a cancel that has
    started completes before ``__exit__`` returns, and ``fired`` is then True, so the caller
    discards the connection; once ``__exit__`` has run, a late timer does nothing. Otherwise
    a late ``KILL QUERY`` could stop the next alert's query on the connection, back in the
    pool. Since ``__exit__`` waits for a cancel in progress, every session's cancel is bounded.
    """

    def __init__(self, delay: float, cancel: Callable[[], None]) -> None:
        self._delay = min(delay, threading.TIMEOUT_MAX)
        self._cancel = cancel
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._done = False
        self.fired = False

    def __enter__(self) -> _Guard:
        self._timer = threading.Timer(self._delay, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._timer is not None
        self._timer.cancel()
        with self._lock:  # waits for a cancel in progress
            self._done = True

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            try:
                self._cancel()
            except Exception as exc:
                log.warning("could not cancel a query that ran past its timeout: %s", _reason(exc))


def _cancelled_message(timeout: float) -> str:
    return (
        f"the query ran longer than its timeout of {_shown(timeout)} and was cancelled; "
        "make it faster or raise the alert's 'timeout:'"
    )


def _late_message(timeout: float, took: float) -> str:
    return (
        f"the query took longer than its timeout of {_shown(timeout)} (it answered after "
        f"{took:.1f}s, too late to count); make it faster or raise the alert's 'timeout:'"
    )


def _shown(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


def _failure_message(failure: Failure | None, exc: BaseException, timeout: float) -> str:
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
    if failure is Failure.LOCKED:
        return (
            "the database is locked by another connection; the query waited for it up to its "
            f"timeout of {_shown(timeout)} — find what holds the lock, or raise the alert's "
            "'timeout:'"
        )
    return _reason(exc)


def _connect_reason(exc: BaseException, url: str) -> str:
    """Return why connecting failed; a plain Python error there comes from a URL option."""
    reason = _foreign_reason(exc)
    if reason.startswith(f"{type(exc).__name__}: ") and "?" in url:
        reason += "; check the options after '?' in the URL"
    return reason


def _foreign_reason(exc: BaseException) -> str:
    """Return ``_reason``, naming the exception's type unless it is a database error."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        return _reason(exc)
    return f"{type(exc).__name__}: {_reason(exc)}"


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

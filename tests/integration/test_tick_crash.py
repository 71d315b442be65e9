"""A tick killed with SIGKILL in the middle of a query: the lease, the retry and the fence.

The alert runs hourly on PostgreSQL (the data source, for every state store) and sleeps as
long as a one-row "knob" table says: 30 s for the run that is killed, 0 for the retry. Its
timeout is 60 s, so its lease is 60 s + ``NOTIFY_MARGIN``, well inside the default 5 minute
``misfire_grace``; the tick is called with its default deadline (55 s), which is shorter
than the timeout — such an alert must still be claimed.

1. ``tick --now T`` claims (alert, T) and starts the query; the test waits (polling, bounded)
   until the claim is in ``sqlsentinel_state`` and the query is running, then kills it.
2. ``tick --now`` just before the lease expires runs nothing.
3. ``tick --now`` after the lease expired, within the grace, runs T once more: attempt 2,
   one execution row.
4. The killed runner's late write (simulated with ``SqlStateStore.record``) is refused.

With a grace shorter than the lease, the killed slot cannot be retried; it is not lost
silently either: the next slot's run counts it as coalesced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from sqlsentinel.database.engines import get_engine
from sqlsentinel.database.schema import executions, state
from sqlsentinel.executor.history import Execution
from sqlsentinel.executor.state import Record, SqlStateStore
from sqlsentinel.models import Status, TriggeredBy
from sqlsentinel.tick import NOTIFY_MARGIN

SCRIPT = Path(sys.executable).with_name("sqlsentinel")
ALERT = "slow_report"
SLOT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=60)
WAIT = 30.0  # seconds to wait for anything a tick process does before failing

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, proc: subprocess.Popen[str]) -> T:
    """Poll ``probe`` until it returns something; fail after WAIT s or if ``proc`` exits."""
    give_up = time.monotonic() + WAIT
    while True:
        found = probe()
        if found:
            return found
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the tick exited ({proc.returncode}) before {what}: {err}")
        if time.monotonic() > give_up:
            pytest.fail(f"gave up after {WAIT:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def knob(postgres_url: str) -> Iterator[str]:
    """A one-row table saying how long the alert's query sleeps (a unique name per test).

    Afterwards, the server session the killed tick left behind (still in pg_sleep) is
    terminated, so that the table can be dropped without waiting for it.
    """
    name = f"crash_knob_{uuid.uuid4().hex[:10]}"
    engine = get_engine(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (seconds float NOT NULL)")
        conn.exec_driver_sql(f"INSERT INTO {name} VALUES (30)")
        conn.commit()
    yield name
    with engine.connect() as conn:
        _terminate_sessions_querying(conn, name)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.commit()


def _terminate_sessions_querying(conn: Any, table: str) -> None:
    conn.exec_driver_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND query LIKE %(pattern)s",
        {"pattern": f"%{table}%"},
    )


def _config(
    write_config: Callable[..., Path], postgres_url: str, knob: str, grace: str | None = None
) -> Path:
    grace_line = "" if grace is None else f"    misfire_grace: {grace}\n"
    return write_config(
        f"""
databases:
  warehouse:
    url: "{postgres_url}"
alerts:
  - name: {ALERT}
    database: warehouse
    query: SELECT 'OK' AS status FROM {knob}, pg_sleep({knob}.seconds)
    schedule: "0 * * * *"
    timeout: 60s
{grace_line}"""
    )


def _argv(config: Path, state_url: str, now: datetime) -> list[str]:
    iso = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [str(SCRIPT), "tick", str(config), "--now", iso, "--state-url", state_url]


def _tick(config: Path, state_url: str, now: datetime, env: dict[str, str]) -> dict[str, Any]:
    argv = [*_argv(config, state_url, now), "--format", "json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def _state_row(state_url: str) -> dict[str, Any] | None:
    """Return the alert's state row, or None (no row yet, or no tables yet)."""
    try:
        with get_engine(state_url).connect() as conn:
            row = conn.execute(select(state).where(state.c.alert == ALERT)).first()
            conn.rollback()
    except SQLAlchemyError:
        return None  # the tick has not created the tables yet
    return None if row is None else dict(row._mapping)


def _executions(state_url: str) -> list[dict[str, Any]]:
    with get_engine(state_url).connect() as conn:
        rows = conn.execute(select(executions).where(executions.c.alert == ALERT)).all()
        conn.rollback()
    return [dict(row._mapping) for row in rows]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _start_and_kill(
    config: Path, state_url: str, env: dict[str, str], postgres_url: str, knob: str
) -> dict[str, Any]:
    """Tick at SLOT, wait until its claim is recorded and its query runs, SIGKILL it.

    Returns the claim (the state row) the killed runner left; the server session it left
    sleeping is ended and the knob set to 0, so that a retry does not wait.
    """
    engine = get_engine(postgres_url)
    proc = subprocess.Popen(
        _argv(config, state_url, SLOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        claim = wait_for(
            lambda: (row := _state_row(state_url)) and row["lease_owner"] and row,
            "the claim to appear in sqlsentinel_state",
            proc,
        )

        def query_running() -> bool:
            with engine.connect() as conn:
                count = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND state = 'active' AND query LIKE %(pattern)s",
                    {"pattern": f"%pg_sleep({knob}.seconds)%"},
                ).scalar_one()
                conn.rollback()
            return count == 1

        wait_for(query_running, "the alert's query to be running", proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    with engine.connect() as conn:
        _terminate_sessions_querying(conn, knob)
        conn.exec_driver_sql(f"UPDATE {knob} SET seconds = 0")
        conn.commit()
    assert _utc(claim["claimed_slot"]) == SLOT
    assert (claim["attempt"], claim["completed_slot"]) == (1, None)
    assert _utc(claim["lease_expires"]) == SLOT + TIMEOUT + NOTIFY_MARGIN
    assert _executions(state_url) == []
    return claim


def test_a_killed_tick_is_retried_once_after_its_lease_and_its_late_write_is_refused(
    state_url: str,
    postgres_url: str,
    knob: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    config = _config(write_config, postgres_url, knob)
    env = {**os.environ, "SQLSENTINEL_CACHE_DIR": str(tmp_path / "cache")}
    # 1. the tick claims the slot and starts the 30 s query; kill it mid-query
    claim = _start_and_kill(config, state_url, env, postgres_url, knob)
    killed_runner = claim["lease_owner"]
    lease_expires = _utc(claim["lease_expires"])
    assert lease_expires is not None

    # 2. just before the lease expires: the slot is still the killed runner's
    before = _tick(config, state_url, lease_expires - timedelta(seconds=1), env)
    assert (before["claimed"], before["ran"], before["runs"]) == (0, 0, [])
    row = _state_row(state_url)
    assert row is not None
    assert (row["lease_owner"], row["attempt"]) == (killed_runner, 1)
    assert _executions(state_url) == []

    # 3. after the lease expired, within the grace: run once more, as attempt 2
    retry_at = lease_expires + timedelta(seconds=1)
    assert retry_at - SLOT <= timedelta(minutes=5)  # the default misfire_grace
    after = _tick(config, state_url, retry_at, env)
    assert (after["claimed"], after["ran"]) == (1, 1)
    [run] = after["runs"]
    assert (run["alert"], run["slot"], run["attempt"], run["status"]) == (
        ALERT,
        "2026-11-27T10:00:00Z",
        2,
        "OK",
    )
    [recorded] = _executions(state_url)
    assert (_utc(recorded["slot"]), recorded["attempt"], recorded["status"]) == (SLOT, 2, "OK")
    assert recorded["runner_id"] != killed_runner
    row = _state_row(state_url)
    assert row is not None
    assert (row["attempt"], _utc(row["completed_slot"]), row["lease_owner"]) == (2, SLOT, None)

    # ... and a later tick within the same hour runs nothing more
    again = _tick(config, state_url, retry_at + timedelta(seconds=30), env)
    assert (again["claimed"], again["ran"]) == (0, 0)

    # 4. the killed runner's late write, had it survived: refused, nothing recorded
    store = SqlStateStore.open(state_url)
    previous = store.load()[ALERT]
    late = Record(
        state=replace(previous, last_status=Status.ALERT, consecutive_alerts=1),
        execution=Execution(
            alert=ALERT,
            triggered_by=TriggeredBy.CRON,
            status=Status.ALERT.value,
            started_at=SLOT,
            finished_at=SLOT + timedelta(seconds=30),
            slot=SLOT,
            attempt=1,
            runner_id=killed_runner,
        ),
        slot=SLOT,
        attempt=1,
    )
    assert store.record([late], killed_runner, retry_at + timedelta(seconds=40)) == [ALERT]
    assert [e["attempt"] for e in _executions(state_url)] == [2]
    assert store.load()[ALERT] == previous


def test_a_killed_run_whose_lease_outlives_its_grace_is_counted_by_the_next_slot(
    state_url: str,
    postgres_url: str,
    knob: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The slot is lost (too late to retry), but not silently: the next run counts it."""
    config = _config(write_config, postgres_url, knob, grace="1m")
    env = {**os.environ, "SQLSENTINEL_CACHE_DIR": str(tmp_path / "cache")}
    claim = _start_and_kill(config, state_url, env, postgres_url, knob)
    lease_expires = _utc(claim["lease_expires"])
    assert lease_expires is not None

    expired = _tick(config, state_url, lease_expires + timedelta(seconds=1), env)
    assert (expired["ran"], expired["missed"]) == (0, 0)  # beyond the grace: no retry

    next_slot = SLOT + timedelta(hours=1)
    after = _tick(config, state_url, next_slot, env)
    assert [(r["slot"], r["attempt"], r["coalesced"]) for r in after["runs"]] == [
        ("2026-11-27T11:00:00Z", 1, 1)
    ]
    [recorded] = _executions(state_url)
    assert (_utc(recorded["slot"]), recorded["coalesced"]) == (next_slot, 1)

"""Exactly once under real concurrency: six ``sqlsentinel tick`` processes at once, 200 alerts.

For each state store (SQLite, PostgreSQL, MariaDB), six OS processes run
``sqlsentinel tick CONFIG --now T`` at the same moment, for three consecutive minute slots.
Afterwards ``sqlsentinel_executions`` must hold exactly one row per (alert, slot) — attempt 1,
none lost, none doubled — and the processes' own summaries must add up to the same.
The counts and wall times are printed (``pytest -s`` shows them).

The state database's schema is created first (``sqlsentinel db upgrade``), so that the claims
are what is measured; creating it on first use, with six ticks racing, is a test of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sqlsentinel.database.engines import get_engine
from sqlsentinel.database.schema import executions

ALERTS = 200
PROCESSES = 6
SLOTS = [datetime(2026, 11, 27, 10, 0, tzinfo=UTC) + timedelta(minutes=i) for i in range(3)]
SCRIPT = Path(sys.executable).with_name("sqlsentinel")
PROCESS_TIMEOUT = 60  # seconds for one wave of six ticks; a hang fails the test instead


def _config(write_config: Callable[..., Path], data: Path, alerts: int = ALERTS) -> Path:
    entries = "".join(
        f"  - name: alert_{i:03d}\n"
        "    query: SELECT 'OK' AS status, 1 AS actual_value\n"
        '    schedule: "* * * * *"\n'
        for i in range(alerts)
    )
    return write_config(f'database:\n  url: "sqlite:///{data}"\nalerts:\n{entries}')


def _utc(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tick_wave(
    config: Path, state_url: str, now: datetime, env: dict[str, str], processes: int = PROCESSES
) -> list[dict]:
    """Start ``processes`` ticks at ``now`` at once; wait for all; return their JSON summaries."""
    argv = [str(SCRIPT), "tick", str(config), "--now", _utc(now), "--state-url", state_url]
    argv += ["--format", "json"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        for _ in range(processes)
    ]
    summaries = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
            assert proc.returncode == 0, f"tick exited {proc.returncode}: {err}"
            assert "Traceback" not in err, err
            summaries.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return summaries


def _rows(state_url: str) -> list[tuple[str, datetime, int, str]]:
    """Return (alert, slot, attempt, status) of every execution row, slots as aware UTC."""
    columns = (executions.c.alert, executions.c.slot, executions.c.attempt, executions.c.status)
    with get_engine(state_url).connect() as conn:
        rows = conn.execute(select(*columns)).all()
        conn.rollback()
    return [
        (alert, slot.replace(tzinfo=UTC), attempt, status) for alert, slot, attempt, status in rows
    ]


def test_six_concurrent_ticks_run_every_alert_slot_exactly_once(
    state_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    data = tmp_path / "data.db"
    sqlite3.connect(data).close()
    config = _config(write_config, data)
    env = {**os.environ, "SQLSENTINEL_CACHE_DIR": str(tmp_path / "cache")}
    kind = state_url.split(":", 1)[0]
    upgrade = [str(SCRIPT), "db", "upgrade", str(config), "--state-url", state_url]
    subprocess.run(upgrade, env=env, check=True, capture_output=True, timeout=PROCESS_TIMEOUT)

    started = time.monotonic()
    per_slot = []
    for slot in SLOTS:
        wave_started = time.monotonic()
        summaries = _tick_wave(config, state_url, slot, env)
        claimed = [s["claimed"] for s in summaries]
        per_slot.append((slot, claimed, time.monotonic() - wave_started))
        # the processes' own accounts: all 200 claimed once between them, all recorded
        assert sum(claimed) == ALERTS, claimed
        assert sum(s["ran"] for s in summaries) == ALERTS
        assert sum(s["refused"] for s in summaries) == 0
        assert sum(s["errors"] for s in summaries) == 0
        ran = Counter(run["alert"] for s in summaries for run in s["runs"])
        assert len(ran) == ALERTS
        assert set(ran.values()) == {1}
    wall = time.monotonic() - started

    rows = _rows(state_url)
    per_run = Counter((alert, slot) for alert, slot, _, _ in rows)
    expected = {(f"alert_{i:03d}", slot) for i in range(ALERTS) for slot in SLOTS}
    lost = expected - set(per_run)
    doubled = {key: n for key, n in per_run.items() if n > 1}
    attempts = Counter(attempt for _, _, attempt, _ in rows)
    statuses = Counter(status for _, _, _, status in rows)

    print(f"\n[{kind}] {ALERTS} alerts x {len(SLOTS)} slots, {PROCESSES} processes per slot")
    for slot, claimed, seconds in per_slot:
        print(f"[{kind}]   slot {_utc(slot)}: claims per process {claimed}, {seconds:.1f} s")
    print(
        f"[{kind}] execution rows {len(rows)} (expected {len(expected)}), "
        f"distinct (alert, slot) {len(per_run)}, lost {len(lost)}, doubled {len(doubled)}, "
        f"attempts {dict(attempts)}, statuses {dict(statuses)}, wall {wall:.1f} s"
    )

    assert not lost, sorted(lost)[:5]
    assert not doubled, sorted(doubled.items())[:5]
    assert len(rows) == ALERTS * len(SLOTS)
    assert set(per_run) == expected
    assert attempts == {1: ALERTS * len(SLOTS)}
    assert statuses == {"OK": ALERTS * len(SLOTS)}


def test_ticks_starting_at_once_on_an_empty_state_database_all_create_it_and_run(
    state_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """The first use of a state database, by six ticks at once: none fails, each alert runs once."""
    data = tmp_path / "data.db"
    sqlite3.connect(data).close()
    config = _config(write_config, data, alerts=10)
    env = {**os.environ, "SQLSENTINEL_CACHE_DIR": str(tmp_path / "cache")}

    summaries = _tick_wave(config, state_url, SLOTS[0], env)

    assert sum(s["claimed"] for s in summaries) == 10
    assert sorted(alert for alert, *_ in _rows(state_url)) == [f"alert_{i:03d}" for i in range(10)]

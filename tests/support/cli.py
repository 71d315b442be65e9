"""Helpers for the tests of the scheduling and state commands (tick, run, history, status...).

Each test writes a small config of its own: data from a SQLite file, alerts with fixed
answers, and state in whichever database the ``state_url`` fixture gives.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from sqlsentinel.cli import main

NOW = "2026-11-27T10:00:00Z"  # a Friday, on the hour
FIRING = "SELECT 'ALERT' AS status, 3 AS actual_value, 1 AS threshold"
QUIET = "SELECT 'OK' AS status, 0 AS actual_value, 1 AS threshold"
BROKEN = "SELECT status FROM no_such_table"
SUMMARY_KEYS = {
    "now", "due", "claimed", "ran", "fired", "notified", "undelivered", "suppressed",
    "errors", "missed", "deferred", "refused", "duration_ms", "fast_path", "runs",
}  # fmt: skip
HISTORY_KEYS = {
    "alert", "slot", "triggered_by", "attempt", "status", "started_at", "duration_ms",
    "actual_value", "threshold", "context", "error", "notifications",
}  # fmt: skip
NOTIFICATION_KEYS = {"channel", "kind", "ok", "attempts", "error"}
SECRET_NAMED = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|WEBHOOK", re.I)


def drop_secret_named_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop secret-named variables (PGPASSWORD=postgres would mask "postgres" in every line)."""
    for name in list(os.environ):
        if SECRET_NAMED.search(name):
            monkeypatch.delenv(name)


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run the CLI in-process; return its exit code, stdout and stderr."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, Any]:
    """Run the CLI with ``--format json``; return its exit code and the parsed output."""
    code, out, err = cli(capsys, *argv, "--format", "json")
    assert out, err
    return code, json.loads(out)


def alert(name: str, query: str, schedule: str = "0 * * * *", *extra: str) -> str:
    """Return the YAML of one alert; ``extra`` lines are added to it as they are."""
    lines = [f"  - name: {name}", f"    query: {query}", f'    schedule: "{schedule}"']
    return "\n".join([*lines, *(f"    {line}" for line in extra)])


def webhook(url: str) -> str:
    """Return the ``notify`` lines of an alert with one webhook entry."""
    return f'notify: [{{channel: webhook, url: "{url}"}}]'


def config_text(data: Path, *alerts: str, state: str | None = None) -> str:
    """Return a config: data from the SQLite file ``data``, ``alerts``, optionally state.url."""
    head = f'database: "sqlite:///{data}"\n'
    if state is not None:
        head += f'state: "{state}"\n'
    return head + "alerts:\n" + "\n".join(alerts) + "\n"


def rows(url: str, table: str) -> int:
    """Count the rows of one of the sqlsentinel tables at ``url`` (0 when it does not exist)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            name = f"sqlsentinel_{table}"
            if not engine.dialect.has_table(conn, name):
                return 0
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one())
    finally:
        engine.dispose()


def run_sql(url: str, *statements: str) -> None:
    """Run statements on the database at ``url``, committed (to set up a test)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
            conn.commit()
    finally:
        engine.dispose()

"""The commands about the state database: history, status, silence, unsilence, db upgrade.

Each runs on every state-database backend (the ``state_url`` fixture), after ticks at chosen
instants (``--now``) so that slots, counts and cooldowns are known exactly.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Connection, text

from sqlsentinel.database import schema
from tests.support.cli import (
    FIRING,
    HISTORY_KEYS,
    NOTIFICATION_KEYS,
    QUIET,
    alert,
    cli,
    cli_json,
    config_text,
    drop_secret_named_variables,
    rows,
    run_sql,
    webhook,
)

WriteConfig = Callable[..., Path]
SCRIPT = Path(sys.executable).with_name("sqlsentinel")
METRIC = (
    "SELECT CASE WHEN v > 10 THEN 'ALERT' ELSE 'OK' END AS status, v AS actual_value, "
    "10 AS threshold, 'eu' AS region FROM metric"
)
STATUS_KEYS = {
    "alert", "state", "last_run", "consecutive_alerts", "consecutive_oks",
    "consecutive_errors", "last_notification", "next_run", "silenced_until",
    "silence_reason", "pending",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    drop_secret_named_variables(monkeypatch)
    monkeypatch.delenv("SQLSENTINEL_STATE_URL", raising=False)
    monkeypatch.setenv("SQLSENTINEL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def metric_db(tmp_path: Path) -> Path:
    """A SQLite data file with one value in ``metric(v)``, changed by :func:`set_metric`."""
    path = tmp_path / "metric.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE metric (v REAL)")
        conn.execute("INSERT INTO metric VALUES (0)")
    return path


def set_metric(path: Path, value: float) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE metric SET v = ?", (value,))
    conn.close()


@pytest.fixture
def receiver(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return httpserver


@pytest.fixture
def watched(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    metric_db: Path,
    receiver: HTTPServer,
    state_url: str,
) -> Path:
    """A minutely alert ticked at 10:00..10:03 with values 2, 6, 12, 20 (threshold 10), and an
    hourly one ticked at 10:00; then the minutely one run by hand at 10:03:30."""
    config = write_config(
        config_text(
            metric_db,
            alert("metric", METRIC, "* * * * *", webhook(receiver.url_for("/hook"))),
            alert("hourly", QUIET),
        )
    )
    for minute, value in enumerate([2, 6, 12, 20]):
        set_metric(metric_db, value)
        now = f"2026-11-27T10:0{minute}:00Z"
        code, _, err = cli(capsys, "tick", config, "--now", now, "--state-url", state_url)
        assert (code, err) == (0, "")
    code, _, _ = cli(
        capsys, "run", config, "--now", "2026-11-27T10:03:30Z", "--state-url", state_url
    )
    assert code == 0
    return config


# --- history ----------------------------------------------------------------------------------


def test_history_as_json_is_every_run_newest_first_with_exactly_the_documented_keys(
    capsys: pytest.CaptureFixture[str], watched: Path, state_url: str
) -> None:
    code, history = cli_json(capsys, "history", watched, "--state-url", state_url)
    assert code == 0
    assert all(set(run) == HISTORY_KEYS for run in history)
    listed = [(r["alert"], r["slot"], r["triggered_by"], r["status"]) for r in history]
    # runs recorded together (by one `run`, or one tick) are listed in either order
    # the two runs by hand were recorded at one instant, by two threads: in either order
    assert sorted(listed[:2]) == [
        ("hourly", None, "MANUAL", "OK"),
        ("metric", None, "MANUAL", "ALERT"),
    ]
    assert listed[2:5] == [
        ("metric", "2026-11-27T10:03:00Z", "CRON", "ALERT"),
        ("metric", "2026-11-27T10:02:00Z", "CRON", "ALERT"),
        ("metric", "2026-11-27T10:01:00Z", "CRON", "OK"),
    ]
    assert sorted(listed[5:]) == [  # the first tick ran both, in either order
        ("hourly", "2026-11-27T10:00:00Z", "CRON", "OK"),
        ("metric", "2026-11-27T10:00:00Z", "CRON", "OK"),
    ]
    fired = next(r for r in history if r["slot"] == "2026-11-27T10:02:00Z")
    assert fired == {
        "alert": "metric",
        "slot": "2026-11-27T10:02:00Z",
        "triggered_by": "CRON",
        "attempt": 1,
        "status": "ALERT",
        "started_at": "2026-11-27T10:02:00Z",
        "duration_ms": fired["duration_ms"],
        "actual_value": 12,
        "threshold": 10,
        "context": {"region": "eu"},
        "error": None,
        "notifications": [
            {"channel": "webhook", "kind": "FIRING", "ok": True, "attempts": 1, "error": None}
        ],
    }
    assert isinstance(fired["duration_ms"], int)
    assert fired["duration_ms"] >= 0
    for run in history:
        assert all(set(n) == NOTIFICATION_KEYS for n in run["notifications"])
        assert run["started_at"].endswith("Z")


def test_history_of_one_alert_with_a_limit(
    capsys: pytest.CaptureFixture[str], watched: Path, state_url: str
) -> None:
    code, history = cli_json(
        capsys, "history", watched, "metric", "--limit", "2", "--state-url", state_url
    )
    assert code == 0
    assert [(r["alert"], r["slot"]) for r in history] == [
        ("metric", None),
        ("metric", "2026-11-27T10:03:00Z"),
    ]


def test_history_as_text_is_a_table_and_a_sparkline_per_alert(
    capsys: pytest.CaptureFixture[str], watched: Path, state_url: str
) -> None:
    code, out, err = cli(capsys, "history", watched, "metric", "--state-url", state_url)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "started (UTC)", "alert", "slot", "by", "try", "status", "value / threshold", "ms",
    ]  # fmt: skip
    assert re.split(r"\s{2,}", lines[2])[:7] == [
        "2026-11-27 10:03:00", "metric", "2026-11-27 10:03", "CRON", "1", "ALERT", "20.0 / 10",
    ]  # fmt: skip
    assert re.split(r"\s{2,}", lines[1])[:6] == [
        "2026-11-27 10:03:30", "metric", "-", "MANUAL", "1", "ALERT",
    ]  # fmt: skip
    assert "  metric 2026-11-27T10:02:00Z: webhook FIRING delivered" in lines
    # oldest first: 2, 6, 12, 20, 20 on one scale with the threshold 10
    assert lines[-1] == "metric  ▁▃▅██  2 → 20, threshold 10 at ▄"


def test_history_of_an_unknown_alert_exits_2_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], watched: Path, state_url: str
) -> None:
    code, out, err = cli(capsys, "history", watched, "metrc", "--state-url", state_url)
    assert (code, out) == (2, "")
    assert err.startswith("error: there is no alert named 'metrc'")
    assert "did you mean 'metric'?" in err


def test_history_before_any_run(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    assert cli(capsys, "history", config) == (0, "no runs recorded yet\n", "")
    assert cli_json(capsys, "history", config) == (0, [])


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_history_limit_must_be_a_positive_whole_number(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, limit: str
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    code, out, err = cli(capsys, "history", config, "--limit", limit)
    assert (code, out) == (2, "")
    assert "--limit" in err


# --- status -----------------------------------------------------------------------------------


def test_status_shows_state_runs_counts_notifications_and_next_run(
    capsys: pytest.CaptureFixture[str], watched: Path, state_url: str
) -> None:
    code, out, err = cli(
        capsys, "status", watched, "--now", "2026-11-27T10:03:40Z", "--state-url", state_url
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "metric  [ALERT]",
        "  last run      2026-11-27T10:03:30Z",
        "  in a row      3 ALERT, 0 OK, 0 failed",
        "  notified      FIRING at 2026-11-27T10:02:00Z",
        "  next run      2026-11-27T10:04:00Z",
        "hourly  [OK]",
        "  last run      2026-11-27T10:03:30Z",
        "  in a row      0 ALERT, 2 OK, 0 failed",
        "  notified      never",
        "  next run      2026-11-27T11:00:00Z",
    ]


def test_status_as_json(capsys: pytest.CaptureFixture[str], watched: Path, state_url: str) -> None:
    code, status = cli_json(
        capsys, "status", watched, "--now", "2026-11-27T10:03:40Z", "--state-url", state_url
    )
    assert code == 0
    assert [item["alert"] for item in status] == ["metric", "hourly"]
    assert all(set(item) == STATUS_KEYS for item in status)
    assert status[0] == {
        "alert": "metric",
        "state": "ALERT",
        "last_run": "2026-11-27T10:03:30Z",
        "consecutive_alerts": 3,
        "consecutive_oks": 0,
        "consecutive_errors": 0,
        "last_notification": "FIRING at 2026-11-27T10:02:00Z",
        "next_run": "2026-11-27T10:04:00Z",
        "silenced_until": None,
        "silence_reason": None,
        "pending": None,
    }


def test_status_of_alerts_that_never_ran_or_are_disabled(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(
        config_text(
            sample_db, alert("new", FIRING), alert("parked", FIRING, "0 * * * *", "enabled: false")
        )
    )
    code, status = cli_json(capsys, "status", config, "--now", "2026-11-27T10:30:00Z")
    assert code == 0
    assert [(i["alert"], i["state"], i["last_run"], i["next_run"]) for i in status] == [
        ("new", "never ran", None, "2026-11-27T11:00:00Z"),
        ("parked", "disabled", None, None),
    ]


# --- silence and unsilence --------------------------------------------------------------------


def _next_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)


def _z(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def test_a_silenced_alert_runs_and_records_but_sends_nothing_until_unsilenced(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    receiver: HTTPServer,
    state_url: str,
) -> None:
    hook = webhook(receiver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "* * * * *", hook)))
    state = ("--state-url", state_url)

    before = datetime.now(UTC)
    code, out, err = cli(
        capsys, "silence", config, "firing", "--for", "2h", "--reason", "deploy", *state
    )
    after = datetime.now(UTC)
    assert (code, err) == (0, "")
    found = re.fullmatch(r"alert 'firing' is silenced until (\S+)\n", out)
    assert found, out
    until = datetime.fromisoformat(found[1])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found[1])  # whole seconds
    assert before.replace(microsecond=0) + timedelta(hours=2) <= until
    assert until <= after + timedelta(hours=2)

    # the silence is read at the tick's --now: a minute from now, well inside the two hours
    first = _next_minute()
    code, summary = cli_json(capsys, "tick", config, "--now", _z(first), *state)
    assert (code, summary["fired"], summary["notified"], summary["suppressed"]) == (0, 1, 0, 1)
    (run,) = summary["runs"]
    assert run["decision"].startswith("silenced until ")
    assert run["decision"].endswith(" (deploy)")
    assert receiver.log == []

    code, out, _ = cli(capsys, "status", config, "--now", _z(first), *state)
    assert "firing  [ALERT, silenced]" in out
    assert f"  silenced      until {found[1]} (deploy)" in out.splitlines()
    code, status = cli_json(capsys, "status", config, "--now", _z(first), *state)
    assert (status[0]["silenced_until"], status[0]["silence_reason"]) == (found[1], "deploy")

    code, out, err = cli(capsys, "unsilence", config, "firing", *state)
    assert (code, out, err) == (0, "alert 'firing' is no longer silenced\n", "")
    code, status = cli_json(capsys, "status", config, "--now", _z(first), *state)
    assert (status[0]["state"], status[0]["silenced_until"]) == ("ALERT", None)

    # still firing when the silence ends: the next run notifies
    code, summary = cli_json(
        capsys, "tick", config, "--now", _z(first + timedelta(minutes=1)), *state
    )
    assert (code, summary["notified"]) == (0, 1)
    assert summary["runs"][0]["notifications"][0]["kind"] == "FIRING"
    assert len(receiver.log) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--for", "soon"], "--for"),
        (["--for", "0m"], "must be longer than 0 seconds"),
        (["--for", "-1h"], "--for"),
        ([], "the following arguments are required: --for"),
    ],
    ids=["garbage", "zero", "negative", "missing"],
)
def test_silence_needs_a_duration(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    argv: list[str],
    message: str,
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    code, out, err = cli(capsys, "silence", config, "firing", *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert not (config.parent / "sqlsentinel_state.db").exists()


@pytest.mark.parametrize("command", [["silence", "--for", "1h"], ["unsilence"]])
def test_silencing_an_unknown_alert_exits_2_with_a_suggestion(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    command: list[str],
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    code, out, err = cli(capsys, command[0], config, "firng", *command[1:])
    assert (code, out) == (2, "")
    assert "did you mean 'firing'?" in err


# --- db upgrade and the schema version --------------------------------------------------------


def test_db_upgrade_creates_a_fresh_database_then_says_it_is_up_to_date(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, state_url: str
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    code, out, err = cli(capsys, "db", "upgrade", config, "--state-url", state_url)
    assert (code, err) == (0, "")
    assert out.startswith("created the sqlsentinel tables in the state database ")
    assert out.endswith(", at schema version 1\n")
    code, out, err = cli(capsys, "db", "upgrade", config, "--state-url", state_url)
    assert (code, err) == (0, "")
    assert out.endswith(" is at schema version 1: up to date\n")


def test_db_upgrade_finds_the_state_database_as_every_command_does(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    code, out, err = cli(capsys, "db", "upgrade", config)
    assert (code, err) == (0, "")
    assert f"sqlite:///{config.parent / 'sqlsentinel_state.db'}" in out
    monkeypatch.setenv("SQLSENTINEL_STATE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    code, out, _ = cli(capsys, "db", "upgrade", config)
    assert (code, "env.db, at schema version 1" in out) == (0, True)
    # the option may come before the action too, as on every command
    code, out, _ = cli(
        capsys, "--state-url", f"sqlite:///{tmp_path / 'flag.db'}", "db", "upgrade", config
    )
    assert (code, "flag.db, at schema version 1" in out) == (0, True)


def test_db_upgrade_of_an_unreachable_database_exits_3_in_one_line(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    url = "postgresql://nosuchuser:S3cret@127.0.0.1:5432/test"
    code, out, err = cli(capsys, "db", "upgrade", config, "--state-url", url)
    assert (code, out, err.count("\n")) == (3, "", 1)
    assert err.startswith("error: the state database postgresql://nosuchuser:***@127.0.0.1")
    assert "could not be upgraded" in err
    assert "S3cret" not in err


COMMANDS = [
    ["tick", "--now", "2026-11-27T10:00:00Z"],
    ["run"],
    ["execute", "firing"],
    ["history"],
    ["status"],
    ["silence", "firing", "--for", "1h"],
    ["unsilence", "firing"],
]


def _add_probe_table(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE sqlsentinel_probe (x INTEGER)"))
    conn.execute(text("INSERT INTO sqlsentinel_probe VALUES (1)"))


@pytest.fixture
def behind(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    state_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A state database at schema version 1, and a sqlsentinel that needs version 2.

    The newer sqlsentinel is simulated by one more migration, which adds a table with a row.
    """
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    assert cli(capsys, "db", "upgrade", config, "--state-url", state_url)[0] == 0
    migrations = (*schema.MIGRATIONS, (2, "add a probe table", _add_probe_table))
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(schema, "CURRENT_VERSION", 2)
    monkeypatch.setattr(schema, "upgrade", partial(schema.upgrade, migrations=migrations))
    return config


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_on_an_older_schema_exits_3_naming_the_upgrade_command(
    capsys: pytest.CaptureFixture[str], behind: Path, state_url: str, command: list[str]
) -> None:
    name, *rest = command
    code, out, err = cli(capsys, name, behind, *rest, "--state-url", state_url)
    assert (code, out) == (3, "")
    assert err == (
        "error: the state database is at schema version 1, and this sqlsentinel needs 2; "
        f"run `sqlsentinel db upgrade {behind}` to upgrade it\n"
    )
    assert rows(state_url, "probe") == 0  # nothing migrated behind the operator's back


def test_db_upgrade_brings_an_older_schema_up_and_the_commands_work_again(
    capsys: pytest.CaptureFixture[str], behind: Path, state_url: str
) -> None:
    code, out, err = cli(capsys, "db", "upgrade", behind, "--state-url", state_url)
    assert (code, err) == (0, "")
    assert out.endswith(" from schema version 1 to 2\n")
    code, out, err = cli(capsys, "db", "upgrade", behind, "--state-url", state_url)
    assert (code, err) == (0, "")
    assert out.endswith(" is at schema version 2: up to date\n")
    assert rows(state_url, "probe") == 1  # applied once
    code, summary = cli_json(
        capsys, "tick", behind, "--now", "2026-11-27T10:00:00Z", "--state-url", state_url
    )
    assert (code, summary["ran"]) == (0, 1)


def test_a_schema_newer_than_this_sqlsentinel_is_refused_by_db_upgrade_too(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, state_url: str
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    assert cli(capsys, "db", "upgrade", config, "--state-url", state_url)[0] == 0
    run_sql(
        state_url,
        "INSERT INTO sqlsentinel_schema (version, applied_at) VALUES (99, '2026-01-01 00:00:00')",
    )
    code, out, err = cli(capsys, "db", "upgrade", config, "--state-url", state_url)
    assert (code, out) == (3, "")
    assert err.endswith(
        "is at schema version 99, newer than this sqlsentinel knows (1); upgrade sqlsentinel\n"
    )
    code, _, err = cli(capsys, "status", config, "--state-url", state_url)
    assert code == 3
    assert "newer than this sqlsentinel knows" in err


# --- --help -----------------------------------------------------------------------------------

HELPED = [
    ["tick"],
    ["run"],
    ["execute"],
    ["history"],
    ["status"],
    ["silence"],
    ["unsilence"],
    ["db"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("command", HELPED, ids=[" ".join(c) for c in HELPED])
def test_help_of_each_command_in_process(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, err = cli(capsys, *command, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: sqlsentinel {' '.join(command)} ")
    assert "--state-url URL" in out


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["tick"], ["--now ISO8601", "--workers N", "--deadline SECONDS", "--dry-run"]),
        (["run"], ["--watch", "--workers N", "--dry-run"]),
        (["silence"], ["--for DURATION", "--reason REASON"]),
    ],
)
def test_help_as_a_user_runs_it(command: list[str], options: list[str]) -> None:
    done = subprocess.run(
        [str(SCRIPT), *command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    for option in options:
        assert option in done.stdout
    assert re.search(r"^  3  the state database cannot be reached$", done.stdout, re.M)

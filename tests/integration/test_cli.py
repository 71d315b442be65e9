"""The ``sqlsentinel`` command on the example config and a real SQLite database.

Most tests call :func:`sqlsentinel.cli.main` in-process (fast, and capsys sees stdout and stderr
apart); a few run the installed command in a subprocess to prove the entry points, ``--help``
and the README's commands work as a user types them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from sqlsentinel import __version__
from sqlsentinel.cli import main
from tests.support.smtp import Mailbox, Server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOW = "2026-11-27T10:00:00Z"  # a Friday; Europe/Berlin is on CET (UTC+1)
ENABLED = ["daily_revenue_check", "api_error_rate", "pipeline_freshness", "failed_load"]
NEXT_RUNS_LOCAL = {
    "daily_revenue_check": "2026-11-28 09:00 CET, 2026-11-29 09:00 CET, 2026-11-30 09:00 CET",
    "api_error_rate": "2026-11-27 11:05 CET, 2026-11-27 11:10 CET, 2026-11-27 11:15 CET",
    "pipeline_freshness": "2026-11-27 12:00 CET, 2026-11-27 13:00 CET, 2026-11-27 14:00 CET",
    "failed_load": "2026-11-27 11:10 CET, 2026-11-27 11:20 CET, 2026-11-27 11:30 CET",
}
NEXT_RUNS_UTC = {
    "daily_revenue_check": ["2026-11-28T08:00:00Z", "2026-11-29T08:00:00Z", "2026-11-30T08:00:00Z"],
    "api_error_rate": ["2026-11-27T10:05:00Z", "2026-11-27T10:10:00Z", "2026-11-27T10:15:00Z"],
    "pipeline_freshness": ["2026-11-27T11:00:00Z", "2026-11-27T12:00:00Z", "2026-11-27T13:00:00Z"],
    "failed_load": ["2026-11-27T10:10:00Z", "2026-11-27T10:20:00Z", "2026-11-27T10:30:00Z"],
    "refund_spike": [],
}
SCHEDULES = {
    "daily_revenue_check": "0 9 * * *",
    "api_error_rate": "*/5 * * * *",
    "pipeline_freshness": "0 * * * *",
    "failed_load": "*/10 * * * *",
    "refund_spike": "30 9 * * MON-FRI",
}
QUERY_STATUSES = {
    "daily_revenue_check": "ALERT",
    "api_error_rate": "OK",
    "pipeline_freshness": "OK",
    "failed_load": "OK",
}
SCRIPT = Path(sys.executable).with_name("sqlsentinel")


@pytest.fixture(autouse=True)
def _no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop secret-named variables (PGPASSWORD=postgres would mask "postgres" in every line)."""
    for name in list(os.environ):
        if re.search(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|WEBHOOK", name, re.I):
            monkeypatch.delenv(name)


@pytest.fixture
def example_config(write_config: Callable[..., Path], sample_db: Path) -> Path:
    """Write examples/alerts.yaml as it is, except that it points at a fresh sample database."""
    text = (EXAMPLES / "alerts.yaml").read_text(encoding="utf-8")
    example_url = '"sqlite:///examples/sample_data.db"'
    assert example_url in text
    return write_config(text.replace(example_url, f'"sqlite:///{sample_db}"'))


@pytest.fixture
def broken_query_config(write_config: Callable[..., Path], sample_db: Path) -> Path:
    return write_config(
        f"""
database:
  url: "sqlite:///{sample_db}"
alerts:
  - name: healthy
    query: SELECT 'OK' AS status
    schedule: "@hourly"
  - name: broken
    query: SELECT status FROM no_such_table
    schedule: "@hourly"
"""
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def section(text: str, title: str) -> list[str]:
    """Return the lines of the text-report section headed ``title``."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


# --- test / validate --------------------------------------------------------------------------


def test_test_summarises_data_sources_alerts_schedules_and_next_runs(
    capsys: pytest.CaptureFixture[str], example_config: Path, sample_db: Path
) -> None:
    code, out, err = run(capsys, "test", str(example_config), "--now", NOW)
    assert (code, err) == (0, "")
    assert out.startswith(f"{example_config} is valid: 5 alerts (4 enabled), 1 data source.")
    assert section(out, "Data sources") == [f"  default  sqlite:///{sample_db}"]
    alerts = "\n".join(section(out, "Alerts"))
    for name, schedule in SCHEDULES.items():
        assert re.search(rf"^  {name}  \[", alerts, re.M), name
        assert f"    schedule  {schedule}  (Europe/Berlin)" in alerts
    for name, runs in NEXT_RUNS_LOCAL.items():
        block = alerts.split(f"  {name}  [", 1)[1]
        assert block.splitlines()[2] == f"    next      {runs}"
    refund = alerts.split("  refund_spike  [", 1)[1]
    assert refund.startswith("disabled")
    assert "next" not in refund
    assert "[enabled, critical, database default]" in alerts  # daily_revenue_check


def test_test_as_json_has_the_same_facts(
    capsys: pytest.CaptureFixture[str], example_config: Path, sample_db: Path
) -> None:
    code, out, _ = run(capsys, "test", str(example_config), "--now", NOW, "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["valid"] is True
    assert summary["config"] == str(example_config)
    assert summary["data_sources"] == [{"name": "default", "url": f"sqlite:///{sample_db}"}]
    alerts = {alert["name"]: alert for alert in summary["alerts"]}
    assert list(alerts) == [*ENABLED, "refund_spike"]
    for name, alert in alerts.items():
        assert alert["schedule"] == SCHEDULES[name]
        assert alert["timezone"] == "Europe/Berlin"
        assert alert["next_runs"] == NEXT_RUNS_UTC[name]
        assert alert["enabled"] is (name != "refund_spike")
    assert "queries" not in summary


def test_validate_is_an_alias_of_test(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    assert run(capsys, "validate", str(example_config), "--now", NOW) == run(
        capsys, "test", str(example_config), "--now", NOW
    )


def test_next_runs_follow_the_clock_without_now(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    before = datetime.now(UTC)
    code, out, _ = run(capsys, "test", str(example_config), "--format", "json")
    after = datetime.now(UTC)
    assert code == 0
    runs = [datetime.fromisoformat(run) for run in json.loads(out)["alerts"][1]["next_runs"]]
    assert before < runs[0] <= after + timedelta(minutes=5)  # api_error_rate, every 5 minutes
    assert [b - a for a, b in itertools.pairwise(runs)] == [timedelta(minutes=5)] * 2


def test_test_connect_runs_every_enabled_query_and_reports_each(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, err = run(capsys, "test", str(example_config), "--connect", "--now", NOW)
    assert (code, err) == (0, ""), "a firing alert is still a success"
    assert section(out, "Connections")[0].startswith("  default  connected (SQLite 3.")
    queries = {
        line.split()[0]: line.split()[1]
        for line in section(out, "Queries (read-only, rolled back)")
    }
    assert queries == QUERY_STATUSES
    assert "actual 8420.5 / threshold 10000" in out


def test_test_connect_as_json_reports_each_query(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, _ = run(capsys, "test", str(example_config), "--connect", "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["connections"][0]["name"] == "default"
    assert summary["connections"][0]["ok"] is True
    statuses = {name: query["status"] for name, query in summary["queries"].items()}
    assert statuses == QUERY_STATUSES
    assert summary["queries"]["daily_revenue_check"]["actual_value"] == 8420.5
    assert summary["not_run"] == {}


def test_test_connect_exits_1_when_an_alert_query_fails(
    capsys: pytest.CaptureFixture[str], broken_query_config: Path
) -> None:
    code, out, _ = run(capsys, "test", str(broken_query_config), "--connect")
    assert code == 1
    queries = section(out, "Queries (read-only, rolled back)")
    assert queries[0].split()[:2] == ["healthy", "OK"]
    assert queries[1].split()[:2] == ["broken", "ERROR"]
    assert "no such table: no_such_table" in queries[1]


def test_test_connect_reports_alerts_on_an_unreachable_data_source_as_not_run(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(
        f"""
database:
  url: "sqlite:///{tmp_path / "missing.db"}"
alerts:
  - name: lonely
    query: SELECT 'OK' AS status
    schedule: "@daily"
"""
    )
    code, out, _ = run(capsys, "test", str(config), "--connect")
    assert code == 1
    connection = section(out, "Connections")[0]
    assert connection.startswith("  default  FAILED: ")
    assert "missing.db' does not exist" in connection
    assert section(out, "Queries (read-only, rolled back)") == [
        "  lonely  not run: data source 'default' could not be reached"
    ]
    assert not (tmp_path / "missing.db").exists(), "checking must not create the database"


def test_test_without_connect_refuses_a_url_sqlalchemy_cannot_read(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    config = write_config(
        """
database:
  url: "postgresql://db.example.com:notaport/app"
alerts:
  - name: a
    query: SELECT 'OK' AS status
    schedule: "@daily"
"""
    )
    code, out, err = run(capsys, "test", str(config))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {config}: data source 'default': ")
    assert "is not a valid database URL" in err


def test_test_refuses_a_database_sqlsentinel_cannot_make_read_only(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    config = write_config(
        """
database:
  url: "oracle://db.example.com/app"
alerts:
  - name: a
    query: SELECT 'OK' AS status
    schedule: "@daily"
"""
    )
    code, out, err = run(capsys, "test", str(config))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {config}:3: field 'database.url': 'oracle' databases are not")


# --- execute ----------------------------------------------------------------------------------


def test_execute_prints_status_values_and_context(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, err = run(capsys, "execute", str(example_config), "daily_revenue_check")
    assert (code, err) == (0, "")
    rows = out.splitlines()
    assert rows[:5] == [
        "alert      daily_revenue_check",
        "status     ALERT",
        "actual     8420.5",
        "threshold  10000",
        "context    orders: 5",
    ]
    assert re.fullmatch(r" {11}day: \d{4}-\d{2}-\d{2}", rows[5])
    assert re.fullmatch(r"duration   \d+(\.\d)? ms", rows[6])
    assert rows[7] == "database   default"
    assert "dry run" not in out


def test_execute_as_json_has_every_field(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    before = datetime.now(UTC)
    code, out, _ = run(
        capsys, "execute", str(example_config), "daily_revenue_check", "--format", "json"
    )
    assert code == 0
    result = json.loads(out)
    assert {
        "alert",
        "status",
        "actual_value",
        "threshold",
        "context",
        "error",
        "duration_ms",
        "started_at",
    } <= set(result)
    assert result["alert"] == "daily_revenue_check"
    assert result["status"] == "ALERT"
    assert result["actual_value"] == 8420.5
    assert result["threshold"] == 10000
    assert result["context"]["orders"] == 5
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", result["context"]["day"])
    assert result["error"] is None
    assert result["duration_ms"] >= 0
    assert result["started_at"].endswith("Z")
    assert before <= datetime.fromisoformat(result["started_at"]) <= datetime.now(UTC)
    assert result["dry_run"] is False


def test_execute_dry_run_says_nothing_was_sent_or_recorded(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, _ = run(capsys, "execute", str(example_config), "daily_revenue_check", "--dry-run")
    assert code == 0
    assert out.splitlines()[-1] == "dry run    nothing was sent and nothing was recorded"
    code, out, _ = run(
        capsys,
        "execute",
        str(example_config),
        "daily_revenue_check",
        "--dry-run",
        "--format",
        "json",
    )
    assert json.loads(out)["dry_run"] is True


def test_execute_an_unknown_alert_exits_2_suggesting_the_close_name(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, err = run(capsys, "execute", str(example_config), "daily_revenue")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("error: there is no alert named 'daily_revenue'")
    assert "did you mean 'daily_revenue_check'?" in err
    assert "Traceback" not in err


def test_execute_an_erroring_alert_exits_1_and_says_why(
    capsys: pytest.CaptureFixture[str], broken_query_config: Path
) -> None:
    code, out, err = run(capsys, "execute", str(broken_query_config), "broken")
    assert code == 1
    assert out.splitlines()[1:3] == ["status     ERROR", "error      no such table: no_such_table"]
    assert "WARNING sqlsentinel: alert 'broken' ERROR: no such table: no_such_table" in err


def test_execute_runs_a_disabled_alert(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, _ = run(capsys, "execute", str(example_config), "refund_spike")
    assert code == 0
    assert out.splitlines()[1:4] == ["status     OK", "actual     16.7", "threshold  20"]


# --- usage and errors -------------------------------------------------------------------------


def test_a_garbled_now_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, err = run(capsys, "test", str(example_config), "--now", "next tuesday")
    assert (code, out) == (2, "")
    assert "argument --now: 'next tuesday' is not an ISO 8601 time" in err


def test_now_without_an_offset_is_read_as_utc(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, out, _ = run(
        capsys, "test", str(example_config), "--now", "2026-11-27T10:00", "--format", "json"
    )
    assert code == 0
    assert json.loads(out)["alerts"][0]["next_runs"] == NEXT_RUNS_UTC["daily_revenue_check"]


def test_a_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "the following arguments are required: COMMAND" in err


def test_a_missing_config_file_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "test", str(tmp_path / "nope.yaml"))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {tmp_path / 'nope.yaml'}: no such file")
    assert err.count("\n") == 1


def test_debug_shows_the_traceback_of_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--debug", "test", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().splitlines()[-1].startswith("error: ")


def test_main_leaves_the_callers_logging_as_it_was(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    run(capsys, "--debug", "execute", str(example_config), "api_error_rate")
    assert root.handlers == handlers
    assert root.level == level


def test_help_in_process_returns_0_instead_of_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("usage: sqlsentinel")


# --- the installed command, as a user runs it -------------------------------------------------


def command(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv], capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


@pytest.mark.parametrize("subcommand", [[], ["test"], ["validate"], ["execute"]])
def test_help_works_for_the_command_and_each_subcommand(subcommand: list[str]) -> None:
    done = command(str(SCRIPT), *subcommand, "--help")
    assert done.returncode == 0, done.stderr
    shown = " ".join(subcommand).replace("validate", "test")  # argparse shows an alias's name
    assert done.stdout.startswith(f"usage: sqlsentinel {shown}".rstrip())
    exit_codes = done.stdout.split("exit codes:", 1)[1]
    for code, meaning in [
        ("0", "success"),
        ("1", "errored"),
        ("2", "usage or config"),
        ("3", "state database"),
    ]:
        assert re.search(rf"^  {code}  .*{meaning}", exit_codes, re.M), (code, exit_codes)
    if not subcommand:
        assert "test (validate)" in done.stdout
        assert "execute" in done.stdout


def test_python_dash_m_prints_the_version() -> None:
    done = command(sys.executable, "-m", "sqlsentinel", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"sqlsentinel {__version__}")


def test_python_dash_m_runs_a_subcommand(example_config: Path) -> None:
    done = command(sys.executable, "-m", "sqlsentinel", "test", str(example_config), "--now", NOW)
    assert done.returncode == 0, done.stderr
    assert f"    next      {NEXT_RUNS_LOCAL['daily_revenue_check']}" in done.stdout


def test_the_readme_commands_work_from_a_fresh_copy_of_examples(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    for name in ("alerts.yaml", "build_sample_db.py", "sample_data.sql"):
        shutil.copy(EXAMPLES / name, examples / name)

    built = command(sys.executable, "examples/build_sample_db.py", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (examples / "sample_data.db").is_file()

    checked = command(str(SCRIPT), "test", "examples/alerts.yaml", "--connect", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    queries = section(checked.stdout, "Queries (read-only, rolled back)")
    assert [line.split()[:2] for line in queries] == [list(item) for item in QUERY_STATUSES.items()]

    executed = command(
        str(SCRIPT), "execute", "examples/alerts.yaml", "daily_revenue_check", cwd=tmp_path
    )
    assert executed.returncode == 0, executed.stderr
    assert "status     ALERT" in executed.stdout


# --- SQL Sentinel configs run unchanged ---------------------------------------------------------

FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def sql_sentinel_project(
    tmp_path: Path,
    sample_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: Callable[..., Server],
    httpserver: HTTPServer,
) -> tuple[Path, Mailbox]:
    """Lay out a directory as a SQL Sentinel user has it: examples/sample_data.db beside the
    config, its variables set (pointing at a real SMTP server and HTTP receivers), the working
    directory at its root."""
    (tmp_path / "examples").mkdir()
    shutil.copy(sample_db, tmp_path / "examples" / "sample_data.db")
    server = smtp_server()
    environment = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM_ADDRESS": "sentinel@example.com",
        "SLACK_WEBHOOK_URL": httpserver.url_for("/services/T000/B000/XXXXSECRET"),
        "WEBHOOK_URL": httpserver.url_for("/hooks/sqlsentinel"),
        "WEBHOOK_TOKEN": "tok-5ecret-value",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path, server.mailbox


@pytest.mark.parametrize(
    "fixture", ["sql_sentinel_format.yaml", "sql_sentinel_documented_forms.yaml"]
)
def test_a_sql_sentinel_config_validates_executes_and_notifies_unchanged(
    capsys: pytest.CaptureFixture[str],
    sql_sentinel_project: tuple[Path, Mailbox],
    httpserver: HTTPServer,
    fixture: str,
) -> None:
    root, mailbox = sql_sentinel_project
    config = shutil.copy(FIXTURES / fixture, root / "alerts.yaml")
    httpserver.expect_request("/services/T000/B000/XXXXSECRET", method="POST").respond_with_data(
        "ok"
    )
    httpserver.expect_request(
        "/hooks/sqlsentinel",
        method="POST",
        headers={"Authorization": "Bearer tok-5ecret-value"},
    ).respond_with_data("accepted", status=202)

    code, out, err = run(capsys, "test", str(config), "--connect")
    assert (code, err) == (0, "")
    assert "daily_revenue_check  ALERT" in out

    code, out, err = run(capsys, "execute", str(config), "daily_revenue_check", "--format", "json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert (result["status"], result["threshold"], result["notification"]) == (
        "ALERT", 10000, "FIRING"
    )  # fmt: skip
    assert result["actual_value"] < 10000
    assert [(n["channel"], n["ok"]) for n in result["notifications"]] == [
        ("email", True), ("slack", True), ("webhook", True),
    ]  # fmt: skip
    (message,) = mailbox.messages
    assert "daily_revenue_check" in message["Subject"]
    assert len(httpserver.log) == 2
    httpserver.check_assertions()


def test_execute_exits_1_when_a_channel_cannot_deliver_and_the_others_still_do(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/ok", method="POST").respond_with_data("ok")
    httpserver.expect_request("/broken", method="POST").respond_with_data("nope", status=400)
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: always
    query: SELECT 'ALERT' AS status, 3 AS actual_value, 1 AS threshold
    schedule: "@hourly"
    notify:
      - {{channel: webhook, url: "{httpserver.url_for("/broken")}"}}
      - {{channel: webhook, url: "{httpserver.url_for("/ok")}"}}
"""
    )
    code, out, _ = run(capsys, "execute", str(config), "always")
    assert code == 1
    lines = out.splitlines()
    assert any("NOT delivered after 1 attempt" in line for line in lines)
    assert any(line.endswith("FIRING delivered (1 attempt)") for line in lines)
    assert [request.path for request, _ in httpserver.log] == ["/broken", "/ok"]


def test_execute_dry_run_renders_every_notification_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: always
    query: SELECT 'ALERT' AS status, 3 AS actual_value, 1 AS threshold
    schedule: "@hourly"
    notify:
      - {{channel: webhook, url: "{httpserver.url_for("/hook")}"}}
"""
    )
    code, out, _ = run(capsys, "execute", str(config), "always", "--dry-run")
    assert code == 0
    assert "would send FIRING through 1 channel:" in out
    assert re.search(r'"idempotency_key": ?"always:', out)
    assert httpserver.log == []


def test_execute_notifies_an_error_when_the_query_fails(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: broken
    query: SELECT status FROM no_such_table
    schedule: "@hourly"
    notify:
      - {{channel: webhook, url: "{httpserver.url_for("/hook")}"}}
"""
    )
    code, out, _ = run(capsys, "execute", str(config), "broken", "--format", "json")
    result = json.loads(out)
    assert (code, result["status"], result["notification"]) == (1, "ERROR", "ERROR")
    (request, _) = httpserver.log[0]
    assert json.loads(request.data)["kind"] == "ERROR"


def test_test_fails_for_a_channel_whose_settings_are_missing(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    sample_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SMTP_HOST", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: mailed
    query: SELECT 'OK' AS status
    schedule: "@hourly"
    notify:
      - channel: email
        recipients: [oncall@example.com]
      - channel: slack
"""
    )
    code, out, err = run(capsys, "test", str(config))
    assert (code, out) == (2, "")
    email_line, slack_line = err.splitlines()
    assert email_line.startswith(f"error: {config}:8: alert 'mailed' field 'notify[0]': ")
    assert "SMTP_HOST" in email_line
    assert slack_line.startswith(f"error: {config}:10: alert 'mailed' field 'notify[1]': ")
    assert "SLACK_WEBHOOK_URL" in slack_line


def test_notify_test_sends_a_marked_test_notification_through_one_channel(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: never_runs_the_query
    query: SELECT status FROM no_such_table
    schedule: "@hourly"
    notify:
      - {{channel: email, recipients: [nobody@example.com]}}
      - {{channel: webhook, url: "{httpserver.url_for("/hook")}"}}
notifications:
  email: {{smtp_host: 127.0.0.1, smtp_port: 9, security: none, from_address: s@example.com}}
"""
    )
    code, out, _ = run(
        capsys, "notify-test", str(config), "never_runs_the_query", "--channel", "webhook"
    )
    assert code == 0
    assert "FIRING delivered (1 attempt)" in out
    (request, _) = httpserver.log[0]
    payload = json.loads(request.data)
    assert payload["test"] is True
    assert payload["idempotency_key"].startswith("test:")


def test_notify_test_refuses_an_alert_without_notify_entries(
    capsys: pytest.CaptureFixture[str], example_config: Path
) -> None:
    code, _, err = run(capsys, "notify-test", str(example_config), "daily_revenue_check")
    assert code == 2
    assert "has no notify entries" in err


@pytest.fixture
def mailed_config(
    write_config: Callable[..., Path], sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An alert that fires, with one email channel and no SMTP server anywhere."""
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: mailed
    query: SELECT 'ALERT' AS status
    schedule: "@hourly"
    notify:
      - {{channel: email, recipients: [oncall@example.com]}}
"""
    )


def test_notify_test_names_the_channels_when_the_one_asked_for_is_missing(
    capsys: pytest.CaptureFixture[str], mailed_config: Path
) -> None:
    code, _, err = run(capsys, "notify-test", str(mailed_config), "mailed", "--channel", "sns")
    assert code == 2
    assert err == "error: alert 'mailed' has no sns channel; its channels are: email\n"


def test_execute_exits_1_for_a_channel_whose_settings_are_missing(
    capsys: pytest.CaptureFixture[str], mailed_config: Path
) -> None:
    code, out, _ = run(capsys, "execute", str(mailed_config), "mailed")
    assert code == 1
    assert "email to oncall@example.com: FIRING NOT delivered after 1 attempt" in out
    assert "SMTP_HOST" in out


@pytest.mark.parametrize("command", ["execute", "notify-test"])
def test_a_dry_run_fails_for_a_channel_that_cannot_send(
    capsys: pytest.CaptureFixture[str], mailed_config: Path, command: str
) -> None:
    code, out, _ = run(capsys, command, str(mailed_config), "mailed", "--dry-run")
    assert code == 1
    assert "--- email to oncall@example.com ---" in out
    assert "CANNOT BE SENT: no SMTP server is configured" in out


def test_notify_test_dry_run_shows_the_marked_message(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], sample_db: Path
) -> None:
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
alerts:
  - name: hooked
    query: SELECT 'OK' AS status
    schedule: "@hourly"
    notify:
      - {{channel: webhook, url: "https://ops.example.com/hook"}}
"""
    )
    code, out, _ = run(
        capsys, "notify-test", str(config), "hooked", "--dry-run", "--format", "json"
    )
    assert code == 0
    (preview,) = json.loads(out)["notifications"]
    assert preview["error"] is None
    assert json.loads(preview["rendered"].split("\n\n", 1)[1])["test"] is True


# --- the examples say what they mean --------------------------------------------------------


def test_pipeline_freshness_fires_when_the_pipeline_never_loaded(
    capsys: pytest.CaptureFixture[str], example_config: Path, sample_db: Path
) -> None:
    with sqlite3.connect(sample_db) as connection:
        connection.execute("DELETE FROM pipeline_loads WHERE pipeline = 'orders_etl'")
    connection.close()
    code, out, _ = run(capsys, "execute", str(example_config), "pipeline_freshness")
    assert code == 0
    assert out.splitlines()[1] == "status     ALERT"


def test_failed_load_is_ok_without_rows_and_fires_with_the_failed_pipeline(
    capsys: pytest.CaptureFixture[str], example_config: Path, sample_db: Path
) -> None:
    code, out, _ = run(capsys, "execute", str(example_config), "failed_load", "--format", "json")
    assert (code, json.loads(out)["status"]) == (0, "OK")

    with sqlite3.connect(sample_db) as connection:
        connection.execute(
            "INSERT INTO pipeline_loads (pipeline, loaded_at, rows_loaded, succeeded) "
            "VALUES ('payments_etl', datetime('now', '-5 minutes'), 0, 0)"
        )
    connection.close()
    code, out, _ = run(capsys, "execute", str(example_config), "failed_load", "--format", "json")
    result = json.loads(out)
    assert (code, result["status"]) == (0, "ALERT")
    assert result["context"]["pipeline"] == "payments_etl"


def test_json_output_stays_valid_when_secret_named_settings_are_short(
    capsys: pytest.CaptureFixture[str], example_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_ENABLED", "true")
    monkeypatch.setenv("TOKEN_TTL", "10000")
    code, out, _ = run(
        capsys,
        "execute",
        str(example_config),
        "daily_revenue_check",
        "--dry-run",
        "--format",
        "json",
    )
    result = json.loads(out)
    assert (code, result["dry_run"], result["threshold"]) == (0, True, 10000)


def test_text_output_escapes_control_characters_from_query_values(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], sample_db: Path
) -> None:
    config = write_config(
        f"""
database:
  url: "sqlite:///{sample_db}"
alerts:
  - name: colourful
    query: SELECT 'OK' AS status, char(27) || '[31mred' || char(10) || 'line' AS note
    schedule: "@hourly"
"""
    )
    code, out, _ = run(capsys, "execute", str(config), "colourful")
    assert code == 0
    assert "\x1b" not in out
    assert "context    note: \\x1b[31mred\\nline" in out.splitlines()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("{channel: email, recipients: [a@example.com]}", "SMTP_HOST"),
        ("{channel: slack}", "SLACK_WEBHOOK_URL"),
        ("{channel: ses, recipients: [a@example.com], region: eu-west-1}", "SMTP_FROM_ADDRESS"),
        ("{channel: sns, topic_arn: 'arn:aws:sns:eu-west-1:123456789012:t'}", "sqlsentinel[aws]"),
        ("{channel: webhook, url: 'ops.example.com/hook'}", "http:// or https:// URL"),
    ],
)
def test_test_fails_naming_what_to_set_for_each_channel(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
    says: str,
) -> None:
    for name in ("SMTP_HOST", "SLACK_WEBHOOK_URL", "SMTP_FROM_ADDRESS", "SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    if entry.startswith("{channel: sns"):
        monkeypatch.setitem(sys.modules, "boto3", None)  # as if the aws extra were not installed
    config = write_config(
        'database: "sqlite:///data.db"\n'
        "alerts:\n"
        "  - name: a\n"
        "    query: SELECT 'OK' AS status\n"
        "    schedule: '@hourly'\n"
        f"    notify: [{entry}]\n"
    )
    code, out, err = run(capsys, "test", str(config))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {config}:6: alert 'a' field 'notify[0]")
    assert says in err

"""``sqlsentinel tick``: one pass of due → claim → run → decide → notify → record, then exit.

Through :func:`sqlsentinel.cli.main` in-process, on each state-database backend where the
backend matters; a subprocess only where the process itself is the subject (what the fast
path imports). ``--now`` is the clock everywhere, so no test waits for a minute to pass.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.support.cli import (
    BROKEN,
    FIRING,
    HISTORY_KEYS,
    NOW,
    QUIET,
    SUMMARY_KEYS,
    alert,
    cli,
    cli_json,
    config_text,
    drop_secret_named_variables,
    rows,
    webhook,
)
from tests.support.smtp import Server, free_port

WriteConfig = Callable[..., Path]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Give each test its own fast-path cache, no state URL from outside, no secret names."""
    drop_secret_named_variables(monkeypatch)
    monkeypatch.delenv("SQLSENTINEL_STATE_URL", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SQLSENTINEL_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def two_alerts(write_config: WriteConfig, sample_db: Path) -> Path:
    """An hourly alert that fires and one that does not."""
    return write_config(config_text(sample_db, alert("firing", FIRING), alert("quiet", QUIET)))


# --- what a tick prints -----------------------------------------------------------------------


def test_tick_runs_what_is_due_and_prints_one_line_per_run(
    capsys: pytest.CaptureFixture[str], two_alerts: Path, state_url: str
) -> None:
    code, out, err = cli(capsys, "tick", two_alerts, "--now", NOW, "--state-url", state_url)
    assert (code, err) == (0, "")
    head, *runs = out.splitlines()
    assert re.fullmatch(
        rf"tick at {NOW}: 2 due, 2 claimed, 2 ran \(1 firing, 0 failed\), "
        r"0 notifications delivered \(\d+ ms\)",
        head,
    ), head
    assert sorted(runs) == ["  firing  ALERT    3 / 1  firing", "  quiet   OK       0 / 1  ok"]


def test_tick_as_json_has_every_summary_key_and_one_object_per_run(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    state_url: str,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(
        config_text(sample_db, alert("firing", FIRING, "*/30 * * * *", hook), alert("quiet", QUIET))
    )
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--state-url", state_url)
    assert code == 0
    assert set(summary) == SUMMARY_KEYS
    counts = {key: summary[key] for key in SUMMARY_KEYS - {"now", "duration_ms", "runs"}}
    assert counts == {
        "due": 2, "claimed": 2, "ran": 2, "fired": 1, "notified": 1, "undelivered": 0,
        "suppressed": 0, "errors": 0, "missed": 0, "deferred": 0, "refused": 0,
        "fast_path": False,
    }  # fmt: skip
    assert summary["now"] == NOW
    assert summary["duration_ms"] >= 0
    runs = {run["alert"]: run for run in summary["runs"]}
    assert set(runs) == {"firing", "quiet"}
    for run in runs.values():
        assert set(run) == HISTORY_KEYS | {"decision", "coalesced"}
        assert (run["slot"], run["triggered_by"], run["attempt"]) == (NOW, "CRON", 1)
    assert (runs["firing"]["status"], runs["firing"]["decision"]) == ("ALERT", "firing")
    assert (runs["quiet"]["status"], runs["quiet"]["actual_value"]) == ("OK", 0)

    # half an hour later it still fires, within the cooldown: nothing is sent
    code, summary = cli_json(
        capsys, "tick", config, "--now", "2026-11-27T10:30:00Z", "--state-url", state_url
    )
    assert code == 0
    assert (summary["due"], summary["fired"], summary["notified"], summary["suppressed"]) == (
        1, 1, 0, 1,
    )  # fmt: skip
    assert summary["runs"][0]["decision"] == "within cooldown until 2026-11-27T11:00:00Z"
    assert len(httpserver.log) == 1


def test_a_second_tick_in_the_same_minute_runs_nothing_again(
    capsys: pytest.CaptureFixture[str], two_alerts: Path, state_url: str
) -> None:
    cli(capsys, "tick", two_alerts, "--now", NOW, "--state-url", state_url)
    code, summary = cli_json(
        capsys, "tick", two_alerts, "--now", "2026-11-27T10:00:40Z", "--state-url", state_url
    )
    assert (code, summary["due"], summary["ran"], summary["runs"]) == (0, 0, 0, [])
    assert rows(state_url, "executions") == 2


def test_a_firing_alert_without_notify_entries_is_not_counted_as_suppressed(
    capsys: pytest.CaptureFixture[str], two_alerts: Path
) -> None:
    code, summary = cli_json(capsys, "tick", two_alerts, "--now", NOW)
    assert (code, summary["fired"], summary["suppressed"]) == (0, 1, 0)


def test_a_firing_alert_is_notified_and_the_tick_exits_0(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    state_url: str,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = write_config(
        config_text(
            sample_db, alert("firing", FIRING, "0 * * * *", webhook(httpserver.url_for("/hook")))
        )
    )
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--state-url", state_url)
    assert (code, summary["fired"], summary["notified"], summary["undelivered"]) == (0, 1, 1, 0)
    (run,) = summary["runs"]
    assert run["notifications"] == [
        {"channel": "webhook", "kind": "FIRING", "ok": True, "attempts": 1, "error": None}
    ]
    (request, _) = httpserver.log[0]
    assert json.loads(request.data)["kind"] == "FIRING"
    assert len(httpserver.log) == 1


def test_a_failing_query_makes_the_tick_exit_1_and_the_others_still_run(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, state_url: str
) -> None:
    config = write_config(config_text(sample_db, alert("broken", BROKEN), alert("quiet", QUIET)))
    code, out, _ = cli(capsys, "tick", config, "--now", NOW, "--state-url", state_url)
    assert code == 1
    assert "2 ran (0 firing, 1 failed)" in out
    assert "  broken  ERROR    no such table: no_such_table" in out
    assert rows(state_url, "executions") == 2


def test_an_undelivered_notification_makes_the_tick_exit_1(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    # a 400 is permanent: no retry, so no backoff to wait for
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=400)
    config = write_config(
        config_text(
            sample_db, alert("firing", FIRING, "0 * * * *", webhook(httpserver.url_for("/hook")))
        )
    )
    code, out, _ = cli(capsys, "tick", config, "--now", NOW)
    assert code == 1
    assert "0 notifications delivered, 1 NOT delivered" in out
    assert "-> webhook FIRING FAILED" in out


# --- --dry-run, --workers, --deadline ---------------------------------------------------------


def test_a_dry_run_claims_sends_and_records_nothing_but_says_what_it_would_send(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    state_url: str,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = write_config(
        config_text(
            sample_db, alert("firing", FIRING, "0 * * * *", webhook(httpserver.url_for("/hook")))
        )
    )
    code, summary = cli_json(
        capsys, "tick", config, "--now", NOW, "--dry-run", "--state-url", state_url
    )
    assert (code, summary["due"], summary["claimed"], summary["ran"]) == (0, 1, 0, 1)
    (run,) = summary["runs"]
    assert run["decision"] == "dry run: firing; would send FIRING via webhook"
    assert run["notifications"] == []
    assert httpserver.log == []
    assert (rows(state_url, "executions"), rows(state_url, "state")) == (0, 0)

    code, out, _ = cli(capsys, "tick", config, "--now", NOW, "--dry-run", "--state-url", state_url)
    assert "firing  ALERT    3 / 1  dry run: firing; would send FIRING via webhook" in out

    # nothing was claimed: the real tick at the same instant still runs and sends it
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--state-url", state_url)
    assert (code, summary["claimed"], summary["notified"]) == (0, 1, 1)
    assert len(httpserver.log) == 1


def test_a_dry_run_counts_and_exits_as_the_real_tick_would(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("broken", BROKEN), alert("firing", FIRING)))
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--dry-run")
    assert (summary["ran"], summary["fired"], summary["errors"]) == (2, 1, 1)
    assert {run["slot"] for run in summary["runs"]} == {NOW}
    assert code == 1


def test_any_number_of_workers_runs_every_due_alert_once(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    alerts = [alert(f"a{i}", FIRING if i % 2 else QUIET) for i in range(5)]
    config = write_config(config_text(sample_db, *alerts))
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--workers", "1")
    assert (code, summary["due"], summary["claimed"], summary["ran"]) == (0, 5, 5, 5)
    assert sorted(run["alert"] for run in summary["runs"]) == [f"a{i}" for i in range(5)]


@pytest.mark.parametrize("workers", ["0", "-2", "many"])
def test_workers_must_be_a_positive_whole_number(
    capsys: pytest.CaptureFixture[str], two_alerts: Path, workers: str
) -> None:
    code, out, err = cli(capsys, "tick", two_alerts, "--now", NOW, "--workers", workers)
    assert (code, out) == (2, "")
    assert "--workers" in err


def test_a_deadline_of_0_defers_everything_to_the_next_tick(
    capsys: pytest.CaptureFixture[str], two_alerts: Path, state_url: str
) -> None:
    code, summary = cli_json(
        capsys, "tick", two_alerts, "--now", NOW, "--deadline", "0", "--state-url", state_url
    )
    assert code == 0
    assert (summary["due"], summary["deferred"], summary["claimed"], summary["ran"]) == (2, 2, 0, 0)
    code, out, _ = cli(
        capsys, "tick", two_alerts, "--now", NOW, "--deadline", "0", "--state-url", state_url
    )
    assert "2 left for the next tick (deadline)" in out.splitlines()[0]
    assert rows(state_url, "executions") == 0

    # the next tick, still within the grace, runs them
    code, summary = cli_json(
        capsys, "tick", two_alerts, "--now", "2026-11-27T10:01:00Z", "--state-url", state_url
    )
    assert (code, summary["ran"], summary["deferred"]) == (0, 2, 0)
    assert {run["slot"] for run in summary["runs"]} == {NOW}


@pytest.mark.parametrize(
    ("deadline", "message"),
    [("-1", "must be 0 seconds or more"), ("nan", "must be 0 seconds or more"),
     ("soon", "is not a number of seconds")],
)  # fmt: skip
def test_a_deadline_must_be_a_number_of_seconds_not_below_0(
    capsys: pytest.CaptureFixture[str], two_alerts: Path, deadline: str, message: str
) -> None:
    code, out, err = cli(capsys, "tick", two_alerts, "--now", NOW, "--deadline", deadline)
    assert (code, out) == (2, "")
    assert f"argument --deadline: '{deadline}' {message}" in err


# --- where the state database is --------------------------------------------------------------


def test_the_state_database_defaults_to_a_private_file_next_to_the_config(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # next to the config, not in the current directory
    code, _, _ = cli(capsys, "tick", config, "--now", NOW)
    assert code == 0
    state = config.parent / "sqlsentinel_state.db"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert list(elsewhere.iterdir()) == []
    assert rows(f"sqlite:///{state}", "executions") == 1


def test_state_url_comes_from_the_flag_then_the_environment_then_the_config(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_config, in_env, in_flag = (
        f"sqlite:///{tmp_path / name}" for name in ("c.db", "e.db", "f.db")
    )
    config = write_config(
        config_text(sample_db, alert("firing", FIRING, "* * * * *"), state=in_config)
    )

    cli(capsys, "tick", config, "--now", "2026-11-27T10:00:00Z")
    monkeypatch.setenv("SQLSENTINEL_STATE_URL", in_env)
    cli(capsys, "tick", config, "--now", "2026-11-27T10:01:00Z")
    code, _, err = cli(
        capsys, "tick", config, "--now", "2026-11-27T10:02:00Z", "--state-url", in_flag
    )
    assert (code, err) == (0, "")

    assert [rows(url, "executions") for url in (in_config, in_env, in_flag)] == [1, 1, 1]
    assert not (config.parent / "sqlsentinel_state.db").exists()


# --- an unreachable state database ------------------------------------------------------------


def _unreachable_urls() -> list[str]:
    return [
        "postgresql://nosuchuser:S3cret@127.0.0.1:5432/test",
        f"mysql+pymysql://root:S3cret@127.0.0.1:{free_port()}/test",  # a closed port
    ]


@pytest.mark.parametrize("url", _unreachable_urls(), ids=["postgres-bad-login", "closed-port"])
def test_an_unreachable_state_database_exits_3_in_one_sentence_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    url: str,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = write_config(
        config_text(
            sample_db, alert("firing", FIRING, "0 * * * *", webhook(httpserver.url_for("/hook")))
        )
    )
    code, out, err = cli(capsys, "tick", config, "--now", NOW, "--state-url", url)
    assert (code, out) == (3, "")
    assert err.count("\n") == 1
    assert err.startswith("error: the state database ")
    assert "S3cret" not in err
    assert "Traceback" not in err
    assert httpserver.log == []


def test_an_unreachable_state_database_in_the_config_exits_3_too(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    url = f"mysql+pymysql://root:S3cret@127.0.0.1:{free_port()}/test"
    config = write_config(config_text(sample_db, alert("firing", FIRING), state=url))
    code, _, err = cli(capsys, "tick", config, "--now", NOW)
    assert code == 3
    assert "S3cret" not in err
    assert err.count("\n") == 1


# --- the fast path ----------------------------------------------------------------------------


def test_a_tick_when_nothing_is_due_says_so_and_never_opens_the_state_database(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, tmp_path: Path
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING)))
    closed = f"mysql+pymysql://root@127.0.0.1:{free_port()}/test"  # would exit 3 if opened
    for now in ("2026-11-27T10:30:00Z", "2026-11-27T10:31:00Z"):  # no cache, then the cache
        code, out, err = cli(capsys, "tick", config, "--now", now, "--state-url", closed)
        assert (code, out, err) == (0, f"tick at {now}: nothing due\n", "")
    code, summary = cli_json(
        capsys, "tick", config, "--now", "2026-11-27T10:32:00Z", "--state-url", closed
    )
    assert code == 0
    assert set(summary) == SUMMARY_KEYS
    assert (summary["fast_path"], summary["due"], summary["ran"], summary["runs"]) == (
        True, 0, 0, [],
    )  # fmt: skip
    assert not (config.parent / "sqlsentinel_state.db").exists()


def test_the_fast_path_imports_neither_sqlalchemy_nor_pydantic(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("firing", FIRING), alert("quiet", QUIET)))
    code, _, _ = cli(capsys, "tick", config, "--now", NOW)  # does the work, fills the cache
    assert code == 0
    wrapper = (
        "import json, sys\n"
        "from sqlsentinel.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, "tick", str(config), "--now", "2026-11-27T10:30:00Z"],
        capture_output=True, text=True, timeout=60, check=False, env=os.environ.copy(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "tick at 2026-11-27T10:30:00Z: nothing due\n"
    loaded = set(json.loads(done.stderr))
    assert "sqlsentinel.scheduler.fastpath" in loaded  # the check sees what was imported
    heavy = {"sqlalchemy", "pydantic", "croniter", "yaml"}
    assert {name.partition(".")[0] for name in loaded} & heavy == set()


# --- --now ------------------------------------------------------------------------------------


def test_now_without_an_offset_is_utc_and_a_garbled_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], two_alerts: Path
) -> None:
    code, summary = cli_json(capsys, "tick", two_alerts, "--now", "2026-11-27T10:00:00")
    assert (code, summary["now"], summary["ran"]) == (0, NOW, 2)
    code, out, err = cli(capsys, "tick", two_alerts, "--now", "teatime")
    assert (code, out) == (2, "")
    assert "'teatime' is not an ISO 8601 time" in err


def test_now_with_an_offset_is_the_same_instant(
    capsys: pytest.CaptureFixture[str], two_alerts: Path
) -> None:
    code, summary = cli_json(capsys, "tick", two_alerts, "--now", "2026-11-27T11:00:00+01:00")
    assert (code, summary["now"]) == (0, NOW)
    assert {run["slot"] for run in summary["runs"]} == {NOW}


# --- email end to end -------------------------------------------------------------------------


def test_a_tick_mails_a_firing_alert_and_records_the_delivery(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    smtp_server: Callable[..., Server],
    state_url: str,
) -> None:
    server = smtp_server()
    mailed = "notify: [{channel: email, recipients: [oncall@example.com]}]"
    config = write_config(
        f"""
database: "sqlite:///{sample_db}"
notifications:
  email: {{smtp_host: 127.0.0.1, smtp_port: {server.port}, security: none,
           from_address: alerts@example.com, timeout: 5s}}
alerts:
{alert("firing", FIRING, "0 * * * *", mailed)}
"""
    )
    code, summary = cli_json(capsys, "tick", config, "--now", NOW, "--state-url", state_url)
    assert (code, summary["notified"]) == (0, 1)
    (message,) = server.mailbox.messages
    assert "firing" in message["Subject"]
    code, history = cli_json(capsys, "history", config, "--state-url", state_url)
    assert history[0]["notifications"] == [
        {"channel": "email", "kind": "FIRING", "ok": True, "attempts": 1, "error": None}
    ]
    # an hour later it still fires, and the default cooldown (1h) is over: a REPEAT
    code, summary = cli_json(
        capsys, "tick", config, "--now", "2026-11-27T11:00:00Z", "--state-url", state_url
    )
    assert (code, summary["notified"]) == (0, 1)
    assert summary["runs"][0]["notifications"][0]["kind"] == "REPEAT"


# --- text output is safe for a terminal -------------------------------------------------------


def test_errors_quoting_data_are_printed_without_terminal_control_characters(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    # a database error quotes what it could not use: here a table name with an escape in it
    config = write_config(
        config_text(sample_db, alert("weird", '"SELECT status FROM \\"x\\e[31mred\\""'))
    )
    escaped = "no such table: x\\x1b[31mred"
    outputs = []
    for argv in (
        ["tick", config, "--now", NOW],
        ["run", config],
        ["execute", config, "weird"],
        ["history", config],
    ):
        code, out, err = cli(capsys, *argv)
        assert code == (0 if argv[0] == "history" else 1)
        outputs.append(out + err)
    for text in outputs:
        assert "\x1b" not in text
        assert escaped in text

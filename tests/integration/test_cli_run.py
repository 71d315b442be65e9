"""``sqlsentinel run`` (every enabled alert, by hand), ``run --watch`` and ``execute``.

Runs by hand go through the tick's decide/notify/record path and are recorded as MANUAL with
no slot. ``--watch`` is tested in-process with a fake clock and a fake wait (no time passes),
and once as a real process that stops cleanly on a signal.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from sqlsentinel.cli import build_parser
from sqlsentinel.commands.scheduling import watch_loop
from tests.support.cli import (
    BROKEN,
    FIRING,
    HISTORY_KEYS,
    QUIET,
    alert,
    cli,
    cli_json,
    config_text,
    drop_secret_named_variables,
    rows,
    webhook,
)
from tests.support.smtp import free_port

WriteConfig = Callable[..., Path]
SCRIPT = Path(sys.executable).with_name("sqlsentinel")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    drop_secret_named_variables(monkeypatch)
    monkeypatch.delenv("SQLSENTINEL_STATE_URL", raising=False)
    monkeypatch.setenv("SQLSENTINEL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def three_alerts(write_config: WriteConfig, sample_db: Path) -> Path:
    """One that fires, one that does not, and a disabled one."""
    return write_config(
        config_text(
            sample_db,
            alert("firing", FIRING),
            alert("quiet", QUIET),
            alert("switched_off", FIRING, "0 * * * *", "enabled: false"),
        )
    )


# --- run --------------------------------------------------------------------------------------


def test_run_runs_every_enabled_alert_by_hand_and_records_each(
    capsys: pytest.CaptureFixture[str], three_alerts: Path, state_url: str
) -> None:
    code, out, err = cli(capsys, "run", three_alerts, "--state-url", state_url)
    assert (code, err) == (0, "")
    head, *lines = out.splitlines()
    assert head.startswith("ran 2 alerts at ")
    assert sorted(lines) == ["  firing  ALERT    3 / 1  firing", "  quiet   OK       0 / 1  ok"]
    code, history = cli_json(capsys, "history", three_alerts, "--state-url", state_url)
    assert sorted((run["alert"], run["triggered_by"], run["slot"]) for run in history) == [
        ("firing", "MANUAL", None),
        ("quiet", "MANUAL", None),
    ]


def test_run_as_json_lists_every_run(
    capsys: pytest.CaptureFixture[str], three_alerts: Path
) -> None:
    before = datetime.now(UTC)
    code, result = cli_json(capsys, "run", three_alerts)
    assert code == 0
    assert set(result) == {"now", "runs"}
    assert before <= datetime.fromisoformat(result["now"]) <= datetime.now(UTC)
    runs = {run["alert"]: run for run in result["runs"]}
    assert set(runs) == {"firing", "quiet"}
    for run in runs.values():
        assert set(run) == HISTORY_KEYS | {"decision", "coalesced"}
        assert (run["triggered_by"], run["slot"], run["started_at"]) == (
            "MANUAL", None, result["now"],
        )  # fmt: skip
    assert (runs["firing"]["status"], runs["firing"]["decision"]) == ("ALERT", "firing")


def test_run_exits_1_when_a_query_fails(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("broken", BROKEN), alert("quiet", QUIET)))
    code, out, _ = cli(capsys, "run", config)
    assert code == 1
    assert "  broken  ERROR    no such table: no_such_table" in out


def test_run_exits_1_when_a_notification_is_not_delivered(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=400)
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "0 * * * *", hook)))
    code, out, _ = cli(capsys, "run", config)
    assert code == 1
    assert "-> webhook FIRING FAILED" in out


def test_run_dry_run_sends_and_records_nothing(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    state_url: str,
) -> None:
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "0 * * * *", hook)))
    code, result = cli_json(capsys, "run", config, "--dry-run", "--state-url", state_url)
    assert code == 0
    (run,) = result["runs"]
    assert run["decision"] == "dry run: firing; would send FIRING via webhook"
    assert httpserver.log == []
    assert (rows(state_url, "executions"), rows(state_url, "state")) == (0, 0)


def test_run_on_an_unreachable_state_database_exits_3_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "0 * * * *", hook)))
    url = f"mysql+pymysql://root:S3cret@127.0.0.1:{free_port()}/test"
    code, out, err = cli(capsys, "run", config, "--state-url", url)
    assert (code, out, err.count("\n")) == (3, "", 1)
    assert "S3cret" not in err
    assert httpserver.log == []


# --- run --watch ------------------------------------------------------------------------------


class FakeTime:
    """A clock and a wait for :func:`watch_loop`: waiting moves the clock, nothing sleeps.

    ``stop_after`` waits (counting from 1), the wait sets ``stop`` and reports it, as
    ``Event.wait`` does when woken by a signal.
    """

    def __init__(self, start: datetime, stop: threading.Event, *, stop_after: int) -> None:
        self.now, self.stop, self.stop_after = start, stop, stop_after
        self.waits: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if len(self.waits) >= self.stop_after:
            self.stop.set()
            return True
        self.now += timedelta(seconds=seconds, milliseconds=250)  # the tick takes 250 ms
        return False


def _watch(config: Path, *extra: str, start: datetime, stop_after: int) -> FakeTime:
    args = build_parser().parse_args(["run", str(config), "--watch", *extra])
    stop = threading.Event()
    fake = FakeTime(start, stop, stop_after=stop_after)
    assert watch_loop(args, stop, clock=fake.clock, wait=fake.wait) == 0
    return fake


def test_watch_ticks_at_each_minute_boundary_until_stopped(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path, state_url: str
) -> None:
    config = write_config(config_text(sample_db, alert("minutely", QUIET, "* * * * *")))
    start = datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)
    fake = _watch(config, "--state-url", state_url, "--format", "json", start=start, stop_after=3)
    assert fake.waits == [30.0, 59.75, 59.75]  # to 10:01, then from 10:01:00.25 to 10:02...
    out = capsys.readouterr().out
    summaries = [json.loads(part) for part in out.replace("}\n{", "}\0{").split("\0")]
    assert [s["now"] for s in summaries] == ["2026-11-27T10:01:00Z", "2026-11-27T10:02:00Z"]
    _, history = cli_json(capsys, "history", config, "--state-url", state_url)
    assert [(run["slot"], run["triggered_by"]) for run in history] == [
        ("2026-11-27T10:02:00Z", "CRON"),
        ("2026-11-27T10:01:00Z", "CRON"),
    ]


def test_watch_stopped_before_the_first_boundary_runs_nothing(
    capsys: pytest.CaptureFixture[str], write_config: WriteConfig, sample_db: Path
) -> None:
    config = write_config(config_text(sample_db, alert("minutely", QUIET, "* * * * *")))
    start = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    fake = _watch(config, start=start, stop_after=1)
    assert fake.waits == [60.0]
    assert capsys.readouterr().out == ""
    assert not (config.parent / "sqlsentinel_state.db").exists()


def test_watch_logs_a_failed_tick_and_keeps_going(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    write_config: WriteConfig,
    sample_db: Path,
) -> None:
    config = write_config(config_text(sample_db, alert("minutely", QUIET, "* * * * *")))
    closed = f"mysql+pymysql://root@127.0.0.1:{free_port()}/test"
    start = datetime(2026, 11, 27, 10, 0, 59, tzinfo=UTC)
    fake = _watch(config, "--state-url", closed, start=start, stop_after=3)
    assert len(fake.waits) == 3  # two ticks failed, and the loop still waited for a third
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert [message.partition(": ")[0] for message in failures] == [
        "the tick at 2026-11-27T10:01:00+00:00 failed",
        "the tick at 2026-11-27T10:02:00+00:00 failed",
    ]
    assert "could not open" in failures[0]


def _read_until(process: subprocess.Popen[str], wanted: str, seconds: float) -> str:
    """Return stderr up to the line containing ``wanted``; fail after ``seconds``."""
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while wanted not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} in {seconds:g} s; stderr so far: {seen!r}"
            if selector.select(timeout=left):
                line = process.stderr.readline()
                assert line, f"the process ended: {seen!r}"
                seen += line
    return seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_watch_as_a_process_stops_cleanly_on_a_signal(
    write_config: WriteConfig, sample_db: Path, sig: signal.Signals
) -> None:
    config = write_config(config_text(sample_db, alert("hourly", QUIET)))
    process = subprocess.Popen(
        [str(SCRIPT), "run", str(config), "--watch", "--log-level", "info"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _read_until(process, "watching", seconds=30)
        process.send_signal(sig)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f"received {sig.name}: finishing the current tick, then stopping" in err
    assert "Traceback" not in err


# --- execute ----------------------------------------------------------------------------------


def test_execute_records_a_manual_run(
    capsys: pytest.CaptureFixture[str], three_alerts: Path, state_url: str
) -> None:
    code, out, _ = cli(capsys, "execute", three_alerts, "firing", "--state-url", state_url)
    assert code == 0
    assert "decision   firing" in out.splitlines()
    code, history = cli_json(capsys, "history", three_alerts, "--state-url", state_url)
    (run,) = history
    assert (run["alert"], run["triggered_by"], run["slot"], run["status"]) == (
        "firing", "MANUAL", None, "ALERT",
    )  # fmt: skip


def test_execute_twice_within_the_cooldown_sends_once_and_says_why_not(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
    state_url: str,
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "0 * * * *", hook)))
    code, first = cli_json(capsys, "execute", config, "firing", "--state-url", state_url)
    assert (code, first["decision"], first["notification"]) == (0, "firing", "FIRING")
    code, out, _ = cli(capsys, "execute", config, "firing", "--state-url", state_url)
    assert code == 0
    decision = next(line for line in out.splitlines() if line.startswith("decision"))
    assert decision.startswith("decision   within cooldown until ")
    assert "notify     nothing" in out.splitlines()
    assert len(httpserver.log) == 1
    assert rows(state_url, "executions") == 2


def test_execute_dry_run_records_nothing(
    capsys: pytest.CaptureFixture[str], three_alerts: Path, state_url: str
) -> None:
    code, out, _ = cli(
        capsys, "execute", three_alerts, "firing", "--dry-run", "--state-url", state_url
    )
    assert code == 0
    assert out.splitlines()[-1] == "dry run    nothing was sent and nothing was recorded"
    assert (rows(state_url, "executions"), rows(state_url, "state")) == (0, 0)
    code, out, _ = cli(capsys, "history", three_alerts, "--state-url", state_url)
    assert (code, out) == (0, "no runs recorded yet\n")


def test_execute_on_an_unreachable_state_database_exits_3_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    write_config: WriteConfig,
    sample_db: Path,
    httpserver: HTTPServer,
) -> None:
    hook = webhook(httpserver.url_for("/hook"))
    config = write_config(config_text(sample_db, alert("firing", FIRING, "0 * * * *", hook)))
    url = "postgresql://nosuchuser:S3cret@127.0.0.1:5432/test"
    code, out, err = cli(capsys, "execute", config, "firing", "--state-url", url)
    assert (code, out, err.count("\n")) == (3, "", 1)
    assert "S3cret" not in err
    assert httpserver.log == []

"""The fast path: "nothing is due" answered from a cache, without loading the config.

Every answer is checked against :func:`sqlsentinel.scheduler.due.in_grace` on the loaded
config, which is what the full tick would decide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sqlsentinel.config import Alert, load_config
from sqlsentinel.scheduler import fastpath
from sqlsentinel.scheduler.due import in_grace
from sqlsentinel.scheduler.fastpath import cache_dirs, fingerprint, nothing_due, remember

DAILY = """\
database: {url: "sqlite:///data.db"}
alerts:
  - name: morning
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
"""

MIXED = """\
database: {url: "sqlite:///data.db"}
alerts:
  - name: quarter
    query: SELECT 'OK' AS status
    schedule: "*/15 * * * *"
    misfire_grace: 2m
  - name: berlin_0230
    query: SELECT 'OK' AS status
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
  - name: hourly_berlin
    query: SELECT 'OK' AS status
    schedule: "0 * * * *"
    timezone: Europe/Berlin
    misfire_grace: 90s
  - name: new_york_weekdays
    query: SELECT 'OK' AS status
    schedule: "45 6 * * 1-5"
    timezone: America/New_York
    misfire_grace: 1h
  - name: switched_off
    query: SELECT 'OK' AS status
    schedule: "* * * * *"
    enabled: false
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"SQLSENTINEL_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the temp-dir fallback inside this test's directory."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))


Write = Callable[[str], Path]


@pytest.fixture
def config(tmp_path: Path) -> Write:
    def write(text: str) -> Path:
        path = tmp_path / "alerts.yaml"
        path.write_text(text)
        return path

    return write


def learn(path: Path, environ: dict[str, str], now: datetime) -> Sequence[Alert]:
    """Do what a full tick does with the cache: load the config, then remember it."""
    alerts = load_config(path, environ=environ).alerts
    remember(path, environ, alerts, now, key=fingerprint(path, environ))
    return alerts


def cache_file(environ: dict[str, str]) -> Path:
    (found,) = Path(environ["SQLSENTINEL_CACHE_DIR"]).glob("tick-*.jsonl")
    return found


# --- answers --------------------------------------------------------------------------------


def test_without_a_cache_it_cannot_answer(config: Write, environ: dict[str, str]) -> None:
    assert nothing_due(config(DAILY), environ, utc("2026-05-01T12:00")) is None


def test_an_unreadable_config_is_left_to_the_full_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert nothing_due(missing, {}, utc("2026-05-01T12:00")) is None
    remember(missing, {}, [], utc("2026-05-01T12:00"))  # does not raise


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-05-01T09:00:10", False),  # the slot that was just run: still in its grace
        ("2026-05-01T09:05:00", False),  # the grace is inclusive
        ("2026-05-01T09:05:00.000001", True),
        ("2026-05-01T23:59:59", True),
        ("2026-05-02T08:59:59.999999", True),
        ("2026-05-02T09:00:00", False),  # the next slot
        ("2026-05-02T09:04:59", False),
        ("2026-05-02T09:05:01", True),  # a later window, computed when needed
        ("2026-04-30T12:00:00", True),  # an earlier --now: before the window
        ("2026-04-30T09:03:00", False),
    ],
)
def test_after_a_full_tick_it_answers_inside_and_outside_the_window(
    config: Write, environ: dict[str, str], now: str, expected: bool
) -> None:
    path = config(DAILY)
    alerts = learn(path, environ, utc("2026-05-01T09:00:10"))
    assert nothing_due(path, environ, utc(now)) is expected
    assert expected is not bool(in_grace(alerts, utc(now)))


def test_it_agrees_with_the_full_due_check_every_minute_across_both_dst_changes(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(MIXED)
    for start in (utc("2026-03-28T18:00"), utc("2026-10-24T18:00")):
        alerts = learn(path, environ, start)
        now = start + timedelta(seconds=20)
        while now < start + timedelta(hours=36):
            assert nothing_due(path, environ, now) is not bool(in_grace(alerts, now)), now
            now += timedelta(minutes=1, seconds=1)


def test_a_window_left_behind_is_recomputed_and_stored(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(DAILY)
    learn(path, environ, utc("2026-05-01T09:00:10"))
    assert nothing_due(path, environ, utc("2026-05-03T12:00")) is True
    header = json.loads(cache_file(environ).read_text().splitlines()[0])
    assert header["quiet_until"] == (utc("2026-05-04T09:00") - utc("1970-01-01T00:00")) // (
        timedelta(microseconds=1)
    )


def test_a_config_without_enabled_alerts_never_has_anything_due(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(
        'database: {url: "sqlite:///data.db"}\nalerts:\n  - name: paused\n    query: SELECT 1\n'
        '    schedule: "* * * * *"\n    enabled: false\n'
    )
    learn(path, environ, utc("2026-05-01T12:00"))
    assert nothing_due(path, environ, utc("2026-05-01T12:00")) is True


def test_remember_keeps_only_enabled_alerts(config: Write, environ: dict[str, str]) -> None:
    learn(config(MIXED), environ, utc("2026-05-01T12:00"))
    entries = json.loads(cache_file(environ).read_text().splitlines()[1])
    names = [entry[0] for entry in entries]
    assert names == ["quarter", "berlin_0230", "hourly_berlin", "new_york_weekdays"]


def test_an_aware_now_is_required(config: Write, environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        nothing_due(config(DAILY), environ, datetime(2026, 5, 1, 12))


# --- the key --------------------------------------------------------------------------------


def test_an_edited_config_is_not_answered_from_the_old_cache(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(DAILY)
    learn(path, environ, utc("2026-05-01T09:00:10"))
    config(DAILY.replace("0 9 * * *", "0 12 * * *"))
    assert nothing_due(path, environ, utc("2026-05-01T12:01")) is None


def test_a_changed_referenced_variable_invalidates_the_cache_and_others_do_not(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(DAILY.replace('"0 9 * * *"', '"${SCHEDULE:-0 9 * * *}"'))
    learn(path, environ, utc("2026-05-01T09:00:10"))
    now = utc("2026-05-01T12:00:30")
    assert nothing_due(path, environ | {"UNRELATED": "x"}, now) is True
    assert nothing_due(path, environ | {"SCHEDULE": "0 12 * * *"}, now) is None
    assert nothing_due(path, environ | {"SCHEDULE": ""}, now) is None  # set but empty differs


def test_a_reference_spelled_with_a_yaml_escape_keys_on_the_whole_environment(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(DAILY.replace('"0 9 * * *"', '"\\x24{SCHEDULE:-0 9 * * *}"'))
    learn(path, environ, utc("2026-05-01T09:00:10"))
    now = utc("2026-05-01T12:00:30")
    assert nothing_due(path, environ, now) is True
    assert nothing_due(path, environ | {"SCHEDULE": "0 12 * * *"}, now) is None


def test_the_key_holds_no_secret_values(config: Write, environ: dict[str, str]) -> None:
    path = config(DAILY + '    labels: {token: "${TOKEN}"}\n')
    learn(path, environ | {"TOKEN": "hunter2-secret"}, utc("2026-05-01T09:00:10"))
    assert "hunter2" not in cache_file(environ).read_text()


# --- a cache that cannot be trusted or written ----------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "garbage\n" + text,
        lambda text: text[: len(text) // 2],
        lambda text: "\n".join(text.splitlines()[:-1]) + "\n",  # a torn write
        lambda text: (  # valid JSON, but one alert fewer than the header says
            f"{text.splitlines()[0]}\n{json.dumps(json.loads(text.splitlines()[1])[:-1])}\n"
        ),
        lambda text: text.replace('"format":1', '"format":99'),
        lambda text: text.replace("[", "{", 1),
        lambda text: "",
        lambda text: "\x00\xff" * 10,
    ],
    ids=["garbage", "half", "torn", "alert-lost", "other-format", "bad-entry", "empty", "binary"],
)
def test_a_corrupt_cache_is_ignored(
    config: Write, environ: dict[str, str], damage: Callable[[str], str]
) -> None:
    path = config(MIXED)
    alerts = learn(path, environ, utc("2026-05-01T12:00"))
    file = cache_file(environ)
    file.write_text(damage(file.read_text()), errors="surrogateescape")
    for now in (utc("2026-05-01T12:20"), utc("2026-05-01T13:40"), utc("2026-05-01T13:50")):
        answer = nothing_due(path, environ, now)
        assert answer is None or answer is not bool(in_grace(alerts, now))


def test_an_unwritable_cache_falls_back_to_the_temp_dir(config: Write, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    environ = {"SQLSENTINEL_CACHE_DIR": str(blocker / "cache")}
    path = config(DAILY)
    learn(path, environ, utc("2026-05-01T09:00:10"))
    assert nothing_due(path, environ, utc("2026-05-01T12:00")) is True
    assert list((tmp_path / "temp").glob("sqlsentinel-*/tick-*.jsonl"))


def test_when_nothing_can_be_written_the_tick_just_takes_the_slow_path(
    config: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr("tempfile.tempdir", str(blocker))
    environ = {"SQLSENTINEL_CACHE_DIR": str(blocker / "cache")}
    path = config(DAILY)
    learn(path, environ, utc("2026-05-01T09:00:10"))  # does not raise
    assert nothing_due(path, environ, utc("2026-05-01T12:00")) is None


def test_a_cache_file_owned_by_another_user_is_not_trusted(
    config: Write, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(DAILY)
    learn(path, environ, utc("2026-05-01T09:00:10"))
    monkeypatch.setattr(os, "getuid", lambda: 4242, raising=False)
    assert nothing_due(path, environ, utc("2026-05-01T12:00")) is None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_the_cache_is_private_and_written_without_leftovers(
    config: Write, environ: dict[str, str]
) -> None:
    learn(config(DAILY), environ, utc("2026-05-01T09:00:10"))
    learn(config(MIXED), environ, utc("2026-05-01T09:00:10"))
    directory = Path(environ["SQLSENTINEL_CACHE_DIR"])
    assert [file.name.endswith(".jsonl") for file in directory.iterdir()] == [True]
    assert cache_file(environ).stat().st_mode & 0o077 == 0
    assert directory.stat().st_mode & 0o077 == 0


def test_the_cache_directory_follows_the_environment() -> None:
    temp = cache_dirs({})[-1]
    assert cache_dirs({"SQLSENTINEL_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"})[0] == "/c"
    assert cache_dirs({"XDG_CACHE_HOME": "/x", "HOME": "/h"})[0] == "/x/sqlsentinel"
    assert cache_dirs({"XDG_CACHE_HOME": "relative", "HOME": "/h"})[0] == "/h/.cache/sqlsentinel"
    assert cache_dirs({"HOME": "/h"}) == ["/h/.cache/sqlsentinel", temp]
    assert os.path.basename(temp).startswith("sqlsentinel-")


# --- cold start -----------------------------------------------------------------------------


def test_a_cache_hit_imports_neither_sqlalchemy_pydantic_nor_croniter(
    config: Write, environ: dict[str, str]
) -> None:
    path = config(MIXED)
    learn(path, environ, utc("2026-05-01T12:03"))
    code = (
        "import json, os, sys\n"
        "from datetime import datetime, UTC\n"
        "from sqlsentinel.scheduler.fastpath import nothing_due\n"
        f"answers = [nothing_due({str(path)!r}, json.loads(sys.argv[1]), "
        "datetime.fromisoformat(now)) for now in sys.argv[2:]]\n"
        "heavy = ['sqlalchemy', 'pydantic', 'croniter', 'dateutil', 'yaml']\n"
        "print(json.dumps([answers, [m for m in heavy if m in sys.modules]]))\n"
    )
    instants = ["2026-05-01T12:06:00+00:00", "2026-05-01T12:01:30+00:00"]  # quiet, then not
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(environ), *instants],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(completed.stdout) == [[True, False], []]


def test_the_cache_format_is_what_the_module_says(config: Write, environ: dict[str, str]) -> None:
    learn(config(DAILY), environ, utc("2026-05-01T09:00:10"))
    header, body = cache_file(environ).read_text().splitlines()
    entries = json.loads(body)
    assert set(json.loads(header)) == {
        "format", "version", "key", "count", "quiet_after", "quiet_until"
    }  # fmt: skip
    assert entries[0][:4] == ["morning", "0 9 * * *", "UTC", 300_000_000]
    assert json.loads(header)["format"] == fastpath.FORMAT

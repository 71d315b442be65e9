"""Catch-up, missed slots, replays and daylight saving, through ``sqlsentinel tick --now``.

The pure due computation is tested in tests/unit/test_due.py; here the whole command runs
(fast path, config, SQLite state store, history) at chosen instants, in-process through
:func:`sqlsentinel.cli.main` so that a few hundred ticks stay quick. One store (SQLite): the
claims are the same code on every store, and are tested on each in test_tick_exactly_once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sqlsentinel.cli import main

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


class Ticker:
    """Run ``sqlsentinel tick`` and ``history`` on one config and SQLite state file."""

    def __init__(self, config: Path, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.state, self.capsys = config, state, capsys

    def _cli(self, *argv: str) -> Any:
        self.capsys.readouterr()
        code = main([*argv, str(self.config), "--state-url", f"sqlite:///{self.state}"])
        out, err = self.capsys.readouterr()
        assert code == 0, err
        assert "Traceback" not in err, err
        return json.loads(out)

    def tick(self, now: datetime) -> dict[str, Any]:
        summary: dict[str, Any] = self._cli("tick", "--now", iso(now), "--format", "json")
        return summary

    def history(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self._cli("history", "--format", "json", "--limit", "1000")
        return runs

    def rows(self) -> list[tuple[str, str, int, str, int]]:
        """Return (alert, slot, attempt, status, coalesced) of every history row, oldest first."""
        with sqlite3.connect(self.state) as conn:
            rows = conn.execute(
                "SELECT alert, slot, attempt, status, coalesced FROM sqlsentinel_executions "
                "ORDER BY id"
            ).fetchall()
        return [(a, _slot_text(s), n, st, c) for a, s, n, st, c in rows]


def _slot_text(stored: str) -> str:
    """Return a stored naive-UTC slot as ``2026-11-27T10:00:00Z``."""
    return iso(datetime.fromisoformat(stored).replace(tzinfo=UTC))


@pytest.fixture
def ticker_for(
    write_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], Ticker]:
    """Return a function that writes a config of the given alerts and returns its Ticker."""
    monkeypatch.setenv("SQLSENTINEL_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "data.db"
    sqlite3.connect(data).close()

    def make(alerts: str) -> Ticker:
        config = write_config(f'database:\n  url: "sqlite:///{data}"\nalerts:\n{alerts}')
        return Ticker(config, tmp_path / "state.db", capsys)

    return make


def alert(name: str, schedule: str, timezone: str = "UTC") -> str:
    return (
        f"  - name: {name}\n"
        "    query: SELECT 'OK' AS status\n"
        f'    schedule: "{schedule}"\n'
        f"    timezone: {timezone}\n"
    )


def test_ticks_ten_minutes_apart_run_the_latest_slot_once_counting_nine_coalesced(
    ticker_for: Callable[[str], Ticker],
) -> None:
    ticker = ticker_for(alert("every_minute", "* * * * *"))

    first = ticker.tick(T0)
    later = ticker.tick(T0 + timedelta(minutes=10))
    same_slot = ticker.tick(T0 + timedelta(minutes=10, seconds=40))

    assert [(r["slot"], r["coalesced"]) for r in first["runs"]] == [("2026-11-27T10:00:00Z", 0)]
    assert [(r["slot"], r["coalesced"]) for r in later["runs"]] == [("2026-11-27T10:10:00Z", 9)]
    assert (same_slot["claimed"], same_slot["runs"]) == (0, [])
    assert ticker.rows() == [
        ("every_minute", "2026-11-27T10:00:00Z", 1, "OK", 0),
        ("every_minute", "2026-11-27T10:10:00Z", 1, "OK", 9),
    ]
    assert [(r["slot"], r["status"]) for r in ticker.history()] == [
        ("2026-11-27T10:10:00Z", "OK"),
        ("2026-11-27T10:00:00Z", "OK"),
    ]


def test_a_daily_slot_older_than_its_grace_is_recorded_as_missed_not_run(
    ticker_for: Callable[[str], Ticker],
) -> None:
    # the minutely alert makes the later tick open the state database: with the daily one
    # alone, the fast path would stop first (the next test)
    ticker = ticker_for(alert("daily", "0 9 * * *") + alert("heartbeat", "* * * * *"))
    day1 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    ticker.tick(day1)
    late = ticker.tick(day1 + timedelta(days=1, minutes=10))  # grace is 5 minutes
    next_day = ticker.tick(day1 + timedelta(days=2))

    assert late["missed"] == 1
    assert [r["alert"] for r in late["runs"]] == ["heartbeat"]
    assert sorted((r["alert"], r["slot"], r["coalesced"]) for r in next_day["runs"]) == [
        ("daily", "2026-11-29T09:00:00Z", 0),  # the missed slot is not coalesced again
        ("heartbeat", "2026-11-29T09:00:00Z", 1429),  # the minutes since the late tick
    ]
    daily = [row for row in ticker.rows() if row[0] == "daily"]
    assert daily == [
        ("daily", "2026-11-27T09:00:00Z", 1, "OK", 0),
        ("daily", "2026-11-28T09:00:00Z", 1, "MISSED", 0),
        ("daily", "2026-11-29T09:00:00Z", 1, "OK", 0),
    ]
    history = [(r["slot"], r["status"]) for r in ticker.history() if r["alert"] == "daily"]
    assert ("2026-11-28T09:00:00Z", "MISSED") in history


def test_a_slot_that_left_its_grace_unseen_is_counted_coalesced_by_the_next_run(
    ticker_for: Callable[[str], Ticker],
) -> None:
    """The fast path never opens the state database, so it records no MISSED row (documented
    in scheduler/fastpath.py); the slot is not lost: the next run counts it."""
    ticker = ticker_for(alert("daily", "0 9 * * *"))
    day1 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    ticker.tick(day1)
    quiet = ticker.tick(day1 + timedelta(days=1, minutes=10))
    run = ticker.tick(day1 + timedelta(days=2))

    assert quiet["fast_path"] is True
    assert [(r["slot"], r["coalesced"]) for r in run["runs"]] == [("2026-11-29T09:00:00Z", 1)]
    assert ticker.rows() == [
        ("daily", "2026-11-27T09:00:00Z", 1, "OK", 0),
        ("daily", "2026-11-29T09:00:00Z", 1, "OK", 1),
    ]


def test_a_tick_with_an_earlier_now_than_the_last_never_reruns_a_slot(
    ticker_for: Callable[[str], Ticker],
) -> None:
    ticker = ticker_for(alert("every_minute", "* * * * *") + alert("hourly", "0 * * * *"))
    ticker.tick(T0)
    ticker.tick(T0 + timedelta(minutes=5))
    recorded = ticker.rows()
    assert len(recorded) == 3  # hourly at 10:00, every_minute at 10:00 and 10:05

    for earlier in (T0 + timedelta(minutes=4, seconds=59), T0 + timedelta(minutes=3), T0):
        replay = ticker.tick(earlier)
        assert (replay["claimed"], replay["ran"], replay["runs"]) == (0, 0, []), iso(earlier)
    assert ticker.rows() == recorded


# --- daylight saving, Europe/Berlin, 2026 ------------------------------------------------------
#
# Spring, 2026-03-29: at 02:00 CET (01:00Z) clocks go to 03:00 CEST. The daily 02:30 does not
# exist that day and runs at the first valid time after the gap, 03:00 CEST = 01:00Z; the
# hourly schedule follows real time: 00:00Z, 01:00Z, 02:00Z (no run "in" the skipped hour).
# Autumn, 2026-10-25: at 03:00 CEST (01:00Z) clocks go back to 02:00 CET. The daily 02:30
# runs at the first 02:30 only (00:30Z); the hourly one runs in both passes of the repeated
# hour: 00:00Z (02:00 CEST), 01:00Z (02:00 CET), 02:00Z (03:00 CET).
DST_CASES = {
    "spring": (
        datetime(2026, 3, 28, 23, 50, tzinfo=UTC),
        {
            "daily_0230": ["2026-03-29T01:00:00Z"],
            "hourly": ["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"],
        },
    ),
    "autumn": (
        datetime(2026, 10, 24, 23, 50, tzinfo=UTC),
        {
            "daily_0230": ["2026-10-25T00:30:00Z"],
            "hourly": ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"],
        },
    ),
}


@pytest.mark.parametrize("transition", DST_CASES)
def test_berlin_daily_and_hourly_schedules_run_the_documented_slots_across_dst(
    ticker_for: Callable[[str], Ticker], transition: str
) -> None:
    start, expected = DST_CASES[transition]
    ticker = ticker_for(
        alert("daily_0230", "30 2 * * *", "Europe/Berlin")
        + alert("hourly", "0 * * * *", "Europe/Berlin")
    )

    ran: dict[str, list[str]] = {"daily_0230": [], "hourly": []}
    minutes = 141  # 23:50Z through 02:10Z: the whole transition hour and either side
    for minute in range(minutes):
        summary = ticker.tick(start + timedelta(minutes=minute))
        assert summary["missed"] == 0
        for run in summary["runs"]:
            ran[run["alert"]].append(run["slot"])

    assert ran == expected
    rows = ticker.rows()
    assert sorted((a, s) for a, s, *_ in rows) == sorted(
        (name, slot) for name, slots in expected.items() for slot in slots
    )
    assert {(attempt, status, coalesced) for _, _, attempt, status, coalesced in rows} == {
        (1, "OK", 0)
    }


@pytest.mark.parametrize(
    ("last", "now", "coalesced"),
    [
        # 01:00 CEST → 03:00 CET: 02:00 CEST and 02:00 CET lie between (both passes)
        ("2026-10-24T23:00:00Z", "2026-10-25T02:00:00Z", 2),
        # 01:00 CET → 04:00 CEST: only 03:00 CEST (01:00Z) lies between; 02:00 never was
        ("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z", 1),
    ],
)
def test_a_catch_up_across_a_dst_change_counts_the_hourly_slots_in_real_time(
    ticker_for: Callable[[str], Ticker], last: str, now: str, coalesced: int
) -> None:
    ticker = ticker_for(alert("hourly", "0 * * * *", "Europe/Berlin"))
    ticker.tick(datetime.fromisoformat(last))
    summary = ticker.tick(datetime.fromisoformat(now))
    assert [(r["slot"], r["coalesced"]) for r in summary["runs"]] == [(now, coalesced)]

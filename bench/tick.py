"""Measure the tick against the goals of issue 4, in one run: ratios, rates and counts.

This machine is shared and noisy, so every figure is either a ratio of commands timed in the
same run (interleaved, round by round, median), or a count, or a rate checked against a goal
with the conditions printed next to it:

(a) a nothing-due tick on 100 alerts vs ``python -c "import sqlalchemy"`` (goal ratio <= 0.9,
    warm fast-path cache); the cold-cache tick is reported too.
(b) 200 due alerts of ``pg_sleep(0.05)`` on PostgreSQL with ``--workers 16``: parallel
    efficiency = (200 x 0.05 s / 16) / tick time, excluding process start (goal >= 0.7).
(c) storm: 5,000 no-op alerts due at once, 4 tick processes started together, state on
    PostgreSQL: executions per second in total (goal >= 1,000/s), each (alert, slot) once.
(d) 10,000 configured alerts, none due: wall time (goal <= 1.5 s) and peak RSS (goal
    <= 200 MB), with a warm fast-path cache and with a cold one.
(e) state-database round trips per executed alert, counted with SQLAlchemy events on the
    state engine (goal <= 3), and the protocol round trips libpq really made.

    python bench/tick.py [--only abcde] [--rounds 10] [--storm-rounds 3] [--pg URL]

The state lives in a PostgreSQL database created for this run (``bench_sqlsentinel_<pid>``,
on the server of ``--pg``, default ``$SQLSENTINEL_TEST_POSTGRES_URL``) and dropped at the
end, so tests running at the same time are not disturbed. Each tick's fast-path cache is in
a temporary directory (``SQLSENTINEL_CACHE_DIR``). Results go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PYTHON = sys.executable
SQLSENTINEL = [PYTHON, "-m", "sqlsentinel"]
BASELINE = [PYTHON, "-c", "import sqlalchemy"]
DEFAULT_PG = os.environ.get(
    "SQLSENTINEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOOP_QUERY = "SELECT 'OK' AS status"
SLEEP_SECONDS = 0.05
# pg_sleep() returns void, and `void IS NULL` is false in PostgreSQL, so the form
# `CASE WHEN pg_sleep(0.05) IS NULL THEN 'OK' END` yields a NULL status (every run an
# ERROR). Sleeping in FROM returns the one OK row the contract asks for.
SLEEP_QUERY = f"SELECT 'OK' AS status FROM pg_sleep({SLEEP_SECONDS})"
# The "quiet" schedules (hourly at minutes 0-19, daily at 00:00-11:59 UTC) have no slot
# within their 5-minute grace at 23:30 UTC: nothing is due then.
QUIET_NOW = "2026-11-27T23:30:00+00:00"
STORM_PROCESSES = 4


def load() -> str:
    """The 1, 5 and 15-minute load averages: other work on this shared machine."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def slot_text(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def minutes(start: datetime) -> Iterator[datetime]:
    """Yield start, start + 1 min, ...: a fresh slot of a `* * * * *` alert for each tick."""
    slot = start
    while True:
        yield slot
        slot += timedelta(minutes=1)


# --- configs and processes ------------------------------------------------------------------


def write_config(
    path: Path, alerts: Sequence[dict[str, str]], *, url: str, max_connections: int = 0
) -> Path:
    """Write a config in the block style people write (JSON strings are YAML scalars)."""
    lines = ["database:", f"  url: {json.dumps(url)}"]
    if max_connections:
        lines.append(f"  max_connections: {max_connections}")
    lines.append("alerts:")
    for alert in alerts:
        first = True
        for key, value in alert.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {json.dumps(value)}")
            first = False
    path.write_text("\n".join(lines) + "\n")
    return path


def quiet_alerts(count: int) -> list[dict[str, str]]:
    """Alerts of which none is due at QUIET_NOW: half hourly, half daily, 740 schedules."""
    alerts = []
    for i in range(count):
        hourly, daily = f"{i % 20} * * * *", f"{(i // 2) % 60} {(i // 120) % 12} * * *"
        schedule = hourly if i % 2 else daily
        alerts.append(
            {
                "name": f"quiet_{i:05d}",
                "description": f"benchmark alert {i}",
                "query": NOOP_QUERY,
                "schedule": schedule,
            }
        )
    return alerts


def due_alerts(prefix: str, count: int, query: str) -> list[dict[str, str]]:
    """Alerts due every minute."""
    return [
        {"name": f"{prefix}_{i:05d}", "query": query, "schedule": "* * * * *"} for i in range(count)
    ]


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SQLSENTINEL_CACHE_DIR"] = str(cache)
    env.pop("SQLSENTINEL_STATE_URL", None)
    return env


def run(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command; return its wall time and stdout. Exit codes other than 0 end the bench."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:6])} ... failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def tick_argv(config: Path, now: str, *options: str) -> list[str]:
    return [*SQLSENTINEL, "tick", str(config), "--now", now, "--format", "json", *options]


_MEASURE = """\
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
elapsed = time.perf_counter() - started
print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measured(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Return (wall seconds, peak RSS in MB) of ``argv``, run as the only child of a fresh
    Python process, whose getrusage(RUSAGE_CHILDREN) is then that command's alone."""
    _, out = run([PYTHON, "-c", _MEASURE, *argv], env)
    code, elapsed, peak_kb = out.split()
    if code != "0":
        sys.exit(f"{' '.join(argv[:6])} ... failed ({code})")
    return float(elapsed), int(peak_kb) / 1024


_PROBE = """\
import runpy, sys
sys.argv = ["sqlsentinel", *sys.argv[1:]]
try:
    runpy.run_module("sqlsentinel", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print("sqlalchemy imported:", "sqlalchemy" in sys.modules)
"""


def imports_sqlalchemy(argv: Sequence[str], env: dict[str, str]) -> bool:
    """Say whether the sqlsentinel command ``argv`` imported SQLAlchemy."""
    _, out = run([PYTHON, "-c", _PROBE, *argv[len(SQLSENTINEL) :]], env)
    return out.strip().splitlines()[-1].endswith("True")


@contextlib.contextmanager
def cache_dir(path: Path) -> Iterator[None]:
    """Point this process's fast-path cache at ``path`` (for ticks run in-process)."""
    saved = os.environ.get("SQLSENTINEL_CACHE_DIR")
    os.environ["SQLSENTINEL_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SQLSENTINEL_CACHE_DIR", None)
        else:
            os.environ["SQLSENTINEL_CACHE_DIR"] = saved


def tick_in_process(argv: Sequence[str]) -> dict[str, Any]:
    """Run ``sqlsentinel ARGV`` in this process (modules already imported); return its JSON."""
    from sqlsentinel import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    if code != 0:
        sys.exit(f"in-process tick failed ({code}): {out.getvalue()[:500]}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def median_ms(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


# --- the PostgreSQL database of this run ----------------------------------------------------


@dataclass
class Bench:
    work: Path
    admin_url: str  # SQLAlchemy URL of the server's existing database (to create ours)
    state_url: str  # SQLAlchemy URL of the database created for this run
    rounds: int
    storm_rounds: int

    def libpq(self, url: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def sql(self, statement: str, *params: object, url: str = "") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.libpq(url or self.state_url), autocommit=True) as conn:
            cursor = conn.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []

    def reset_state(self) -> None:
        """Drop the sqlsentinel tables: the next tick creates them, as on a new install."""
        from sqlsentinel.database.engines import dispose_engines

        dispose_engines()
        self.sql(
            "DROP TABLE IF EXISTS sqlsentinel_executions, sqlsentinel_state, "
            "sqlsentinel_configs, sqlsentinel_schema"
        )


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    """Create a database for this run on the server of ``admin_url``; drop it afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    name = f"bench_sqlsentinel_{os.getpid()}"
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        from sqlsentinel.database.engines import dispose_engines

        dispose_engines()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- (a) nothing due, 100 alerts ------------------------------------------------------------


def bench_a(b: Bench) -> None:
    config = write_config(
        b.work / "quiet100.yaml", quiet_alerts(100), url=f"sqlite:///{b.work / 'data.db'}"
    )
    argv = tick_argv(config, QUIET_NOW)
    warm = environment(b.work / "cache-a")
    first, out = run(argv, warm)  # the very first tick: no cache yet; it writes one
    if not json.loads(out)["fast_path"]:
        sys.exit("(a): the config was meant to have nothing due")
    imported = imports_sqlalchemy(argv, warm)
    run(BASELINE)  # warm the OS file cache
    labels = ['python -c "import sqlalchemy"', "tick, warm cache", "tick, cold cache"]
    times: dict[str, list[float]] = {label: [] for label in labels}
    for round_ in range(b.rounds):
        times[labels[0]].append(run(BASELINE)[0])
        times[labels[1]].append(run(argv, warm)[0])
        times[labels[2]].append(run(argv, environment(b.work / f"cache-a-cold-{round_}"))[0])
    base = statistics.median(times[labels[0]])
    print(f"\n(a) nothing-due tick, 100 alerts; median of {b.rounds} interleaved rounds")
    for label in labels:
        ratio = statistics.median(times[label]) / base
        print(f"    {label:<30} {median_ms(times[label])}   ratio {ratio:4.2f}")
    print(
        f"    first tick ever (cold, 1 sample) {first * 1000:8.1f} ms   ratio {first / base:4.2f}"
    )
    print(f"    warm tick imports SQLAlchemy: {imported}")
    ratio = statistics.median(times[labels[1]]) / base
    print(f"    goal: warm tick / import sqlalchemy <= 0.9: {ratio:.2f}  {verdict(ratio <= 0.9)}")


# --- (b) parallel efficiency ----------------------------------------------------------------


def bench_b(b: Bench) -> None:
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import dispose_engines, get_engine
    from sqlsentinel.executor.query import run_query
    from sqlsentinel.testing import MemoryStateStore
    from sqlsentinel.tick import tick

    count, workers = 200, 16
    ideal = count * SLEEP_SECONDS / workers
    b.reset_state()
    config = write_config(
        b.work / "sleep200.yaml",
        due_alerts("sleep", count, SLEEP_QUERY),
        url=b.state_url,
        max_connections=workers,
    )
    options = ["--workers", str(workers), "--state-url", b.state_url]
    cache = b.work / "cache-b"
    slots = minutes(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))

    def check(summary: dict[str, Any]) -> dict[str, Any]:
        if summary["ran"] != count or summary["errors"]:
            sys.exit(f"(b): expected {count} OK runs, got {summary}")
        return summary

    def concurrency(summary: dict[str, Any]) -> float:
        return sum(r["duration_ms"] for r in summary["runs"]) / summary["duration_ms"]

    first_argv = tick_argv(config, slot_text(next(slots)), *options)
    first = check(json.loads(run(first_argv, environment(cache))[1]))
    loaded = load_config(str(config))
    memory = MemoryStateStore()
    subprocess_runs, in_process_runs, memory_runs = [], [], []
    for _ in range(b.rounds):
        wall, out = run(tick_argv(config, slot_text(next(slots)), *options), environment(cache))
        subprocess_runs.append((wall, check(json.loads(out))))
        dispose_engines()  # new connections, as a new process has
        with cache_dir(cache):
            argv = ["tick", str(config), "--now", slot_text(next(slots)), "--format", "json"]
            in_process_runs.append(check(tick_in_process([*argv, *options])))
        dispose_engines()
        summary = tick(loaded, lambda: memory, now=next(slots), environ=os.environ, workers=16)
        memory_runs.append(summary.duration)
    dispose_engines()
    engine = get_engine(loaded.data_sources["default"].url)
    single = [run_query(engine, SLEEP_QUERY, timeout=30).duration for _ in range(20)]
    pool = engine.pool
    capacity = pool.size() + max(0, getattr(pool, "_max_overflow", 0))
    dispose_engines()

    def efficiency(seconds: float) -> float:
        return ideal / seconds

    sub_ms = statistics.median(s["duration_ms"] for _, s in subprocess_runs)
    sub_wall = statistics.median(w for w, _ in subprocess_runs)
    inp_ms = statistics.median(s["duration_ms"] for s in in_process_runs)
    mem_ms = statistics.median(memory_runs) * 1000
    print(
        f"\n(b) {count} due alerts of pg_sleep({SLEEP_SECONDS}), --workers {workers}, data source"
    )
    print(f"    max_connections {workers}, state on PostgreSQL; ideal {ideal * 1000:.0f} ms;")
    print(f"    median of {b.rounds} rounds each (a new slot per tick)")
    print(
        f"    one query alone (sequential, median of 20): {statistics.median(single) * 1000:.1f} ms"
    )
    print(f"    data-source connection pool capacity: {capacity} ({type(pool).__name__})")
    print(
        f"    {'first tick (creates tables, state rows)':<46} {first['duration_ms']:7.1f} ms  "
        f"efficiency {efficiency(first['duration_ms'] / 1000):.2f}"
    )
    print(
        f"    {'CLI tick, summary duration_ms':<46} {sub_ms:7.1f} ms  "
        f"efficiency {efficiency(sub_ms / 1000):.2f}  (whole process {sub_wall * 1000:.0f} ms; "
        f"mean queries in flight "
        f"{statistics.median(concurrency(s) for _, s in subprocess_runs):.1f})"
    )
    print(
        f"    {'tick in-process (modules imported)':<46} {inp_ms:7.1f} ms  "
        f"efficiency {efficiency(inp_ms / 1000):.2f}  (mean queries in flight "
        f"{statistics.median(concurrency(s) for s in in_process_runs):.1f})"
    )
    print(
        f"    {'diagnostic: same, in-memory state store':<46} {mem_ms:7.1f} ms  "
        f"efficiency {efficiency(mem_ms / 1000):.2f}"
    )
    for label, ms in (("CLI duration_ms", sub_ms), ("in-process", inp_ms)):
        value = efficiency(ms / 1000)
        print(f"    goal: efficiency >= 0.7 ({label}): {value:.2f}  {verdict(value >= 0.7)}")


# --- (c) storm ------------------------------------------------------------------------------


@dataclass
class StormRound:
    slot: datetime
    wall: float  # first start to last exit
    window: float  # earliest tick start (exit - duration) to last exit
    summaries: list[dict[str, Any]]
    rows: int
    distinct: int
    not_ok: int
    max_attempt: int
    all_alerts: bool


def storm_round(b: Bench, config: Path, slot: datetime, names: set[str]) -> StormRound:
    argv = tick_argv(config, slot_text(slot), "--state-url", b.state_url)
    exits: list[float] = [0.0] * STORM_PROCESSES
    outputs: list[tuple[int, str, str]] = [(0, "", "")] * STORM_PROCESSES
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            argv,
            env=environment(b.work / f"cache-c-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(STORM_PROCESSES)
    ]

    def reap(i: int) -> None:
        out, err = processes[i].communicate()
        exits[i] = time.perf_counter()
        outputs[i] = (processes[i].returncode, out, err)

    threads = [threading.Thread(target=reap, args=(i,)) for i in range(STORM_PROCESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for code, _, err in outputs:
        if code != 0:
            sys.exit(f"(c): a storm tick failed ({code}):\n{err}")
    summaries = [json.loads(out) for _, out, _ in outputs]
    for summary in summaries:
        summary.pop("runs")
    last = max(exits)
    tick_start = min(
        exit_ - s["duration_ms"] / 1000 for exit_, s in zip(exits, summaries, strict=True)
    )
    naive = slot.replace(tzinfo=None)
    ((rows, distinct, not_ok, max_attempt),) = b.sql(
        "SELECT count(*), count(DISTINCT alert), count(*) FILTER (WHERE status <> 'OK'), "
        "max(attempt) FROM sqlsentinel_executions WHERE slot = %s",
        naive,
    )
    seen = {
        row[0] for row in b.sql("SELECT alert FROM sqlsentinel_executions WHERE slot = %s", naive)
    }
    return StormRound(
        slot, last - started, last - tick_start, summaries, rows, distinct, not_ok,
        max_attempt or 0, seen == names,
    )  # fmt: skip


def storm_in_memory(config: Path, slot: datetime) -> float:
    """Return the executions/s of one tick of ``config`` with an in-memory state store: what
    the queries, decisions and the thread pool cost without the state database."""
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import dispose_engines
    from sqlsentinel.testing import MemoryStateStore
    from sqlsentinel.tick import tick

    loaded = load_config(str(config))
    dispose_engines()
    summary = tick(loaded, MemoryStateStore, now=slot, environ=os.environ)
    dispose_engines()
    return summary.ran / summary.duration


def bench_c(b: Bench) -> None:
    count = 5000
    b.reset_state()
    data = b.work / "storm.db"
    with contextlib.closing(sqlite3.connect(data)) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.commit()
    alerts = due_alerts("storm", count, NOOP_QUERY)
    config = write_config(b.work / "storm5000.yaml", alerts, url=f"sqlite:///{data}")
    names = {a["name"] for a in alerts}
    slots = minutes(datetime(2026, 11, 27, 11, 0, tzinfo=UTC))
    rounds = [storm_round(b, config, next(slots), names) for _ in range(b.storm_rounds)]
    memory_rate = storm_in_memory(config, next(slots))
    print(
        f"\n(c) storm: {count} no-op alerts (SQLite data) due at once, {STORM_PROCESSES} tick "
        f"processes started together (--workers 8 each), state on PostgreSQL"
    )
    for i, r in enumerate(rounds):
        duplicates, missing = r.rows - r.distinct, count - r.distinct
        once = duplicates == 0 and missing == 0 and r.all_alerts and r.max_attempt == 1
        deferred = sum(s["deferred"] for s in r.summaries)
        label = "first slot (state rows created)" if i == 0 else "next slot"
        print(f"    round {i + 1}, {label}, {slot_text(r.slot)}:")
        print(
            f"      {r.rows} executions in {r.wall:5.2f} s, first start to last exit:  "
            f"{r.rows / r.wall:5.0f}/s"
        )
        print(
            f"      {r.rows} executions in {r.window:5.2f} s, excluding process start: "
            f"{r.rows / r.window:5.0f}/s (earliest exit - duration_ms to last exit)"
        )
        print(
            f"      per process: ran {[s['ran'] for s in r.summaries]}, duration_ms "
            f"{[round(s['duration_ms']) for s in r.summaries]}, left to the next tick by "
            f"--deadline {deferred}, late writes refused {sum(s['refused'] for s in r.summaries)}"
        )
        print(
            f"      history: {r.rows} rows, {duplicates} duplicate (alert, slot), {missing} not "
            f"run, {r.not_ok} not OK, max attempt {r.max_attempt}: exactly once {verdict(once)}"
            + (" (none twice, but not all ran)" if duplicates == 0 and missing else "")
        )
    print(
        f"    diagnostic: ONE tick in-process, in-memory state store, same config: "
        f"{memory_rate:5.0f}/s"
    )
    steady = rounds[1:] or rounds
    wall_rate = statistics.median(r.rows / r.wall for r in steady)
    window_rate = statistics.median(r.rows / r.window for r in steady)
    which = "rounds after the first" if rounds[1:] else "the one round"
    print(f"    goal >= 1000 executions/s (median of {which}):")
    print(f"      including process start {wall_rate:6.0f}/s  {verdict(wall_rate >= 1000)}")
    print(f"      excluding process start {window_rate:6.0f}/s  {verdict(window_rate >= 1000)}")


# --- (d) 10,000 alerts, nothing due ---------------------------------------------------------


def bench_d(b: Bench) -> None:
    count = 10_000
    config = write_config(
        b.work / "quiet10000.yaml", quiet_alerts(count), url=f"sqlite:///{b.work / 'data.db'}"
    )
    argv = tick_argv(config, QUIET_NOW)
    warm = environment(b.work / "cache-d")
    first_wall, first_rss = measured(argv, warm)  # writes the cache
    imported = imports_sqlalchemy(argv, warm)
    labels = ['python -c "import sqlalchemy"', "tick, warm cache", "tick, cold cache"]
    walls: dict[str, list[float]] = {label: [] for label in labels}
    peaks: dict[str, list[float]] = {label: [] for label in labels}
    for round_ in range(b.rounds):
        envs = [None, warm, environment(b.work / f"cache-d-cold-{round_}")]
        for label, command, env in zip(labels, [BASELINE, argv, argv], envs, strict=True):
            wall, peak = measured(command, env)
            walls[label].append(wall)
            peaks[label].append(peak)
    base = statistics.median(walls[labels[0]])
    print(f"\n(d) {count} configured alerts (740 distinct schedules), none due; median wall and")
    print(f"    highest peak RSS of {b.rounds} interleaved rounds")
    for label in labels:
        wall = statistics.median(walls[label])
        print(
            f"    {label:<30} {wall * 1000:8.1f} ms (ratio {wall / base:5.2f})  "
            f"peak RSS {max(peaks[label]):6.1f} MB"
        )
    print(
        f"    first tick ever (1 sample)     {first_wall * 1000:8.1f} ms (ratio "
        f"{first_wall / base:5.2f})  peak RSS {first_rss:6.1f} MB"
    )
    print(f"    warm tick imports SQLAlchemy: {imported}")
    for label in labels[1:]:
        wall, peak = statistics.median(walls[label]), max(peaks[label])
        print(
            f"    goal ({label}): wall {wall:.2f} s <= 1.5 s {verdict(wall <= 1.5)}; "
            f"peak RSS {peak:.0f} MB <= 200 MB {verdict(peak <= 200)}"
        )


# --- (e) state round trips ------------------------------------------------------------------


def statement_kind(statement: str) -> str:
    """Name a state statement by verb and table ("UPDATE sqlsentinel_state")."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r"sqlsentinel_\w+", text)
    lock = " FOR UPDATE" if "FOR UPDATE" in text.upper() else ""
    return f"{verb} {table.group(0) if table else '(catalog)'}{lock}"


@dataclass
class RoundTrips:
    ran: int
    counts: Counter[str]
    kinds: Counter[str]
    wire: int  # libpq ReadyForQuery messages: one per protocol round trip

    @property
    def pings(self) -> int:
        # pool_pre_ping pings every checkout but the first of a new connection
        return self.counts["checkout"] - self.counts["connect"]

    @property
    def events(self) -> int:
        c = self.counts
        return c["execute"] + c["executemany"] + c["commit"] + c["rollback"] + self.pings


def count_round_trips(b: Bench, config: Path, slot: datetime, trace: Path) -> RoundTrips:
    """Run one tick in-process on a new state engine (as a new process has) and count."""
    import psycopg
    from sqlalchemy import event

    from sqlsentinel.database.engines import dispose_engines, get_state_engine

    dispose_engines()
    engine = get_state_engine(b.state_url)
    counts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    traced: list[Any] = []
    with open(trace, "w") as sink:

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            counts["connect"] += 1
            pgconn = dbapi_connection.pgconn
            pgconn.trace(sink.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            traced.append(pgconn)

        def on_execute(*args: Any) -> None:
            statement, executemany = args[2], args[5]
            counts["executemany" if executemany else "execute"] += 1
            kinds[statement_kind(statement) + (" (executemany)" if executemany else "")] += 1

        # inserted first, so that the dialect's first-connect queries are traced too
        event.listen(engine.pool, "connect", on_connect, insert=True)
        event.listen(engine.pool, "checkout", lambda *_: counts.update(["checkout"]))
        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "commit", lambda *_: counts.update(["commit"]))
        event.listen(engine, "rollback", lambda *_: counts.update(["rollback"]))
        argv = ["tick", str(config), "--now", slot_text(slot), "--state-url", b.state_url]
        with cache_dir(b.work / "cache-e"):
            summary = tick_in_process([*argv, "--format", "json"])
        for pgconn in traced:
            with contextlib.suppress(Exception):
                pgconn.untrace()
        dispose_engines()
    wire = trace.read_text().count("\tReadyForQuery\t")
    return RoundTrips(summary["ran"], counts, kinds, wire)


def bench_e(b: Bench) -> None:
    data = b.work / "storm.db"
    if not data.exists():
        with contextlib.closing(sqlite3.connect(data)) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            conn.commit()
    noop = write_config(
        b.work / "noop200.yaml", due_alerts("noop", 200, NOOP_QUERY), url=f"sqlite:///{data}"
    )
    sleep = write_config(
        b.work / "sleep200e.yaml", due_alerts("sleep", 200, SLEEP_QUERY), url=b.state_url
    )
    one = write_config(
        b.work / "one.yaml", due_alerts("one", 1, NOOP_QUERY), url=f"sqlite:///{data}"
    )
    slots = minutes(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    scenarios: list[tuple[str, Path, bool]] = [
        ("200 no-op (SQLite data), first tick", noop, True),
        ("200 no-op (SQLite data), next slot", noop, False),
        ("200 pg_sleep(0.05) (PostgreSQL data), first", sleep, True),
        ("200 pg_sleep(0.05) (PostgreSQL data), next", sleep, False),
        ("1 no-op alert, first tick", one, True),
        ("1 no-op alert, next slot", one, False),
    ]
    results = []
    for i, (label, config, fresh) in enumerate(scenarios):
        if fresh:
            b.reset_state()
        results.append((label, count_round_trips(b, config, next(slots), b.work / f"e{i}.trace")))
    print("\n(e) state-database round trips of one tick (default --workers 8), state on")
    print("    PostgreSQL, counted with SQLAlchemy events on the state engine; pings = pool")
    print("    checkouts - new connections; wire = libpq ReadyForQuery messages (includes the")
    print("    BEGIN psycopg sends, connection set-up queries, schema check)")
    header = "    tick                                          ran  stmts commit rollb pings"
    print(header + "  events /alert   wire /alert")
    for label, r in results:
        c = r.counts
        stmts = c["execute"] + c["executemany"]
        print(
            f"    {label:<44} {r.ran:4d} {stmts:6d} {c['commit']:6d} {c['rollback']:5d} "
            f"{r.pings:5d} {r.events:7d} {r.events / r.ran:5.2f} {r.wire:7d} {r.wire / r.ran:5.2f}"
        )
    steady = results[1][1]
    print("    statements of the '200 no-op, next slot' tick:")
    for kind, n in steady.kinds.most_common():
        print(f"      {n:5d}  {kind}")
    for label, r in (results[1], results[3]):
        value = r.events / r.ran
        print(f"    goal <= 3 per executed alert ({label}): {value:.2f}  {verdict(value <= 3)}")


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="abcde", help="which benchmarks to run (default abcde)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of (a), (b) and (d)")
    parser.add_argument("--storm-rounds", type=int, default=3, help="rounds of (c)")
    parser.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL URL on the server to use")
    args = parser.parse_args()

    import sqlalchemy

    import sqlsentinel

    print(
        f"sqlsentinel {sqlsentinel.__version__}, Python {sys.version.split()[0]}, SQLAlchemy "
        f"{sqlalchemy.__version__}, {os.cpu_count()} CPUs, load average {load()}"
    )
    with tempfile.TemporaryDirectory() as tmp, bench_database(args.pg) as state_url:
        b = Bench(Path(tmp), args.pg, state_url, args.rounds, args.storm_rounds)
        with contextlib.closing(sqlite3.connect(b.work / "data.db")) as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
            conn.commit()
        for letter, bench in zip(
            "abcde", [bench_a, bench_b, bench_c, bench_d, bench_e], strict=True
        ):
            if letter in args.only:
                bench(b)
                sys.stdout.flush()
    print(f"\nload average at the end {load()}")


if __name__ == "__main__":
    main()

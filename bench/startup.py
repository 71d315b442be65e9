"""Measure sqlsentinel's cold start as ratios to `python -c "import sqlalchemy"`, in one run.

A tick runs every minute in a fresh process (a CronJob pod, a Lambda cold start, a crontab
line), so start-up time is paid every minute. Absolute times on a shared machine are noise;
ratios of commands timed in the same run, interleaved round by round, are not.

    python bench/startup.py [--rounds 15]

Prints the median wall time of each command and its ratio to the sqlalchemy import.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands(workdir: Path) -> dict[str, list[str]]:
    """Return the commands to time, by label; the first is the baseline."""
    python = sys.executable
    config = str(workdir / "examples" / "alerts.yaml")
    return {
        'python -c "import sqlalchemy"': [python, "-c", "import sqlalchemy"],
        'python -c "pass"': [python, "-c", "pass"],
        "import sqlsentinel": [python, "-c", "import sqlsentinel"],
        "sqlsentinel --version": [python, "-m", "sqlsentinel", "--version"],
        "sqlsentinel test (5 alerts)": [python, "-m", "sqlsentinel", "test", config],
        "sqlsentinel execute (SQLite)": [
            python,
            "-m",
            "sqlsentinel",
            "execute",
            config,
            "daily_revenue_check",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        shutil.copytree(ROOT / "examples", workdir / "examples")
        subprocess.run(
            [sys.executable, str(workdir / "examples" / "build_sample_db.py")],
            check=True,
            capture_output=True,
        )
        todo = commands(workdir)
        times: dict[str, list[float]] = {label: [] for label in todo}
        for argv in todo.values():  # warm the OS file cache once
            subprocess.run(argv, cwd=workdir, check=False, capture_output=True)
        for _ in range(args.rounds):
            for label, argv in todo.items():
                started = time.perf_counter()
                done = subprocess.run(argv, cwd=workdir, check=False, capture_output=True)
                times[label].append(time.perf_counter() - started)
                if done.returncode not in (0, 1):
                    sys.exit(f"{label} failed ({done.returncode}): {done.stderr.decode()}")

    baseline_label = next(iter(todo))
    baseline = statistics.median(times[baseline_label])
    width = max(len(label) for label in todo)
    python = sys.version.split()[0]
    print(f"cold start, median of {args.rounds} interleaved rounds, Python {python}")
    print(f"{'command':<{width}}  {'median':>9}  ratio to sqlalchemy import")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"{label:<{width}}  {median * 1000:7.1f}ms  {median / baseline:5.2f}")


if __name__ == "__main__":
    main()

"""Commands that run alerts on schedule or all at once: ``tick`` and ``run [--watch]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlsentinel.commands.common import EXIT_FAILED, EXIT_OK, emit, open_store

if TYPE_CHECKING:
    from sqlsentinel.config import Alert, Config
    from sqlsentinel.executor.history import Execution
    from sqlsentinel.executor.state import StateStore
    from sqlsentinel.tick import AlertRun, TickSummary

__all__ = ["run", "tick", "watch"]

log = logging.getLogger("sqlsentinel")


def tick(args: argparse.Namespace) -> int:
    """Run one tick at ``--now`` (or the clock) and print its summary."""
    started = time.monotonic()
    now = args.now or datetime.now(UTC)
    if not args.dry_run and _nothing_due(args.config, now):
        from sqlsentinel.tick import TickSummary

        summary = TickSummary(fast_path=True, duration=time.monotonic() - started)
        _say_nothing_due(summary, now, args.format)
        return EXIT_OK
    summary = _tick_once(args, now)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _nothing_due(path: str, now: datetime) -> bool:
    """Ask the fast path whether nothing can be due — without loading the config."""
    from sqlsentinel.scheduler.fastpath import nothing_due

    return nothing_due(path, os.environ, now) is True


def _tick_once(args: argparse.Namespace, now: datetime) -> TickSummary:
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.scheduler.fastpath import fingerprint, remember
    from sqlsentinel.tick import tick as run_tick

    try:
        key = fingerprint(args.config, os.environ)  # before loading: an edit mid-tick is seen
    except OSError:
        key = None  # load_config says what is wrong with the file
    config = load_config(args.config)
    summary = run_tick(
        config,
        lambda: open_store(config, args),
        now=now,
        environ=os.environ,
        workers=args.workers,
        deadline=args.deadline,
        dry_run=args.dry_run,
    )
    if not args.dry_run and key is not None:
        remember(args.config, os.environ, config.alerts, now, key=key)
    if summary.fast_path:
        _say_nothing_due(summary, now, args.format)
    else:
        emit(report.tick_summary(summary, now, fmt=args.format), args.format)
    return summary


def _say_nothing_due(summary: TickSummary, now: datetime, fmt: str) -> None:
    """Print the summary of a tick that found nothing due, with the standard library only.

    The report package loads the config's models (pydantic), and the fast path exists so
    that the usual minute, with nothing due, loads neither that nor SQLAlchemy. The JSON has
    the same keys as any tick's, so that a program reading it needs no special case.
    """
    import json

    from sqlsentinel.executor.history import utc_text

    if fmt == "json":
        emit(json.dumps({"now": utc_text(now), **summary.to_dict(), "runs": []}, indent=2), fmt)
    else:
        emit(f"tick at {utc_text(now)}: nothing due", fmt)


def watch(args: argparse.Namespace) -> int:
    """Tick at every minute boundary until SIGINT or SIGTERM; in-flight alerts finish first."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.warning(
            "received %s: finishing the current tick, then stopping", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("watching %s: a tick at every minute boundary until SIGINT or SIGTERM", args.config)
    try:
        return watch_loop(args, stop, clock=lambda: datetime.now(UTC), wait=stop.wait)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch_loop(
    args: argparse.Namespace,
    stop: threading.Event,
    *,
    clock: Callable[[], datetime],
    wait: Callable[[float], bool],
) -> int:
    """Run ``tick`` at each minute boundary ``clock`` reaches, until ``stop`` is set.

    ``wait(seconds)`` sleeps until the boundary and returns True if it was woken to stop
    (``stop.wait``); a test passes a fake, and no time passes.
    """
    while not stop.is_set():
        now = clock()
        boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if wait((boundary - now).total_seconds()):
            break
        try:
            if not _nothing_due(args.config, boundary):  # a quiet minute prints nothing
                _tick_once(args, boundary)
        except Exception as exc:  # one failed tick must not end the loop; the next may work
            log.error("the tick at %s failed: %s", boundary.isoformat(), exc)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run every enabled alert now, by hand, through the same decide/notify/record path."""
    from sqlsentinel import report
    from sqlsentinel.config import load_config

    if args.watch:
        return watch(args)
    config = load_config(args.config)
    store = open_store(config, args)
    now = args.now or datetime.now(UTC)  # a hidden --now, for tests and replays
    alerts = list(config.enabled_alerts)
    with ThreadPoolExecutor(max(1, args.workers), thread_name_prefix="sqlsentinel-run") as pool:
        runs = [
            execution
            for execution, _ in pool.map(
                lambda alert: run_by_hand(config, alert, store, now, dry_run=args.dry_run), alerts
            )
        ]
    emit(report.manual_runs(runs, now, fmt=args.format), args.format)
    failed = any(run.status in ("ERROR", "TIMEOUT") for run in runs) or any(
        not outcome.get("ok") for run in runs for outcome in run.notifications
    )
    return EXIT_FAILED if failed else EXIT_OK


def run_by_hand(
    config: Config, alert: Alert, store: StateStore, now: datetime, *, dry_run: bool
) -> tuple[Execution, AlertRun]:
    """Run one alert by hand (MANUAL): decide from its state, notify, record.

    A dry run decides from the recorded state too, but sends nothing and records nothing.
    """
    from sqlsentinel.executor.history import Execution
    from sqlsentinel.models import TriggeredBy
    from sqlsentinel.tick import run_alert

    previous, revision = store.read(alert.name)
    run = run_alert(config, alert, previous, slot=now, now=now, environ=os.environ, dry_run=dry_run)
    reason = run.reason
    if dry_run:
        would = [
            f"{d.kind.value} via {', '.join(p.channel for p in d.previews)}" for d in run.deliveries
        ]
        reason = "dry run: " + reason + (f"; would send {'; '.join(would)}" if would else "")
    execution = Execution.of_run(
        alert,
        run.result,
        triggered_by=TriggeredBy.MANUAL,
        started_at=now,
        slot=None,
        decision=reason,
        outcomes=run.outcomes,
    )
    if not dry_run and not store.record_manual(run.state, execution, revision, now):
        log.warning(
            "alert '%s': a tick changed its state while it ran by hand; the run is in history, "
            "but its state was left to the tick",
            alert.name,
        )
    return execution, run

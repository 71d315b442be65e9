"""Run one tick: work out what is due, claim it, run it, decide, notify and record — then stop.

The single pass of DESIGN §2, composed from the pieces that do each step::

    due (scheduler.due) ─► claim (StateStore) ─► query (executor.query) ─► decide
        ─► notify (notifications.dispatch) ─► record (StateStore, fenced)

1. **Due.** Only enabled alerts whose latest slot is within their grace can have work; if
   there are none, the tick ends without opening the state database.
2. **Plan.** Read every state row in one query; :func:`sqlsentinel.scheduler.due.plan` says
   what is due (and what was missed, and where new alerts start).
3. **Claim, in waves.** While the deadline allows — an alert is only claimed if its query,
   running to its timeout, would end before the deadline — claim as many due alerts as there
   are free workers. Unclaimed ones are left to the next tick, within their grace. An alert
   whose timeout is longer than the whole deadline would fit no tick, so it is not left
   (that would starve it for ever): it is claimed like any other until the deadline has
   passed, and its run may outlast the tick. A claim's lease is the alert's timeout plus
   :data:`NOTIFY_MARGIN`.
4. **Run** each claimed alert on a bounded thread pool, at most ``max_connections`` at a time
   per data source: query, decide, notify (and re-send what a channel missed last run).
5. **Record** finished runs in batches (state and history in one fenced transaction); a
   runner whose lease was lost has its late write refused and reported.
6. **Housekeeping**: forget the state of alerts that left the config; drop history older
   than the retention, a bounded batch per tick.

Time is passed in: ``now`` is the tick's instant for slots, leases, cooldowns and silences
(``--now`` replays any instant); ``clock`` (monotonic seconds) only measures durations and
the deadline. Workers never touch the state database — only this thread does, so SQLite's
single writer is enough.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlsentinel.models import AlertState, Kind, QueryResult, Status, TriggeredBy

if TYPE_CHECKING:
    from sqlsentinel.config import Alert, Config
    from sqlsentinel.executor.history import Execution
    from sqlsentinel.executor.state import Claimed, Record, StateStore
    from sqlsentinel.notifications.base import ChannelOutcome
    from sqlsentinel.notifications.dispatch import Delivery
    from sqlsentinel.scheduler.due import Due, Missed

__all__ = ["NOTIFY_MARGIN", "AlertRun", "TickSummary", "new_runner_id", "run_alert", "tick"]

log = logging.getLogger(__name__)

NOTIFY_MARGIN = timedelta(seconds=90)
"""Added to an alert's timeout for its lease: time to notify (with retries) and record."""
RETENTION_BATCH = 1000


def new_runner_id() -> str:
    """Return an id for this runner: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class TickSummary:
    """What one tick did, for people (text), programs (JSON) and the exit code."""

    due: int = 0
    claimed: int = 0
    ran: int = 0
    fired: int = 0
    notified: int = 0
    undelivered: int = 0
    suppressed: int = 0
    errors: int = 0
    missed: int = 0
    deferred: int = 0
    refused: int = 0
    duration: float = 0.0
    fast_path: bool = False
    runs: list[Execution] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Say whether something needs attention: a query failed or a channel did not deliver."""
        return self.errors > 0 or self.undelivered > 0

    def to_dict(self) -> dict[str, object]:
        return {
            "due": self.due,
            "claimed": self.claimed,
            "ran": self.ran,
            "fired": self.fired,
            "notified": self.notified,
            "undelivered": self.undelivered,
            "suppressed": self.suppressed,
            "errors": self.errors,
            "missed": self.missed,
            "deferred": self.deferred,
            "refused": self.refused,
            "duration_ms": round(self.duration * 1000, 1),
            "fast_path": self.fast_path,
        }


@dataclass(frozen=True)
class AlertRun:
    """One alert run: what the query said, what was decided, what was sent, the new state."""

    result: QueryResult
    reason: str
    deliveries: tuple[Delivery, ...]
    state: AlertState
    kind: Kind | None = None
    """The new notification the decision called for — sent, failed, or not sent because the
    alert has no ``notify`` entries; ``None`` when it held one back or had nothing to say."""

    @property
    def outcomes(self) -> list[ChannelOutcome]:
        return [outcome for delivery in self.deliveries for outcome in delivery.outcomes]


def run_alert(
    config: Config,
    alert: Alert,
    previous: AlertState,
    *,
    slot: datetime,
    now: datetime,
    environ: Mapping[str, str],
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    limits: Mapping[str, threading.Semaphore] | None = None,
) -> AlertRun:
    """Run one alert: query, decide, notify (or preview, for a dry run); settle its state.

    Shared by the tick (for a claimed slot) and by runs by hand. Never raises for a problem
    of the alert's own — a failing query is a result, a failing channel an outcome.
    """
    from sqlsentinel.database.engines import engine_for
    from sqlsentinel.errors import SentinelError
    from sqlsentinel.executor.decide import decide, settle
    from sqlsentinel.executor.query import run_query
    from sqlsentinel.notifications.dispatch import notify
    from sqlsentinel.notifications.factory import entry_ids

    try:
        engine = engine_for(config, alert.database)
    except SentinelError as exc:
        result = QueryResult(Status.ERROR, error=str(exc))
    else:
        limit = (limits or {}).get(alert.database) or contextlib.nullcontext()
        with limit:
            result = run_query(
                engine, alert.query, timeout=alert.timeout, empty_result=alert.empty_result
            )
    decision = decide(alert, previous, result, slot, now)
    deliveries: list[Delivery] = []
    if decision.retry is not None:
        deliveries.append(
            notify(
                alert, config.notifications, decision.retry.kind, result,
                slot=decision.retry.slot, now=now, environ=environ, dry_run=dry_run,
                entries=decision.retry.entries, sleep=sleep,
            )
        )  # fmt: skip
    if decision.kind is not None and alert.notify:
        deliveries.append(
            notify(
                alert, config.notifications, decision.kind, result,
                slot=slot, now=now, environ=environ, dry_run=dry_run, sleep=sleep,
            )
        )  # fmt: skip
    outcomes = [outcome for delivery in deliveries for outcome in delivery.outcomes]
    new = settle(alert, previous, result, decision, outcomes, entry_ids(alert), slot, now)
    new = replace(new, last_run_at=now, config_hash=alert.config_hash)
    return AlertRun(result, decision.reason, tuple(deliveries), new, decision.kind)


def tick(
    config: Config,
    open_store: Callable[[], StateStore],
    *,
    now: datetime,
    environ: Mapping[str, str],
    runner_id: str | None = None,
    workers: int = 8,
    deadline: float = 55.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    dry_run: bool = False,
) -> TickSummary:
    """Run one tick at ``now``; return what it did. See the module docstring for the steps.

    ``open_store`` is called only when there is work (the fast path never opens the state
    database); ``deadline`` is seconds from the start of the tick after which nothing new is
    claimed. A ``dry_run`` claims nothing, records nothing and sends nothing, but counts its
    runs (and a channel that could not send) as the real tick would, slots included.
    """
    from sqlsentinel.scheduler.due import in_grace

    started = clock()
    summary = TickSummary()
    if not in_grace(config.enabled_alerts, now):
        summary.fast_path = True
        summary.duration = clock() - started
        return summary
    store = open_store()
    runner = runner_id or new_runner_id()
    one = _Pass(config, store, summary, now=now, environ=environ, runner=runner,
                workers=workers, deadline=deadline, started=started, clock=clock, sleep=sleep,
                dry_run=dry_run)  # fmt: skip
    one.run()
    summary.duration = clock() - started
    return summary


class _Pass:
    """The state of one tick while it runs (the steps of the module docstring)."""

    def __init__(
        self,
        config: Config,
        store: StateStore,
        summary: TickSummary,
        *,
        now: datetime,
        environ: Mapping[str, str],
        runner: str,
        workers: int,
        deadline: float,
        started: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        dry_run: bool,
    ) -> None:
        self.config, self.store, self.summary = config, store, summary
        self.now, self.environ, self.runner = now, environ, runner
        self.workers, self.clock = max(1, workers), clock
        self.deadline, self.deadline_at = deadline, started + deadline
        self.sleep, self.dry_run = sleep, dry_run
        self.alerts = {alert.name: alert for alert in config.enabled_alerts}
        # (alert, slot, attempt) of the runs whose decision called for a notification: with
        # no notify entries nothing is sent, and that is not a notification held back
        self.called_for: set[tuple[str, datetime, int]] = set()
        self.limits = {
            name: threading.Semaphore(source.max_connections)
            for name, source in config.data_sources.items()
        }

    def run(self) -> None:
        from sqlsentinel.scheduler.due import plan

        states = self.store.load()
        work = plan(self.config.enabled_alerts, states, self.now)
        self.summary.due = len(work.due)
        if not self.dry_run:
            self._record_missed(work.missed)
            self.store.baseline(list(work.baseline), self.now)
        queue = sorted(work.due, key=lambda due: (due.slot, due.alert))
        if self.dry_run:
            self._dry_run(queue, states)
        else:
            self._claim_run_record(queue)
            self._housekeeping(states)

    def _record_missed(self, missed: Sequence[Missed]) -> None:
        from sqlsentinel.executor.history import MISSED, Execution

        rows = [
            Execution(
                alert=item.alert,
                triggered_by=TriggeredBy.CRON,
                status=MISSED,
                started_at=self.now,
                finished_at=self.now,
                slot=item.slot,
                coalesced=item.coalesced,
                decision="missed: the slot was older than its misfire_grace when a tick saw it",
                runner_id=self.runner,
                config_hash=self.alerts[item.alert].config_hash,
            )
            for item in missed
        ]
        self.summary.missed = self.store.record_missed(rows, self.runner, self.now)

    @staticmethod
    def _lease(alert: Alert) -> timedelta:
        return alert.timeout + NOTIFY_MARGIN

    def _fits(self, alert: Alert) -> bool:
        """Say whether the alert's query, at its timeout, would end before the deadline.

        An alert whose timeout is longer than the whole deadline fits no tick: it fits while
        the deadline has not passed, rather than being left to a next tick that could not
        take it either.
        """
        left = self.deadline_at - self.clock()
        timeout = alert.timeout.total_seconds()
        if timeout > self.deadline and left > 0:
            log.info(
                "alert '%s': its timeout (%gs) is longer than the tick's deadline (%gs); "
                "its run may outlast the tick",
                alert.name, timeout, self.deadline,
            )  # fmt: skip
            return True
        return timeout <= left

    def _claim_run_record(self, queue: list[Due]) -> None:
        from sqlsentinel.executor.state import Claim

        running: dict[Future[Record], str] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="sqlsentinel-alert") as pool:
            while queue or running:
                free = self.workers - len(running)
                wave: list[Due] = []
                while queue and len(wave) < free:
                    due = queue.pop(0)
                    if self._fits(self.alerts[due.alert]):
                        wave.append(due)
                    else:
                        self.summary.deferred += 1
                if wave:
                    claims = [
                        Claim(d.alert, d.slot, self.now + self._lease(self.alerts[d.alert]))
                        for d in wave
                    ]
                    coalesced = {d.alert: d.coalesced for d in wave}
                    for claimed in self.store.claim(claims, self.runner, self.now):
                        self.summary.claimed += 1
                        future = pool.submit(self._run_claimed, claimed, coalesced[claimed.alert])
                        running[future] = claimed.alert
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                batch = [future.result() for future in done]
                for future in done:
                    running.pop(future)
                self._record(batch)

    def _run_claimed(self, claimed: Claimed, coalesced: int) -> Record:
        from sqlsentinel.executor.history import Execution
        from sqlsentinel.executor.state import Record

        alert = self.alerts[claimed.alert]
        started_at = self.now
        try:
            run = run_alert(
                self.config, alert, claimed.previous, slot=claimed.slot, now=self.now,
                environ=self.environ, sleep=self.sleep, limits=self.limits,
            )  # fmt: skip
            result, reason, outcomes, new = run.result, run.reason, run.outcomes, run.state
            if run.kind is not None:
                self.called_for.add((alert.name, claimed.slot, claimed.attempt))
        except Exception as exc:  # a bug: the run is still recorded, the tick goes on
            log.exception("alert '%s': the run failed unexpectedly", alert.name)
            result = QueryResult(Status.ERROR, error=f"sqlsentinel failed: {type(exc).__name__}")
            reason, outcomes = "not decided: sqlsentinel failed", []
            new = replace(claimed.previous, last_status=result.status, last_run_at=self.now)
        execution = Execution.of_run(
            alert, result, triggered_by=TriggeredBy.CRON, started_at=started_at,
            slot=claimed.slot, attempt=claimed.attempt, decision=reason, outcomes=outcomes,
            coalesced=coalesced, runner_id=self.runner,
        )  # fmt: skip
        return Record(new, execution, claimed.slot, claimed.attempt)

    def _record(self, batch: list[Record]) -> None:
        if not batch:
            return
        refused = set(self.store.record(batch, self.runner, self.now))
        for item in batch:
            run = item.execution
            if run.alert in refused:
                self.summary.refused += 1
                log.warning(
                    "alert '%s': the run of %s finished after its lease was taken over; its "
                    "result was not recorded (a later attempt owns the slot)",
                    run.alert, run.slot,
                )  # fmt: skip
                continue
            self._count(run, held_back=self._held_back(run))

    def _count(self, run: Execution, *, held_back: bool) -> None:
        summary = self.summary
        summary.ran += 1
        summary.runs.append(run)
        if run.status == Status.ALERT.value:
            summary.fired += 1
        if run.status in (Status.ERROR.value, Status.TIMEOUT.value):
            summary.errors += 1
        delivered = [n for n in run.notifications if n.get("ok")]
        summary.notified += len(delivered)
        summary.undelivered += len(run.notifications) - len(delivered)
        if held_back:
            summary.suppressed += 1

    def _held_back(self, run: Execution) -> bool:
        """Say whether the decision held a notification back (pending, silenced, cooldown,
        a kind switched off) — not "nothing to say" (ok) nor "no one to tell" (no entries)."""
        if run.notifications or not run.decision or run.decision.startswith(("ok", "not")):
            return False
        return (run.alert, run.slot, run.attempt) not in self.called_for

    def _dry_run(self, queue: list[Due], states: Mapping[str, AlertState]) -> None:
        from sqlsentinel.executor.history import Execution

        with ThreadPoolExecutor(self.workers, thread_name_prefix="sqlsentinel-alert") as pool:
            futures = {}
            for due in queue:
                alert = self.alerts[due.alert]
                previous = states.get(alert.name, AlertState(alert.name))
                futures[due] = pool.submit(
                    run_alert, self.config, alert, previous, slot=due.slot, now=self.now,
                    environ=self.environ, dry_run=True, limits=self.limits,
                )  # fmt: skip
            for due, future in futures.items():
                alert_run = future.result()
                would = [
                    f"{d.kind.value} via {', '.join(p.channel for p in d.previews)}"
                    for d in alert_run.deliveries
                ]
                reason = alert_run.reason + (f"; would send {'; '.join(would)}" if would else "")
                run = Execution.of_run(
                    self.alerts[due.alert], alert_run.result, triggered_by=TriggeredBy.CRON,
                    started_at=self.now, slot=due.slot, decision=f"dry run: {reason}",
                    coalesced=due.coalesced,
                )  # fmt: skip
                held_back = (
                    alert_run.kind is None
                    and not alert_run.deliveries
                    and not alert_run.reason.startswith(("ok", "not"))
                )
                self._count(run, held_back=held_back)
                # a channel that could not send is counted as the real tick would count it
                self.summary.undelivered += sum(
                    preview.error is not None
                    for delivery in alert_run.deliveries
                    for preview in delivery.previews
                )

    def _housekeeping(self, states: Mapping[str, AlertState]) -> None:
        configured = {alert.name for alert in self.config.alerts}
        gone = [name for name in states if name not in configured]
        if gone:
            forgotten = self.store.forget(gone, self.now)
            log.info("forgot the state of %d alert(s) no longer in the config", forgotten)
        before = self.now - self.config.history_retention
        self.store.prune(before, RETENTION_BATCH)

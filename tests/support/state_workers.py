"""Work done in child processes by the state-store concurrency tests (spawned, not forked).

Lives in its own small module so that a spawned child imports only this and sqlsentinel,
not the test module and its fixtures.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta
from typing import Any

from sqlsentinel.executor.history import Execution
from sqlsentinel.executor.state import Claim, Record, SqlStateStore
from sqlsentinel.models import AlertState, Status, TriggeredBy

LEASE = timedelta(minutes=5)


def claim_and_record(
    url: str,
    runner: str,
    alerts: list[str],
    slots: list[datetime],
    batch: int,
    barrier: Any,
    results: Any,
) -> None:
    """For each slot: wait for every process, then claim ``alerts`` in batches and record.

    Puts ``(runner, slot, won, refused, error)`` on ``results`` for each slot; ``error`` is
    the text of any exception (the test fails on it), so a child never dies silently.
    """
    store = SqlStateStore.open(url)
    for slot in slots:
        won: list[str] = []
        refused: list[str] = []
        error = None
        barrier.wait(timeout=120)
        try:
            for start in range(0, len(alerts), batch):
                wanted = [Claim(a, slot, slot + LEASE) for a in alerts[start : start + batch]]
                claims = store.claim(wanted, runner, slot)
                records = []
                for claimed in claims:
                    run = Execution(
                        alert=claimed.alert,
                        triggered_by=TriggeredBy.CRON,
                        status=Status.OK.value,
                        started_at=slot,
                        finished_at=slot,
                        slot=slot,
                        attempt=claimed.attempt,
                        runner_id=runner,
                    )
                    new = AlertState(claimed.alert, last_status=Status.OK)
                    records.append(Record(new, run, slot, claimed.attempt))
                refused += store.record(records, runner, slot)
                won += [c.alert for c in claims]
        except Exception:  # reported to the parent, which fails the test
            error = traceback.format_exc()
        results.put((runner, slot, won, refused, error))

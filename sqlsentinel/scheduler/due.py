"""Work out which alerts a tick runs at ``now``, which slots it records as missed, and why.

Pure: alerts, their state rows and ``now`` in; a :class:`Plan` out. Nothing here reads the
clock or a database, so a test (or ``tick --now``) can plan any instant.

For each **enabled** alert, in config order:

1. ``s`` is the latest slot at or before ``now`` in the alert's timezone
   (:meth:`CronSchedule.latest_at_or_before`, with its daylight-saving rules).
   ``last`` is the state's ``claimed_slot`` (``None`` for an alert with no state row).
2. If there is no ``s`` (the schedule never fired yet), there is nothing to do.
3. If ``s < last``, there is nothing to do: a tick with an earlier ``--now`` than the last
   one never re-runs a slot.
4. If ``s == last``, the slot was claimed before. It is due again — :class:`Due` with
   ``retry=True``, the next attempt — only when it did not complete
   (``completed_slot != s``), its lease expired (``lease_expires <= now``) and it is still
   within the grace (``now - s <= misfire_grace``). Otherwise it is running or done.
   A slot whose lease expires after its grace is lost; the next slot counts it as coalesced.
5. If ``s > last`` but the run of ``last`` is still in flight (not completed, lease not
   expired), there is nothing to do yet: taking its claim over would refuse its record. The
   run after it counts ``s`` as coalesced.
6. If ``last`` is ``None`` or ``s > last``:

   a. within the grace (``now - s <= misfire_grace``): :class:`Due`, standing for the
      ``coalesced`` slots strictly between ``last`` and ``s`` (0 for a new alert), plus
      ``last`` itself when its run never completed (step 4: lost, so counted here);
   b. beyond the grace, for a new alert: a *baseline* — the tick records ``s`` as where the
      alert starts, with no history row, since the alert did not exist at ``s``;
   c. beyond the grace otherwise: :class:`Missed` for ``s``, with the older slots since
      ``last`` (and ``last``, if it never completed) as its ``coalesced`` count.

Counts of coalesced slots stop at :data:`COALESCE_CAP`, so that a minutely alert after a
year of downtime costs a bounded amount of work; a count equal to the cap means "at least".

:func:`in_grace` is steps 1 and 6a without the state: the alerts a tick can have any work for.
When it is empty the tick stops before it opens the state database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlsentinel.models import AlertState
from sqlsentinel.scheduler.cron import CronSchedule

if TYPE_CHECKING:
    from sqlsentinel.config.model import Alert

__all__ = [
    "COALESCE_CAP",
    "Due",
    "Missed",
    "Plan",
    "count_between",
    "in_grace",
    "latest_slot",
    "plan",
]

COALESCE_CAP = 10_000
"""The most coalesced slots a plan counts; more are reported as this number."""

# Same reasoning as cron.py's fold margin: no daylight-saving shift exceeds 2 hours, so walls
# more than 3 hours away from an instant cannot name an instant on its other side.
_DST_MARGIN = timedelta(hours=3)
# Memo sizes: a tick asks about each (schedule, now) several times (in_grace, plan, the fast
# path's cache); bounded so that ``run --watch`` does not grow without end.
_MEMO = 16_384


@dataclass(frozen=True)
class Due:
    """Run ``alert`` for ``slot``, standing for ``coalesced`` older slots it did not run."""

    alert: str
    slot: datetime
    coalesced: int = 0
    retry: bool = False
    """The same slot as claimed before, whose lease expired without completion."""


@dataclass(frozen=True)
class Missed:
    """Record ``slot`` of ``alert`` as missed (older than its grace), and ``coalesced`` more."""

    alert: str
    slot: datetime
    coalesced: int = 0


@dataclass(frozen=True)
class Plan:
    """What one tick does at ``now``: run ``due``, record ``missed``, start ``baseline``."""

    due: tuple[Due, ...] = ()
    missed: tuple[Missed, ...] = ()
    baseline: tuple[tuple[str, datetime], ...] = ()
    """``(alert, slot)`` of new alerts whose latest slot is beyond their grace."""


def in_grace(alerts: Iterable[Alert], now: datetime) -> list[Alert]:
    """Return the enabled alerts whose latest slot ``<= now`` is within their misfire grace.

    Only these can be due (or be retried) at ``now``; if there are none, a tick has nothing
    to claim and need not open the state database.
    """
    found = []
    for alert in alerts:
        if not alert.enabled:
            continue
        slot = latest_slot(alert.schedule, now)
        if slot is not None and now - slot <= alert.misfire_grace:
            found.append(alert)
    return found


def plan(alerts: Iterable[Alert], states: Mapping[str, AlertState], now: datetime) -> Plan:
    """Return what a tick at ``now`` does for ``alerts``, given their ``states`` by alert name.

    Follows the numbered rule of the module docstring. ``states`` need not hold an entry for
    every alert: a missing one is an alert that never ran.
    """
    due: list[Due] = []
    missed: list[Missed] = []
    baseline: list[tuple[str, datetime]] = []
    for alert in alerts:
        if not alert.enabled:
            continue
        slot = latest_slot(alert.schedule, now)
        if slot is None:
            continue
        state = states.get(alert.name)
        last = state.claimed_slot if state is not None else None
        within = now - slot <= alert.misfire_grace
        if last is not None and slot < last:
            continue
        if state is not None and slot == last:
            if within and _lease_lapsed(state, slot, now):
                due.append(Due(alert.name, slot, retry=True))
            continue
        if last is None:
            if within:
                due.append(Due(alert.name, slot))
            else:
                baseline.append((alert.name, slot))
            continue
        if state is not None and _in_flight(state, now):
            continue  # the previous slot's run still holds its lease: let it finish and record
        coalesced = count_between(alert.schedule, last, slot)
        if state is not None and state.completed_slot != last:
            # its runner died and its lease ran out after the grace: no row says it ran
            coalesced = min(coalesced + 1, COALESCE_CAP)
        if within:
            due.append(Due(alert.name, slot, coalesced))
        else:
            missed.append(Missed(alert.name, slot, coalesced))
    return Plan(tuple(due), tuple(missed), tuple(baseline))


def _in_flight(state: AlertState, now: datetime) -> bool:
    """Say whether the claimed slot's run is still going: not completed, lease not expired.

    A newer slot waits for it instead of taking the claim over, which would refuse that
    run's record; the newer slot is counted as coalesced by the run after.
    """
    return (
        state.completed_slot != state.claimed_slot
        and state.lease_expires is not None
        and state.lease_expires > now
    )


def _lease_lapsed(state: AlertState, slot: datetime, now: datetime) -> bool:
    """Say whether the claim of ``slot`` ended without completion: its runner is gone."""
    return (
        state.completed_slot != slot
        and state.lease_expires is not None
        and state.lease_expires <= now
    )


@lru_cache(maxsize=_MEMO)
def latest_slot(schedule: CronSchedule, now: datetime) -> datetime | None:
    """Return ``schedule``'s latest slot at or before ``now`` (memoised: alerts share schedules)."""
    return schedule.latest_at_or_before(now)


@lru_cache(maxsize=_MEMO)
def count_between(
    schedule: CronSchedule, after: datetime, before: datetime, cap: int = COALESCE_CAP
) -> int:
    """Return how many slots lie strictly between ``after`` and ``before``, at most ``cap``.

    Steps through wall-clock times with one croniter iterator and maps each to the instants
    it names with the schedule's own daylight-saving rules — about five times cheaper per
    slot than calling :meth:`CronSchedule.next_after` for each, which matters after a long
    outage. Walls near a DST change are widened by a margin, so none is missed.
    """
    from croniter import CroniterBadDateError, croniter

    if before <= after or cap <= 0:
        return 0
    tz = schedule.tz
    start = schedule._wall(after)
    if _near_dst_change(tz, after):
        start -= _DST_MARGIN
    stop = schedule._wall(before)
    if _near_dst_change(tz, before):
        stop += _DST_MARGIN
    seen: set[datetime] = set()
    walls = croniter(schedule.expression, start)
    try:
        while True:
            wall = walls.get_next(datetime)
            if wall >= stop:
                return len(seen)
            for instant in schedule._instants(wall):
                if after < instant < before:
                    seen.add(instant)
                    if len(seen) >= cap:
                        return cap
    except (CroniterBadDateError, OverflowError):  # ran off the end of the calendar
        return len(seen)


def _near_dst_change(tz: tzinfo, instant: datetime) -> bool:
    """Say whether the UTC offset changes within the margin on either side of ``instant``."""
    offsets = {
        (instant + shift).astimezone(tz).utcoffset()
        for shift in (-_DST_MARGIN, timedelta(0), _DST_MARGIN)
    }
    return len(offsets) > 1

"""Due computation: which slot each alert runs, retries, misses or starts from, at an instant.

Pure functions: alerts, state rows and ``now`` in, a plan out. The DST cases use Europe/Berlin
in 2026 (see test_cron.py): spring forward on 2026-03-29 at 01:00 UTC (02:00 CET -> 03:00
CEST), fall back on 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlsentinel.config.model import Alert
from sqlsentinel.models import AlertState
from sqlsentinel.scheduler.cron import CronSchedule
from sqlsentinel.scheduler.due import (
    COALESCE_CAP,
    Due,
    Missed,
    Plan,
    count_between,
    in_grace,
    plan,
)

MINUTE = timedelta(minutes=1)


def utc(text: str) -> datetime:
    """Return the UTC instant written as ``YYYY-MM-DDTHH:MM`` (seconds optional)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def alert(
    name: str = "a",
    schedule: str = "* * * * *",
    timezone: str = "UTC",
    grace: timedelta = timedelta(minutes=5),
    *,
    enabled: bool = True,
) -> Alert:
    return Alert(
        name=name,
        query="SELECT 'OK' AS status",
        schedule=CronSchedule(schedule, timezone),
        database="default",
        enabled=enabled,
        misfire_grace=grace,
    )


def done(name: str, slot: datetime) -> AlertState:
    """Return the state of an alert whose run of ``slot`` completed."""
    return AlertState(name, claimed_slot=slot, attempt=1, completed_slot=slot)


def running(name: str, slot: datetime, lease_expires: datetime) -> AlertState:
    """Return the state of an alert whose run of ``slot`` was claimed and has not completed."""
    return AlertState(
        name, claimed_slot=slot, attempt=1, lease_owner="r1", lease_expires=lease_expires
    )


# --- new alerts -----------------------------------------------------------------------------


def test_a_new_alert_within_its_grace_is_due_with_nothing_coalesced() -> None:
    result = plan([alert()], {}, utc("2026-05-01T12:00:30"))
    assert result == Plan(due=(Due("a", utc("2026-05-01T12:00"), coalesced=0, retry=False),))


def test_a_new_alert_beyond_its_grace_starts_from_a_baseline_without_running() -> None:
    daily = alert(schedule="0 9 * * *")
    result = plan([daily], {}, utc("2026-05-01T12:00"))
    assert result == Plan(baseline=(("a", utc("2026-05-01T09:00")),))


def test_a_state_row_that_never_claimed_counts_as_a_new_alert() -> None:
    now = utc("2026-05-01T12:00:30")
    assert plan([alert()], {"a": AlertState("a")}, now).due == (Due("a", utc("2026-05-01T12:00")),)


def test_an_alert_whose_schedule_never_fired_has_nothing_to_do() -> None:
    class NeverFired(CronSchedule):
        def latest_at_or_before(self, now: datetime) -> datetime | None:
            return None

    never = replace(alert(), schedule=NeverFired("7 7 7 7 *"))
    assert plan([never], {}, utc("2026-05-01T12:00")) == Plan()
    assert in_grace([never], utc("2026-05-01T12:00")) == []


# --- disabled alerts ------------------------------------------------------------------------


def test_a_disabled_alert_is_never_due_missed_or_baselined() -> None:
    now = utc("2026-05-01T12:00:30")
    alerts = [
        alert("fresh", enabled=False),
        alert("late", schedule="0 9 * * *", enabled=False),
        alert("behind", enabled=False),
    ]
    states = {"behind": done("behind", utc("2026-05-01T11:00"))}
    assert plan(alerts, states, now) == Plan()
    assert in_grace(alerts, now) == []


# --- the slot claimed before ----------------------------------------------------------------


def test_a_claimed_slot_whose_lease_still_holds_is_not_run_again() -> None:
    slot, now = utc("2026-05-01T12:00"), utc("2026-05-01T12:00:40")
    states = {"a": running("a", slot, lease_expires=utc("2026-05-01T12:01"))}
    assert plan([alert()], states, now) == Plan()


def test_a_completed_slot_is_not_run_again_even_after_its_lease() -> None:
    slot, now = utc("2026-05-01T12:00"), utc("2026-05-01T12:00:40")
    state = replace(running("a", slot, utc("2026-05-01T12:00:20")), completed_slot=slot)
    assert plan([alert()], {"a": state}, now) == Plan()


def test_a_slot_whose_lease_expired_within_its_grace_is_retried() -> None:
    every_ten = alert(schedule="*/10 * * * *")
    slot, now = utc("2026-05-01T12:00"), utc("2026-05-01T12:03")
    states = {"a": running("a", slot, lease_expires=utc("2026-05-01T12:02"))}
    assert plan([every_ten], states, now) == Plan(due=(Due("a", slot, retry=True),))


def test_a_lease_expiring_exactly_now_counts_as_expired() -> None:
    slot = utc("2026-05-01T12:00")
    states = {"a": running("a", slot, lease_expires=utc("2026-05-01T12:00:30"))}
    result = plan([alert(schedule="*/10 * * * *")], states, utc("2026-05-01T12:00:30"))
    assert result.due == (Due("a", slot, retry=True),)


def test_a_slot_whose_lease_expired_beyond_its_grace_is_lost_and_counted_by_the_next() -> None:
    every_ten = alert(schedule="*/10 * * * *")
    slot = utc("2026-05-01T12:00")
    states = {"a": running("a", slot, lease_expires=utc("2026-05-01T12:04"))}
    assert plan([every_ten], states, utc("2026-05-01T12:06")) == Plan()
    later = plan([every_ten], states, utc("2026-05-01T12:20:05"))
    # 12:00 (claimed, never completed) and 12:10 (never claimed)
    assert later.due == (Due("a", utc("2026-05-01T12:20"), coalesced=2),)


def test_a_claim_without_a_lease_is_never_retried() -> None:
    slot = utc("2026-05-01T12:00")
    states = {"a": AlertState("a", claimed_slot=slot)}  # e.g. a slot recorded as missed
    assert plan([alert(schedule="*/10 * * * *")], states, utc("2026-05-01T12:01")) == Plan()


def test_an_earlier_now_than_the_last_claimed_slot_runs_nothing() -> None:
    states = {"a": done("a", utc("2026-05-01T12:30"))}
    assert plan([alert()], states, utc("2026-05-01T12:10:30")) == Plan()
    assert in_grace([alert()], utc("2026-05-01T12:10:30")) != []  # the fast path cannot know


# --- catch-up and missed slots --------------------------------------------------------------


def test_ticks_ten_minutes_apart_run_the_latest_minute_once_and_coalesce_nine() -> None:
    minutely = alert()
    states = {"a": done("a", utc("2026-05-01T12:00"))}
    first = plan([minutely], states, utc("2026-05-01T12:10:02"))
    assert first.due == (Due("a", utc("2026-05-01T12:10"), coalesced=9),)
    states = {"a": done("a", utc("2026-05-01T12:10"))}
    again = plan([minutely], states, utc("2026-05-01T12:20:02"))
    assert again.due == (Due("a", utc("2026-05-01T12:20"), coalesced=9),)
    assert plan([minutely], states, utc("2026-05-01T12:10:59")) == Plan()


def test_a_daily_slot_older_than_its_grace_is_recorded_as_missed() -> None:
    daily = alert(schedule="0 9 * * *")
    states = {"a": done("a", utc("2026-04-28T09:00"))}
    result = plan([daily], states, utc("2026-05-01T09:05:01"))
    assert result == Plan(missed=(Missed("a", utc("2026-05-01T09:00"), coalesced=2),))


def test_the_grace_is_inclusive_to_the_microsecond() -> None:
    daily = alert(schedule="0 9 * * *", grace=timedelta(minutes=5))
    states = {"a": done("a", utc("2026-04-30T09:00"))}
    edge = utc("2026-05-01T09:05")
    assert plan([daily], states, edge).due == (Due("a", utc("2026-05-01T09:00")),)
    assert in_grace([daily], edge) == [daily]
    past = edge + timedelta(microseconds=1)
    assert plan([daily], states, past).missed == (Missed("a", utc("2026-05-01T09:00")),)
    assert in_grace([daily], past) == []


def test_a_changed_schedule_counts_the_new_schedules_slots_since_the_last_claim() -> None:
    states = {"a": done("a", utc("2026-05-01T12:07"))}  # claimed under an older schedule
    result = plan([alert(schedule="*/15 * * * *")], states, utc("2026-05-01T13:00:10"))
    assert result.due == (Due("a", utc("2026-05-01T13:00"), coalesced=3),)


def test_each_alert_is_planned_on_its_own_and_unknown_states_are_ignored() -> None:
    now = utc("2026-05-01T12:00:30")
    alerts = [alert("new"), alert("daily", schedule="0 9 * * *"), alert("done")]
    states = {
        "done": done("done", utc("2026-05-01T12:00")),
        "daily": done("daily", utc("2026-04-30T09:00")),
        "removed": done("removed", utc("2020-01-01T00:00")),
    }
    assert plan(alerts, states, now) == Plan(
        due=(Due("new", utc("2026-05-01T12:00")),),
        missed=(Missed("daily", utc("2026-05-01T09:00")),),
    )


def test_a_year_of_downtime_caps_the_coalesced_count_and_stays_fast() -> None:
    minutely, every_minute_berlin = alert("utc"), alert("berlin", timezone="Europe/Berlin")
    last, now = utc("2025-05-01T12:00"), utc("2026-05-01T12:00:05")
    states = {"utc": done("utc", last), "berlin": done("berlin", last)}
    started = time.perf_counter()
    result = plan([minutely, every_minute_berlin], states, now)
    elapsed = time.perf_counter() - started
    assert [due.coalesced for due in result.due] == [COALESCE_CAP, COALESCE_CAP]
    assert elapsed < 3.0  # about 0.2 s each here; stepping next_after would take about 1 s

    daily_missed = plan([alert("m", schedule="0 9 * * *")], {"m": done("m", last)}, now)
    assert daily_missed.missed == (Missed("m", utc("2026-05-01T09:00"), coalesced=364),)


# --- daylight saving: a ticker every minute across both 2026 transitions --------------------


def simulate(schedule: str, start: datetime, end: datetime, offset: timedelta) -> list[datetime]:
    """Tick every minute (at ``offset`` past it) from ``start`` to ``end``; return slots run.

    State is updated as the tick would: a run or a baseline claims and completes its slot.
    """
    berlin = alert(schedule=schedule, timezone="Europe/Berlin")
    states: dict[str, AlertState] = {}
    ran: list[datetime] = []
    now = start + offset
    while now < end:
        result = plan([berlin], states, now)
        assert result.missed == ()
        assert [due.coalesced for due in result.due] == [0] * len(result.due)
        for name, slot in result.baseline:
            states[name] = done(name, slot)
        for due in result.due:
            ran.append(due.slot)
            states[due.alert] = done(due.alert, due.slot)
        now += MINUTE
    return ran


TICK_OFFSETS = pytest.mark.parametrize(
    "offset", [timedelta(0), timedelta(seconds=59)], ids=["on-the-minute", "59s-late"]
)


@TICK_OFFSETS
def test_a_daily_0230_runs_at_0300_cest_when_spring_forward_skips_it(offset: timedelta) -> None:
    ran = simulate("30 2 * * *", utc("2026-03-28T22:00"), utc("2026-03-29T04:00"), offset)
    assert ran == [utc("2026-03-29T01:00")]  # 03:00 CEST, the first valid minute


@TICK_OFFSETS
def test_a_daily_0230_runs_once_in_the_first_pass_of_the_repeated_hour(offset: timedelta) -> None:
    ran = simulate("30 2 * * *", utc("2026-10-24T22:00"), utc("2026-10-25T04:00"), offset)
    assert ran == [utc("2026-10-25T00:30")]  # 02:30 CEST, not 02:30 CET


@TICK_OFFSETS
def test_an_hourly_schedule_runs_every_real_hour_across_spring_forward(offset: timedelta) -> None:
    ran = simulate("0 * * * *", utc("2026-03-28T22:00"), utc("2026-03-29T04:00"), offset)
    # 23:00 CET, 00:00, 01:00 CET, (02:00 does not exist), 03:00 CEST, 04:00, 05:00
    assert ran == [utc(f"2026-03-2{d}T{h:02}:00") for d, h in [(8, 22), (8, 23)]] + [
        utc(f"2026-03-29T{h:02}:00") for h in range(4)
    ]


@TICK_OFFSETS
def test_an_hourly_schedule_runs_both_passes_of_the_repeated_hour(offset: timedelta) -> None:
    ran = simulate("0 * * * *", utc("2026-10-24T22:00"), utc("2026-10-25T04:00"), offset)
    # 00:00, 01:00, 02:00 CEST, 02:00 CET, 03:00, 04:00 CET: one run per real hour
    assert ran == [utc(f"2026-10-2{d}T{h:02}:00") for d, h in [(4, 22), (4, 23)]] + [
        utc(f"2026-10-25T{h:02}:00") for h in range(4)
    ]


# --- counting slots -------------------------------------------------------------------------


def stepped(schedule: CronSchedule, after: datetime, before: datetime) -> int:
    """Count slots strictly between the two instants the slow, obvious way."""
    count, at = 0, after
    while (at := schedule.next_after(at)) < before:
        count += 1
    return count


SCHEDULES = ["* * * * *", "*/15 * * * *", "0 * * * *", "30 2 * * *", "0,30 2,3 * * *", "@daily"]


@settings(max_examples=60, deadline=None)
@given(
    expression=st.sampled_from(SCHEDULES),
    around=st.sampled_from([utc("2026-03-29T01:00"), utc("2026-10-25T01:00")]),
    start=st.integers(min_value=-6 * 60, max_value=6 * 60),
    length=st.integers(min_value=0, max_value=8 * 60),
)
def test_counting_slots_agrees_with_stepping_through_them_across_dst(
    expression: str, around: datetime, start: int, length: int
) -> None:
    schedule = CronSchedule(expression, "Europe/Berlin")
    after = around + timedelta(minutes=start, seconds=start % 7)
    before = after + timedelta(minutes=length)
    assert count_between(schedule, after, before) == stepped(schedule, after, before)


def test_counting_slots_stops_at_the_cap() -> None:
    minutely = CronSchedule("* * * * *")
    assert count_between(minutely, utc("2026-05-01T12:00"), utc("2026-05-01T13:00"), 10) == 10
    assert count_between(minutely, utc("2026-05-01T13:00"), utc("2026-05-01T12:00")) == 0


# --- in_grace and plan agree ----------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    expression=st.sampled_from(SCHEDULES),
    grace_minutes=st.integers(min_value=0, max_value=90),
    now_minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
    last_minutes=st.one_of(st.none(), st.integers(min_value=-2 * 24 * 60, max_value=24 * 60)),
    lease_minutes=st.one_of(st.none(), st.integers(min_value=-60, max_value=60)),
)
def test_only_alerts_in_grace_can_be_due(
    expression: str,
    grace_minutes: int,
    now_minutes: int,
    last_minutes: int | None,
    lease_minutes: int | None,
) -> None:
    the_alert = alert(schedule=expression, grace=timedelta(minutes=grace_minutes))
    now = utc("2026-10-24T00:00:30") + timedelta(minutes=now_minutes)
    states = {}
    if last_minutes is not None:
        slot = now.replace(second=0) - timedelta(minutes=last_minutes)
        lease = None if lease_minutes is None else now + timedelta(minutes=lease_minutes)
        states["a"] = AlertState("a", claimed_slot=slot, lease_expires=lease)
    result = plan([the_alert], states, now)
    if result.due:
        assert in_grace([the_alert], now) == [the_alert]
    assert len(result.due) + len(result.missed) + len(result.baseline) <= 1

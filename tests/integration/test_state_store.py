"""The state store keeps its promises on every backend: memory, SQLite, PostgreSQL, MariaDB.

Each test body runs over the ``store`` fixture (tests/integration/conftest.py), so the
in-memory fake that unit tests rely on is held to the same behaviour as the SQL store. Every
call takes ``now``: leases expire because a test says it is later, never by sleeping.

The last section runs claims at the same moment from threads and from OS processes, and
shows that each (alert, slot) is won exactly once — and that SQLite's writers queue behind
``BEGIN IMMEDIATE`` rather than failing with "database is locked".
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sqlsentinel.database import statements
from sqlsentinel.database.engines import get_state_engine
from sqlsentinel.database.schema import executions, state
from sqlsentinel.errors import StateStoreError
from sqlsentinel.executor.history import MISSED, Execution
from sqlsentinel.executor.state import Claim, Claimed, Record, SqlStateStore, StateStore
from sqlsentinel.models import AlertState, Kind, Pending, Status, TriggeredBy
from sqlsentinel.testing import MemoryStateStore
from tests.support import state_workers

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
US = timedelta(microseconds=1)


def slot(n: int) -> datetime:
    """Return the n-th minute slot after T0."""
    return T0 + timedelta(minutes=n)


def claim(
    store: StateStore, alert: str, at: datetime, runner: str, now: datetime | None = None
) -> list[Claimed]:
    """Claim ``(alert, at)`` for ``runner`` at ``now`` (default: the slot itself)."""
    now = at if now is None else now
    return store.claim([Claim(alert, at, now + LEASE)], runner, now)


def run_of(
    claimed: Claimed, runner: str, now: datetime, status: Status = Status.OK, **values: object
) -> Execution:
    return Execution(
        alert=claimed.alert,
        triggered_by=TriggeredBy.CRON,
        status=status.value,
        started_at=now,
        finished_at=now,
        slot=claimed.slot,
        attempt=claimed.attempt,
        runner_id=runner,
        **values,  # type: ignore[arg-type]
    )


def record_of(
    claimed: Claimed, runner: str, now: datetime, status: Status = Status.OK, **changes: object
) -> Record:
    """Return the record of a claimed run that ended with ``status`` (and state ``changes``)."""
    previous = claimed.previous
    new = replace(
        previous,
        last_status=status,
        last_run_at=now,
        consecutive_alerts=previous.consecutive_alerts + 1 if status is Status.ALERT else 0,
        consecutive_oks=previous.consecutive_oks + 1 if status is Status.OK else 0,
        **changes,  # type: ignore[arg-type]
    )
    return Record(new, run_of(claimed, runner, now, status), claimed.slot, claimed.attempt)


def complete(store: StateStore, alert: str, at: datetime, runner: str = "r1") -> None:
    """Claim and record ``(alert, at)`` as OK."""
    [won] = claim(store, alert, at, runner)
    assert store.record([record_of(won, runner, at)], runner, at) == []


def manual_run(alert: str, now: datetime, status: Status = Status.OK) -> Execution:
    return Execution(alert, TriggeredBy.MANUAL, status.value, started_at=now, finished_at=now)


def same_runs(runs: list[Execution]) -> list[Execution]:
    """Return ``runs`` as comparable values: without the ids the store assigned."""
    return [replace(run, id=None) for run in runs]


def as_stored(run: Execution) -> Execution:
    """Return ``run`` as a store gives it back (JSON lists, not tuples)."""
    return replace(run, context=dict(run.context), notifications=list(run.notifications))


def plant_execution(store: StateStore, run: Execution) -> None:
    """Put a history row straight into the store, around its API (to set up a conflict)."""
    if isinstance(store, MemoryStateStore):
        store.executions.append(run)
        return
    assert isinstance(store, SqlStateStore)
    with store.engine.connect() as conn:
        conn.execute(executions.insert().values(statements.execution_values(run)))
        conn.commit()


# --- claiming --------------------------------------------------------------------------------


def test_a_slot_is_won_once_and_a_second_runner_gets_nothing(store: StateStore) -> None:
    [won] = claim(store, "a", slot(0), "r1")

    assert (won.alert, won.slot, won.attempt) == ("a", slot(0), 1)
    assert won.previous == AlertState("a")  # never claimed before
    assert claim(store, "a", slot(0), "r2") == []
    assert claim(store, "a", slot(0), "r1", now=slot(0) + timedelta(minutes=4)) == []
    held = store.load()["a"]
    assert (held.claimed_slot, held.attempt, held.lease_owner) == (slot(0), 1, "r1")
    assert held.lease_expires == slot(0) + LEASE
    assert held.completed_slot is None


def test_one_call_claims_several_alerts_and_skips_the_taken_ones(store: StateStore) -> None:
    claim(store, "b", slot(0), "r1")

    won = store.claim([Claim(n, slot(0), slot(0) + LEASE) for n in "abc"], "r2", slot(0))

    assert sorted(c.alert for c in won) == ["a", "c"]
    assert {c.alert: c.attempt for c in won} == {"a": 1, "c": 1}


def test_a_newer_slot_is_claimable_once_the_previous_one_completed(store: StateStore) -> None:
    complete(store, "a", slot(0))

    [won] = claim(store, "a", slot(1), "r2")

    assert (won.slot, won.attempt) == (slot(1), 1)
    assert won.previous.completed_slot == slot(0)
    assert won.previous.last_status is Status.OK
    assert claim(store, "a", slot(0), "r3") == []  # an older slot never again


def test_a_newer_slot_waits_while_the_previous_run_is_in_flight(store: StateStore) -> None:
    [first] = claim(store, "a", slot(0), "r1")  # leased until slot(0) + 5 min

    assert claim(store, "a", slot(1), "r2") == []
    assert claim(store, "a", slot(4), "r2", now=slot(0) + LEASE - US) == []
    [won] = claim(store, "a", slot(5), "r2", now=slot(0) + LEASE)  # the lease has expired

    assert (won.slot, won.attempt) == (slot(5), 1)
    assert won.previous.lease_owner == "r1"
    late = record_of(first, "r1", slot(6))
    assert store.record([late], "r1", slot(6)) == ["a"]  # the killed runner's write is refused
    assert store.history(None, 10) == []


def test_an_expired_lease_is_reclaimed_with_the_next_attempt_and_the_stale_runner_fenced(
    store: StateStore,
) -> None:
    [first] = claim(store, "a", slot(0), "r1")
    assert claim(store, "a", slot(0), "r2", now=slot(0) + LEASE - US) == []

    [second] = claim(store, "a", slot(0), "r2", now=slot(0) + LEASE)

    assert second.attempt == 2
    assert second.previous.lease_owner == "r1"
    stale = record_of(first, "r1", slot(6), Status.ALERT)
    assert store.record([stale], "r1", slot(6)) == ["a"]
    still = store.load()["a"]
    assert (still.lease_owner, still.attempt, still.completed_slot) == ("r2", 2, None)
    assert still.last_status is None
    assert store.history(None, 10) == []

    assert store.record([record_of(second, "r2", slot(7))], "r2", slot(7)) == []
    done = store.load()["a"]
    assert (done.completed_slot, done.attempt, done.lease_owner, done.lease_expires) == (
        slot(0),
        2,
        None,
        None,
    )
    assert [(r.slot, r.attempt, r.runner_id) for r in store.history("a", 10)] == [
        (slot(0), 2, "r2")
    ]
    assert claim(store, "a", slot(0), "r3", now=slot(20)) == []  # done is done
    assert store.record([stale], "r1", slot(8)) == ["a"]  # and still refused afterwards


def test_a_late_write_is_accepted_while_no_one_took_the_slot_over(store: StateStore) -> None:
    [won] = claim(store, "a", slot(0), "r1")

    assert store.record([record_of(won, "r1", slot(9))], "r1", slot(9)) == []
    assert store.load()["a"].completed_slot == slot(0)


# --- recording -------------------------------------------------------------------------------


def test_record_writes_the_state_and_the_history_row(store: StateStore) -> None:
    [won] = claim(store, "a", slot(0), "r1")
    record = record_of(
        won,
        "r1",
        slot(0) + timedelta(seconds=2),
        Status.ALERT,
        firing_notified=True,
        last_notified_at=slot(0) + timedelta(seconds=2),
        last_notified_kind=Kind.FIRING,
        config_hash="c0ffee",
    )

    assert store.record([record], "r1", slot(0) + timedelta(seconds=2)) == []

    saved = store.load()["a"]
    assert saved == replace(
        record.state,
        claimed_slot=slot(0),
        attempt=1,
        completed_slot=slot(0),
        lease_owner=None,
        lease_expires=None,
    )
    assert same_runs(store.history("a", 10)) == [as_stored(record.execution)]


def test_a_refused_record_writes_neither_state_nor_history(store: StateStore) -> None:
    [won] = claim(store, "a", slot(0), "r1")
    [other] = claim(store, "b", slot(0), "r1")
    before = store.load()
    forged = record_of(replace(won, attempt=7), "r1", slot(1), Status.ALERT)
    stranger = record_of(other, "someone-else", slot(1), Status.ALERT)
    unknown = record_of(replace(won, alert="nobody", previous=AlertState("nobody")), "r1", slot(1))

    assert store.record([forged, unknown], "r1", slot(1)) == ["a", "nobody"]
    assert store.record([stranger], "someone-else", slot(1)) == ["b"]
    assert store.load() == before
    assert store.history(None, 10) == []


def test_one_record_call_keeps_the_accepted_and_drops_the_refused(store: StateStore) -> None:
    [a] = claim(store, "a", slot(0), "r1")
    [b] = claim(store, "b", slot(0), "r1")
    stale_b = replace(b, attempt=2)

    refused = store.record(
        [record_of(a, "r1", slot(0)), record_of(stale_b, "r1", slot(0))], "r1", slot(0)
    )

    assert refused == ["b"]
    assert [r.alert for r in store.history(None, 10)] == ["a"]
    assert store.load()["b"].completed_slot is None


def test_state_and_history_change_in_one_transaction(store: StateStore) -> None:
    """A history row that cannot be written takes the state update back with it."""
    [won] = claim(store, "a", slot(0), "r1")
    [other] = claim(store, "b", slot(0), "r1")
    before = store.load()
    plant_execution(store, run_of(won, "intruder", slot(0)))  # same (alert, slot, attempt)

    with pytest.raises(StateStoreError):
        store.record(
            [record_of(other, "r1", slot(1)), record_of(won, "r1", slot(1))], "r1", slot(1)
        )

    assert store.load() == before  # neither alert's claim was completed
    assert [r.runner_id for r in store.history(None, 10)] == ["intruder"]


def test_a_missed_slot_is_marked_claimed_and_done_with_a_missed_row(store: StateStore) -> None:
    missed = Execution(
        "a", TriggeredBy.CRON, MISSED, started_at=slot(9), finished_at=slot(9), slot=slot(0)
    )

    assert store.record_missed([missed], "r1", slot(9)) == 1

    saved = store.load()["a"]
    assert (saved.claimed_slot, saved.completed_slot, saved.attempt) == (slot(0), slot(0), 1)
    assert (saved.lease_owner, saved.lease_expires) == (None, None)
    assert same_runs(store.history("a", 10)) == [as_stored(missed)]
    assert claim(store, "a", slot(0), "r2", now=slot(9)) == []
    assert [c.slot for c in claim(store, "a", slot(9), "r2")] == [slot(9)]


def test_a_missed_slot_never_overrides_a_newer_claim_or_a_run_in_flight(
    store: StateStore,
) -> None:
    claim(store, "newer", slot(5), "r1")
    claim(store, "busy", slot(0), "r1")  # in flight until slot(5)

    def missed(alert: str, at: datetime) -> Execution:
        return Execution(alert, TriggeredBy.CRON, MISSED, slot(3), slot(3), slot=at)

    before = store.load()
    wanted = [missed("newer", slot(2)), missed("newer", slot(5)), missed("busy", slot(2))]
    assert store.record_missed(wanted, "r2", slot(3)) == 0
    assert store.load() == before
    assert store.history(None, 10) == []

    assert store.record_missed([missed("busy", slot(2))], "r2", slot(0) + LEASE) == 1
    assert store.load()["busy"].completed_slot == slot(2)


def test_a_baseline_only_starts_alerts_that_were_never_claimed(store: StateStore) -> None:
    complete(store, "old", slot(0))
    claim(store, "busy", slot(0), "r1")
    before = store.load()

    store.baseline([("new", slot(7)), ("old", slot(7)), ("busy", slot(7))], slot(8))

    after = store.load()
    assert (after["new"].claimed_slot, after["new"].completed_slot) == (slot(7), slot(7))
    assert after["old"] == before["old"]
    assert after["busy"] == before["busy"]
    assert [r.alert for r in store.history(None, 10)] == ["old"]  # a baseline is no run
    assert store.read("new")[1] > 0  # it is a write like any other (see record_manual)
    assert claim(store, "new", slot(7), "r2", now=slot(8)) == []
    assert [c.attempt for c in claim(store, "new", slot(8), "r2")] == [1]


# --- runs by hand ----------------------------------------------------------------------------


def test_a_run_by_hand_stores_its_state_when_no_one_wrote_meanwhile(store: StateStore) -> None:
    previous, revision = store.read("a")
    assert previous == AlertState("a")
    new = replace(previous, last_status=Status.ALERT, consecutive_alerts=1, last_run_at=slot(0))

    assert store.record_manual(new, manual_run("a", slot(0), Status.ALERT), revision, slot(0))

    saved, later = store.read("a")
    assert saved == new
    assert later != revision
    assert [r.triggered_by for r in store.history("a", 10)] == [TriggeredBy.MANUAL]


def test_a_run_by_hand_loses_its_state_to_a_write_in_between_but_keeps_its_history(
    store: StateStore,
) -> None:
    complete(store, "a", slot(0))
    previous, revision = store.read("a")
    store.silence("a", slot(60), "maintenance", slot(1))  # someone writes in between
    mine = replace(previous, last_status=Status.ALERT, consecutive_alerts=9)

    assert not store.record_manual(mine, manual_run("a", slot(2)), revision, slot(2))

    saved, _ = store.read("a")
    assert saved.consecutive_alerts == 0  # the state is not overwritten
    assert saved.silenced_until == slot(60)  # and the silence stands
    assert [r.triggered_by for r in store.history("a", 10)] == [
        TriggeredBy.MANUAL,
        TriggeredBy.CRON,
    ]


def test_a_scheduled_run_in_between_also_wins_over_a_run_by_hand(store: StateStore) -> None:
    previous, revision = store.read("a")
    complete(store, "a", slot(0))

    assert not store.record_manual(
        replace(previous, consecutive_alerts=5), manual_run("a", slot(1)), revision, slot(1)
    )
    assert store.read("a")[0].consecutive_alerts == 0


def test_a_run_by_hand_leaves_a_claim_in_flight_alone(store: StateStore) -> None:
    [won] = claim(store, "a", slot(0), "r1")
    previous, revision = store.read("a")
    mine = replace(previous, last_status=Status.ALERT, consecutive_alerts=1, last_run_at=slot(0))

    assert store.record_manual(mine, manual_run("a", slot(0)), revision, slot(0))

    held = store.load()["a"]
    assert (held.claimed_slot, held.lease_owner, held.attempt) == (slot(0), "r1", 1)
    assert held.consecutive_alerts == 1
    assert store.record([record_of(won, "r1", slot(1))], "r1", slot(1)) == []


# --- silences, history, cleanup --------------------------------------------------------------


def test_silence_and_unsilence(store: StateStore) -> None:
    store.silence("a", slot(120), "deploy ☕", slot(0))

    silenced = store.load()["a"]
    assert (silenced.silenced_until, silenced.silence_reason) == (slot(120), "deploy ☕")
    assert silenced.silenced(slot(119))
    assert not silenced.silenced(slot(120))

    complete(store, "a", slot(1))  # a run does not lift the silence
    assert store.load()["a"].silenced_until == slot(120)

    store.silence("a", None, None, slot(2))
    lifted = store.load()["a"]
    assert (lifted.silenced_until, lifted.silence_reason) == (None, None)
    assert lifted.completed_slot == slot(1)


def test_history_is_newest_first_with_a_limit_and_per_alert(store: StateStore) -> None:
    for n in range(3):
        complete(store, "a", slot(n))
        complete(store, "b", slot(n))
    store.record_manual(AlertState("b"), manual_run("b", slot(5)), store.read("b")[1], slot(5))

    latest = store.history(None, 3)
    assert [(r.alert, r.slot) for r in latest] == [("b", None), ("b", slot(2)), ("a", slot(2))]
    assert [r.slot for r in store.history("a", 10)] == [slot(2), slot(1), slot(0)]
    assert [r.slot for r in store.history("a", 2)] == [slot(2), slot(1)]
    assert len(store.history(None, 100)) == 7
    assert store.history("nobody", 10) == []


def test_forget_deletes_removed_alerts_but_not_while_leased(store: StateStore) -> None:
    complete(store, "done", slot(0))
    claim(store, "leased", slot(0), "r1")
    claim(store, "lapsed", slot(0), "r1", now=slot(0) - LEASE)
    store.silence("kept", None, None, slot(0))

    forgotten = store.forget(["done", "leased", "lapsed", "never-seen"], slot(1))

    assert forgotten == 2
    assert sorted(store.load()) == ["kept", "leased"]
    assert [r.alert for r in store.history(None, 10)] == ["done"]  # history stays
    assert store.forget([], slot(1)) == 0


def test_prune_deletes_at_most_a_batch_of_old_rows_oldest_first(store: StateStore) -> None:
    for n in range(5):
        complete(store, "old", slot(n))
    for n in range(2):
        complete(store, "new", slot(100 + n))

    assert store.prune(slot(50), 3) == 3
    assert [r.slot for r in store.history("old", 10)] == [slot(4), slot(3)]
    assert store.prune(slot(50), 3) == 2
    assert store.prune(slot(50), 3) == 0
    assert [r.slot for r in store.history(None, 10)] == [slot(101), slot(100)]


# --- what goes in comes out ------------------------------------------------------------------


def _times(value: object) -> Iterator[datetime]:
    for field in fields(value):  # type: ignore[arg-type]
        item = getattr(value, field.name)
        if isinstance(item, datetime):
            yield item
        elif isinstance(item, Pending):
            yield item.slot


def test_times_round_trip_as_aware_utc_with_microseconds(store: StateStore) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    at = slot(0).astimezone(berlin)
    now = (slot(0) + timedelta(seconds=1, microseconds=123456)).astimezone(berlin)
    lease = now + timedelta(minutes=5, microseconds=654321)
    store.claim([Claim("a", at, lease)], "r1", now)

    held = store.load()["a"]
    assert held.lease_expires == lease
    assert claim(store, "a", at, "r2", now=lease - US) == []  # a microsecond still counts
    [again] = store.claim([Claim("a", at, lease + LEASE)], "r2", lease)
    finished = now + timedelta(seconds=3, microseconds=999999)
    record = record_of(
        again,
        "r2",
        finished,
        Status.ALERT,
        last_notified_at=finished,
        error_notified_at=finished - US,
        pending=Pending(Kind.FIRING, at, ("email:0",)),
    )
    record = replace(record, execution=replace(record.execution, started_at=now))
    assert store.record([record], "r2", finished) == []
    store.silence("a", finished + timedelta(hours=2, microseconds=1), None, finished)

    saved = store.load()["a"]
    [run] = store.history("a", 1)
    assert saved.last_run_at == finished
    assert saved.error_notified_at == finished - US
    assert saved.silenced_until == finished + timedelta(hours=2, microseconds=1)
    assert (run.started_at, run.finished_at, run.slot) == (now, finished, at)
    for instant in [*_times(saved), *_times(run)]:
        assert instant.utcoffset() == timedelta(0), instant
        assert instant.tzinfo is UTC, instant


def test_json_values_round_trip(store: StateStore) -> None:
    context = {
        "region": "eu-west-1",
        "ratio": 0.1,
        "tiny": 1e-7,
        "big": 12345678901234567890,
        "flag": True,
        "missing": None,
        "nested": {"list": [1, 2.5, None, "x"], "deeper": {"ok": False}},
        "kunde": "Müller & Söhne <b>",
        "emoji": "🚨 日本語",
        "quote": 'it\'s "quoted"',
    }
    notifications = [{"channel": "email", "kind": "FIRING", "ok": True, "attempts": 1}]
    [won] = claim(store, "a", slot(0), "r1")
    record = record_of(won, "r1", slot(0), Status.ALERT)
    run = replace(
        record.execution,
        actual_value=1234.56,
        threshold=9999.99,
        context=context,
        error="ошибка: ✗",
        decision="FIRING — first ALERT",
        notifications=notifications,
    )

    assert store.record([replace(record, execution=run)], "r1", slot(0)) == []

    [saved] = store.history("a", 1)
    assert (saved.actual_value, saved.threshold) == (1234.56, 9999.99)
    assert saved.context == context
    assert list(saved.context) == list(context)  # the query's column order is kept
    assert saved.notifications == notifications
    assert (saved.error, saved.decision) == ("ошибка: ✗", "FIRING — first ALERT")


def test_pending_notifications_round_trip(store: StateStore) -> None:
    pending = Pending(Kind.RESOLVED, slot(0), ("email:0", "webhook:2"))
    [won] = claim(store, "a", slot(0), "r1")

    store.record([record_of(won, "r1", slot(0), pending=pending)], "r1", slot(0))

    assert store.load()["a"].pending == pending
    [nxt] = claim(store, "a", slot(1), "r1")
    assert nxt.previous.pending == pending
    store.record([record_of(nxt, "r1", slot(1), pending=None)], "r1", slot(1))
    assert store.load()["a"].pending is None


def test_alert_names_are_exact_whatever_their_case_or_accents(store: StateStore) -> None:
    names = ["Revenue", "revenue", "REVENUE", "café", "cafe", "Straße", "strasse", "🚨" * 200]

    won = store.claim([Claim(n, slot(0), slot(5)) for n in names], "r1", slot(0))

    assert sorted(c.alert for c in won) == sorted(names)
    status = {n: Status.ALERT if i % 2 else Status.OK for i, n in enumerate(names)}
    records = [record_of(c, "r1", slot(0), status[c.alert]) for c in won]
    assert store.record(records, "r1", slot(0)) == []
    assert sorted(store.load()) == sorted(names)
    for name in names:
        assert store.load()[name].last_status is status[name]
        assert [r.alert for r in store.history(name, 10)] == [name]


# --- the constraint behind "exactly once" (SQL) ----------------------------------------------


def test_a_second_row_for_the_same_alert_slot_and_attempt_is_impossible(state_url: str) -> None:
    store = SqlStateStore.open(state_url)
    run = Execution(
        "a", TriggeredBy.CRON, "OK", started_at=slot(0), finished_at=slot(0), slot=slot(0)
    )
    manual = manual_run("a", slot(0))
    engine = get_state_engine(state_url)
    with engine.connect() as conn:
        conn.execute(executions.insert().values(statements.execution_values(run)))
        conn.execute(executions.insert().values(statements.execution_values(manual)))
        conn.execute(executions.insert().values(statements.execution_values(manual)))
        conn.execute(
            executions.insert().values(statements.execution_values(replace(run, attempt=2)))
        )
        conn.commit()

        with pytest.raises(IntegrityError):
            conn.execute(executions.insert().values(statements.execution_values(run)))
        conn.rollback()

    assert store.count() == 4  # runs by hand (no slot) may repeat; a scheduled run may not


def test_state_rows_are_one_per_alert(state_url: str) -> None:
    SqlStateStore.open(state_url)
    row = {"alert": "a", "attempt": 0, "created_at": T0, "updated_at": T0}
    with get_state_engine(state_url).connect() as conn:
        conn.execute(state.insert().values(row))
        with pytest.raises(IntegrityError):
            conn.execute(state.insert().values(row))
        conn.rollback()
        assert conn.execute(select(state.c.alert)).all() == []


# --- at the same moment ----------------------------------------------------------------------

ALERTS = [f"alert-{i:02d}" for i in range(50)]
RUNNERS = 8


def test_overlapping_claims_from_threads_win_each_pair_exactly_once(store: StateStore) -> None:
    """Eight runners claim the same 50 alerts at once, each in its own order, for 3 slots."""
    for n in range(3):
        at = slot(n)
        barrier = threading.Barrier(RUNNERS)

        def runner(i: int, at: datetime = at, barrier: threading.Barrier = barrier) -> list:
            order = ALERTS[:]
            random.Random(i).shuffle(order)  # different configs order alerts differently
            barrier.wait(timeout=60)
            return store.claim([Claim(a, at, at + LEASE) for a in order], f"r{i}", at)

        with ThreadPoolExecutor(RUNNERS) as pool:
            results = list(pool.map(runner, range(RUNNERS)))

        assert Counter(c.alert for won in results for c in won) == Counter(ALERTS)
        for i, won in enumerate(results):
            assert store.record([record_of(c, f"r{i}", at) for c in won], f"r{i}", at) == []

    runs = store.history(None, 1000)
    assert Counter((r.alert, r.slot) for r in runs) == Counter(
        (a, slot(n)) for a in ALERTS for n in range(3)
    )


@pytest.mark.parametrize("batch", [50, 5])
def test_overlapping_claims_from_processes_win_each_pair_exactly_once(
    state_url: str, batch: int
) -> None:
    """Six processes claim and record the same 50 alerts at once, for 3 slots.

    With batches of 5, claim and record transactions of different processes interleave; on
    SQLite every one of them must wait its turn for the write lock, never fail with
    "database is locked".
    """
    SqlStateStore.open(state_url)  # the schema exists; the race is about claims
    processes = 6
    slots = [slot(n) for n in range(3)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(
            target=state_workers.claim_and_record,
            args=(state_url, f"p{i}", ALERTS, slots, batch, barrier, results),
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=180) for _ in range(processes * len(slots))]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    assert [error for *_, error in reports if error] == []
    assert [refused for *_, refused, _ in reports if refused] == []
    for at in slots:
        won = Counter(a for _, s, alerts, _, _ in reports if s == at for a in alerts)
        assert won == Counter(ALERTS), at
    with get_state_engine(state_url).connect() as conn:
        rows = conn.execute(select(executions.c.alert, executions.c.slot)).all()
    assert Counter((a, statements.from_db(s)) for a, s in rows) == Counter(
        (a, s) for a in ALERTS for s in slots
    )


def test_a_claim_in_progress_locks_only_the_rows_it_claims(state_url: str) -> None:
    """A runner's claim skips the rows another is claiming, and only those.

    (On MariaDB under REPEATABLE READ the claim's SELECT … FOR UPDATE also locked the row
    after each one it read, so the other runner skipped alerts that no one was claiming.)
    """
    if state_url.startswith("sqlite"):
        pytest.skip("SQLite has no row locks: its writers take turns (see the process test)")
    store = SqlStateStore.open(state_url)
    store.baseline([(a, slot(-1)) for a in ALERTS], slot(-1))
    even = [Claim(a, slot(0), slot(5)) for a in ALERTS[::2]]
    every = [Claim(a, slot(0), slot(5)) for a in ALERTS]

    with store.engine.connect() as other_runner:
        held = other_runner.execute(statements.select_claimable(even, slot(0))).all()
        assert len(held) == 25
        won = store.claim(every, "r2", slot(0))
        other_runner.rollback()  # it died before claiming

    assert sorted(c.alert for c in won) == ALERTS[1::2]
    assert sorted(c.alert for c in store.claim(every, "r3", slot(0))) == ALERTS[::2]


def test_sqlite_state_files_are_written_in_wal_mode(tmp_path: Path) -> None:
    store = SqlStateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        conn.rollback()

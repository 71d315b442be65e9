"""The decision table as pure functions, on a fixed clock: decide() and settle() run by run."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sqlsentinel.config import Alert, load_config_text
from sqlsentinel.executor.decide import RETRY_FOR, Decision, decide, settle
from sqlsentinel.models import AlertState, Kind, Pending, QueryResult, Status
from sqlsentinel.notifications.base import ChannelOutcome, Notification
from sqlsentinel.notifications.factory import entry_ids

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
TWO_CHANNELS = (
    "    notify:\n"
    "      - channel: webhook\n"
    "        url: https://hooks.example.com/a\n"
    "      - channel: slack\n"
    "        webhook_url: https://hooks.slack.com/services/T0/B0/XYZ\n"
)
STATUS = {"A": Status.ALERT, "O": Status.OK, "E": Status.ERROR, "T": Status.TIMEOUT}


def make_alert(
    *,
    min_consecutive: int = 1,
    cooldown: str = "1h",
    recovery: bool = True,
    on_error: bool = True,
    notify: str = TWO_CHANNELS,
) -> Alert:
    config = load_config_text(
        'database: "sqlite:///x.db"\n'
        "alerts:\n"
        "  - name: orders_stuck\n"
        "    query: SELECT 'OK' AS status\n"
        "    schedule: '* * * * *'\n"
        f"    min_consecutive: {min_consecutive}\n"
        f"    cooldown: {cooldown}\n"
        f"    notify_on_recovery: {str(recovery).lower()}\n"
        f"    notify_on_error: {str(on_error).lower()}\n" + notify,
        environ={},
    )
    return config.alerts[0]


ALERT = make_alert()
WEBHOOK, SLACK = entry_ids(ALERT)
FRESH = AlertState("orders_stuck")


def result(status: Status) -> QueryResult:
    return QueryResult(status, error="boom" if status.failed else None)


def outcomes(
    decision: Decision,
    entries: Iterable[str],
    fail: Iterable[str] = (),
    permanent: Iterable[str] = (),
) -> list[ChannelOutcome]:
    """Return what the tick's channels did: ``fail``/``permanent`` name channel types."""
    sends = []
    if decision.retry is not None:
        sends.append((decision.retry.kind, decision.retry.entries))
    if decision.kind is not None:
        sends.append((decision.kind, tuple(entries)))
    found = []
    for kind, targets in sends:
        for entry in targets:
            channel = entry.split(":")[0]
            gone = channel in permanent
            ok = channel not in fail and not gone
            error = None if ok else "HTTP 401" if gone else "HTTP 503"
            found.append(ChannelOutcome(channel, kind, ok, 1, error, permanent=gone, entry=entry))
    return found


def run(
    state: AlertState,
    status: Status,
    now: datetime,
    *,
    alert: Alert = ALERT,
    fail: Iterable[str] = (),
    permanent: Iterable[str] = (),
) -> tuple[Decision, AlertState]:
    """Run the alert once at ``now`` (its slot: ``now`` truncated to the minute)."""
    slot = now.replace(second=0, microsecond=0)
    decision = decide(alert, state, result(status), slot, now)
    entries = entry_ids(alert)
    done = outcomes(decision, entries, fail, permanent)
    return decision, settle(alert, state, result(status), decision, done, entries, slot, now)


def sent(decision: Decision) -> str:
    """Say what a decision sends: 'FIRING', 'retry FIRING' or '-'."""
    if decision.retry is not None:
        return f"retry {decision.retry.kind}"
    return decision.kind.value if decision.kind is not None else "-"


def play(
    alert: Alert,
    statuses: str,
    *,
    state: AlertState = FRESH,
    start: datetime = T0,
    every: timedelta = MINUTE,
    fail: dict[int, tuple[str, ...]] | None = None,
) -> list[str]:
    """Run ``statuses`` (A, O, E, T) ``every`` apart; return what each run sent."""
    found = []
    for index, letter in enumerate(statuses.replace(" ", "")):
        failing = (fail or {}).get(index, ())
        decision, state = run(
            state, STATUS[letter], start + index * every, alert=alert, fail=failing
        )
        found.append(sent(decision))
    return found


def key(kind: Kind, slot: datetime) -> str:
    return Notification(ALERT, kind, result(Status.ALERT), slot, T0).idempotency_key


# --- counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "status", "expected"),
    [
        ((2, 0, 1), Status.ALERT, (3, 0, 0)),
        ((0, 4, 1), Status.OK, (0, 5, 0)),
        ((2, 0, 1), Status.ERROR, (2, 0, 2)),
        ((0, 4, 1), Status.TIMEOUT, (0, 4, 2)),
    ],
)
def test_counts_follow_the_result_and_an_error_leaves_the_condition_counts(
    before: tuple[int, int, int], status: Status, expected: tuple[int, int, int]
) -> None:
    alerts, oks, errors = before
    previous = AlertState(
        "a", consecutive_alerts=alerts, consecutive_oks=oks, consecutive_errors=errors
    )
    _, after = run(previous, status, T0)
    assert (after.consecutive_alerts, after.consecutive_oks, after.consecutive_errors) == expected
    assert after.last_status is status
    assert after.last_run_at == T0


def test_settle_leaves_the_claim_fields_to_the_store() -> None:
    claimed = replace(
        FRESH,
        claimed_slot=T0,
        attempt=2,
        lease_owner="runner-1",
        lease_expires=T0 + MINUTE,
        completed_slot=T0 - MINUTE,
        silenced_until=T0 - HOUR,
        silence_reason="old",
        config_hash="abc",
    )
    _, after = run(claimed, Status.ALERT, T0)
    assert (after.claimed_slot, after.attempt, after.lease_owner) == (T0, 2, "runner-1")
    assert (after.lease_expires, after.completed_slot) == (T0 + MINUTE, T0 - MINUTE)
    assert (after.silenced_until, after.silence_reason, after.config_hash) == (
        T0 - HOUR,
        "old",
        "abc",
    )


# --- FIRING and min_consecutive --------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_consecutive", "expected"),
    [
        (1, ["FIRING", "-", "-", "-"]),
        (2, ["-", "FIRING", "-", "-"]),
        (3, ["-", "-", "FIRING", "-"]),
    ],
)
def test_it_fires_once_after_min_consecutive_alerts_in_a_row(
    min_consecutive: int, expected: list[str]
) -> None:
    assert play(make_alert(min_consecutive=min_consecutive), "AAAA") == expected


def test_a_pending_alert_says_how_many_of_how_many() -> None:
    alert = make_alert(min_consecutive=3)
    decision, state = run(FRESH, Status.ALERT, T0, alert=alert)
    assert decision == Decision(None, None, "pending: 1 of 3 ALERT results in a row")
    decision, state = run(state, Status.ALERT, T0 + MINUTE, alert=alert)
    assert decision.reason == "pending: 2 of 3 ALERT results in a row"
    decision, state = run(state, Status.ALERT, T0 + 2 * MINUTE, alert=alert)
    assert decision == Decision(Kind.FIRING, None, "firing")
    assert state.firing_notified
    assert (state.last_notified_at, state.last_notified_kind) == (T0 + 2 * MINUTE, Kind.FIRING)


def test_an_ok_breaks_the_streak_so_the_count_starts_again() -> None:
    assert play(make_alert(min_consecutive=2), "A O A A") == ["-", "-", "-", "FIRING"]


# --- REPEAT and the cooldown -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected", "reason"),
    [
        (MINUTE, None, "within cooldown until 2026-11-27T10:00:00Z"),
        (59 * MINUTE + timedelta(seconds=59), None, "within cooldown until 2026-11-27T10:00:00Z"),
        (HOUR, Kind.REPEAT, "repeat: still firing after 1h"),
        (HOUR + 30 * MINUTE, Kind.REPEAT, "repeat: still firing after 1h30m"),
    ],
)
def test_a_repeat_waits_for_the_cooldown(
    after: timedelta, expected: Kind | None, reason: str
) -> None:
    _, fired = run(FRESH, Status.ALERT, T0)
    decision, _ = run(fired, Status.ALERT, T0 + after)
    assert decision == Decision(expected, None, reason)


def test_the_cooldown_counts_from_the_last_repeat() -> None:
    runs = play(ALERT, "A A A A A", every=30 * MINUTE)
    assert runs == ["FIRING", "-", "REPEAT", "-", "REPEAT"]


def test_a_cooldown_of_zero_repeats_every_run() -> None:
    assert play(make_alert(cooldown="0"), "AAAA") == ["FIRING", "REPEAT", "REPEAT", "REPEAT"]


def test_a_notified_episode_without_a_notification_time_repeats() -> None:
    odd = replace(FRESH, firing_notified=True, consecutive_alerts=4)
    decision, _ = run(odd, Status.ALERT, T0)
    assert decision == Decision(Kind.REPEAT, None, "repeat: still firing")


def test_a_tick_starting_a_second_earlier_past_the_hour_still_repeats_on_time() -> None:
    _, fired = run(FRESH, Status.ALERT, T0 + timedelta(seconds=2.5))
    decision, repeated = run(fired, Status.ALERT, T0 + HOUR + timedelta(seconds=1))
    assert decision.kind is Kind.REPEAT
    assert repeated.last_notified_kind is Kind.REPEAT
    assert repeated.last_notified_at == T0 + HOUR + timedelta(seconds=1)


# --- RESOLVED --------------------------------------------------------------------------------


def test_recovery_after_a_notified_episode_sends_resolved_and_ends_it() -> None:
    _, fired = run(FRESH, Status.ALERT, T0)
    decision, state = run(fired, Status.OK, T0 + MINUTE)
    assert decision == Decision(Kind.RESOLVED, None, "resolved")
    assert not state.firing_notified
    assert play(ALERT, "A O A", state=FRESH) == ["FIRING", "RESOLVED", "FIRING"]


def test_without_notify_on_recovery_the_episode_ends_quietly() -> None:
    alert = make_alert(recovery=False)
    _, fired = run(FRESH, Status.ALERT, T0, alert=alert)
    decision, state = run(fired, Status.OK, T0 + MINUTE, alert=alert)
    assert decision == Decision(None, None, "resolved (notify_on_recovery is off)")
    assert not state.firing_notified
    assert play(alert, "A O A") == ["FIRING", "-", "FIRING"]


@pytest.mark.parametrize("before", ["", "A", "AA"])
def test_an_ok_without_a_notified_episode_sends_nothing(before: str) -> None:
    alert = make_alert(min_consecutive=3)
    assert play(alert, before + "O")[-1] == "-"
    state = FRESH
    for letter in before:
        _, state = run(state, STATUS[letter], T0, alert=alert)
    decision, _ = run(state, Status.OK, T0 + MINUTE, alert=alert)
    assert decision == Decision(None, None, "ok")


# --- ERROR -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "on_error", "expected"),
    [
        (Status.ERROR, True, Decision(Kind.ERROR, None, "error")),
        (Status.TIMEOUT, True, Decision(Kind.ERROR, None, "timeout")),
        (Status.ERROR, False, Decision(None, None, "error (notify_on_error is off)")),
        (Status.TIMEOUT, False, Decision(None, None, "timeout (notify_on_error is off)")),
    ],
)
def test_a_failed_query_notifies_error_when_asked(
    status: Status, on_error: bool, expected: Decision
) -> None:
    decision, state = run(FRESH, status, T0, alert=make_alert(on_error=on_error))
    assert decision == expected
    assert state.error_notified_at == (T0 if on_error else None)


@pytest.mark.parametrize(
    ("after", "expected", "reason"),
    [
        (30 * MINUTE, None, "error within its cooldown until 2026-11-27T10:00:00Z"),
        (HOUR, Kind.ERROR, "error"),
        (2 * HOUR, Kind.ERROR, "error"),
    ],
)
def test_errors_in_a_row_wait_for_their_own_cooldown(
    after: timedelta, expected: Kind | None, reason: str
) -> None:
    _, failed = run(FRESH, Status.ERROR, T0)
    decision, _ = run(replace(failed, consecutive_errors=5), Status.ERROR, T0 + after)
    assert decision == Decision(expected, None, reason)


def test_a_new_error_after_a_good_run_is_told_at_once() -> None:
    assert play(ALERT, "E O E E") == ["ERROR", "-", "ERROR", "-"]
    assert play(ALERT, "E A E") == ["ERROR", "FIRING", "ERROR"]


def test_the_error_cooldown_is_its_own_clock() -> None:
    # The ERROR does not restart the REPEAT cooldown, which counts from the FIRING.
    assert play(ALERT, "A E E A", every=20 * MINUTE) == ["FIRING", "ERROR", "-", "REPEAT"]


def test_an_error_says_nothing_about_the_condition() -> None:
    alert = make_alert(min_consecutive=2)
    assert play(alert, "A E A") == ["-", "ERROR", "FIRING"]
    assert play(ALERT, "A E O") == ["FIRING", "ERROR", "RESOLVED"]


# --- silences --------------------------------------------------------------------------------


def silenced(state: AlertState = FRESH, until: datetime = T0 + 3 * HOUR) -> AlertState:
    return replace(state, silenced_until=until, silence_reason="maintenance")


def test_an_alert_firing_during_a_silence_is_notified_when_the_silence_ends() -> None:
    decision, state = run(silenced(), Status.ALERT, T0)
    assert decision == Decision(None, None, "silenced until 2026-11-27T12:00:00Z (maintenance)")
    assert not state.firing_notified
    assert state.consecutive_alerts == 1
    decision, state = run(state, Status.ALERT, T0 + 2 * HOUR)
    assert decision.kind is None
    decision, state = run(state, Status.ALERT, T0 + 3 * HOUR)
    assert decision == Decision(Kind.FIRING, None, "firing")
    assert state.firing_notified


def test_an_alert_that_fired_and_recovered_within_a_silence_sends_nothing() -> None:
    _, state = run(silenced(), Status.ALERT, T0)
    decision, state = run(state, Status.OK, T0 + HOUR)
    assert decision == Decision(None, None, "ok")
    decision, _ = run(state, Status.OK, T0 + 4 * HOUR)
    assert decision.kind is None


def test_a_silence_without_a_reason_says_only_until_when() -> None:
    quiet = replace(FRESH, silenced_until=T0 + HOUR)
    decision, _ = run(quiet, Status.ALERT, T0)
    assert decision.reason == "silenced until 2026-11-27T10:00:00Z"


def test_a_silence_over_a_notified_episode_holds_repeats_and_repeats_when_it_ends() -> None:
    _, fired = run(FRESH, Status.ALERT, T0)
    decision, state = run(silenced(fired), Status.ALERT, T0 + 2 * HOUR)
    assert decision.kind is None
    assert state.firing_notified
    decision, _ = run(state, Status.ALERT, T0 + 3 * HOUR)
    assert decision == Decision(Kind.REPEAT, None, "repeat: still firing after 3h")


def test_a_recovery_during_a_silence_still_resolves_a_firing_told_before_it() -> None:
    _, fired = run(FRESH, Status.ALERT, T0)
    decision, state = run(silenced(fired), Status.OK, T0 + HOUR)
    assert decision == Decision(Kind.RESOLVED, None, "resolved")
    assert not state.firing_notified


def test_errors_during_a_silence_are_held_and_told_when_it_ends() -> None:
    decision, state = run(silenced(), Status.TIMEOUT, T0)
    assert decision == Decision(None, None, "silenced until 2026-11-27T12:00:00Z (maintenance)")
    assert state.error_notified_at is None
    decision, _ = run(state, Status.ERROR, T0 + 3 * HOUR)
    assert decision.kind is Kind.ERROR


# --- delivery and retries --------------------------------------------------------------------


def test_a_firing_no_channel_delivered_is_retried_next_run_with_the_same_key() -> None:
    decision, state = run(FRESH, Status.ALERT, T0, fail=("webhook", "slack"))
    assert decision.kind is Kind.FIRING
    assert not state.firing_notified
    assert state.last_notified_at is None
    assert state.pending == Pending(Kind.FIRING, T0, (WEBHOOK, SLACK))

    decision, state = run(state, Status.ALERT, T0 + MINUTE)
    assert decision.kind is None
    assert decision.retry == Pending(Kind.FIRING, T0, (WEBHOOK, SLACK))
    assert decision.reason == "firing; retry the FIRING of 2026-11-27T09:00:00Z to 2 channels"
    assert key(decision.retry.kind, decision.retry.slot) == key(Kind.FIRING, T0)
    assert state.firing_notified
    assert (state.last_notified_at, state.last_notified_kind) == (T0 + MINUTE, Kind.FIRING)
    assert state.pending is None


def test_a_partial_delivery_retries_only_the_channel_that_missed_it() -> None:
    decision, state = run(FRESH, Status.ALERT, T0, fail=("slack",))
    assert state.firing_notified
    assert state.last_notified_at == T0
    assert state.pending == Pending(Kind.FIRING, T0, (SLACK,))

    decision, state = run(state, Status.ALERT, T0 + MINUTE, fail=("slack",))
    assert decision.retry == Pending(Kind.FIRING, T0, (SLACK,))
    assert decision.kind is None
    assert decision.reason == (
        "within cooldown until 2026-11-27T10:00:00Z; "
        "retry the FIRING of 2026-11-27T09:00:00Z to 1 channel"
    )
    assert state.pending == Pending(Kind.FIRING, T0, (SLACK,))

    decision, state = run(state, Status.ALERT, T0 + 2 * MINUTE)
    assert decision.retry == Pending(Kind.FIRING, T0, (SLACK,))
    assert state.pending is None
    assert state.last_notified_at == T0  # the cooldown counts from the first delivery


def test_a_permanent_failure_is_not_retried() -> None:
    decision, state = run(FRESH, Status.ALERT, T0, permanent=("slack",))
    assert state.firing_notified
    assert state.pending is None
    decision, _ = run(state, Status.ALERT, T0 + MINUTE)
    assert decision == Decision(None, None, "within cooldown until 2026-11-27T10:00:00Z")


def test_a_firing_every_channel_refused_for_good_is_tried_afresh_next_run() -> None:
    _, state = run(FRESH, Status.ALERT, T0, permanent=("webhook", "slack"))
    assert not state.firing_notified
    assert state.pending is None
    decision, _ = run(state, Status.ALERT, T0 + MINUTE)
    assert decision == Decision(Kind.FIRING, None, "firing")


def test_a_channel_without_an_outcome_is_still_owed() -> None:
    decision = decide(ALERT, FRESH, result(Status.ALERT), T0, T0)
    only_webhook = [ChannelOutcome("webhook", Kind.FIRING, True, 1, entry=WEBHOOK)]
    state = settle(
        ALERT, FRESH, result(Status.ALERT), decision, only_webhook, [WEBHOOK, SLACK], T0, T0
    )
    assert state.firing_notified
    assert state.pending == Pending(Kind.FIRING, T0, (SLACK,))


def test_an_alert_without_channels_counts_as_notified() -> None:
    alert = make_alert(notify="")
    assert play(alert, "A A O") == ["FIRING", "-", "RESOLVED"]
    _, state = run(FRESH, Status.ALERT, T0, alert=alert)
    assert state.firing_notified
    assert state.pending is None


def test_a_pending_firing_is_dropped_when_the_alert_recovers() -> None:
    _, state = run(FRESH, Status.ALERT, T0, fail=("slack",))
    decision, state = run(state, Status.OK, T0 + MINUTE)
    assert decision.kind is Kind.RESOLVED
    assert decision.retry is None
    assert (
        decision.reason == "resolved; dropped the FIRING of 2026-11-27T09:00:00Z: the result is OK"
    )
    assert state.pending is None


def test_a_firing_no_channel_delivered_is_dropped_quietly_on_recovery() -> None:
    _, state = run(FRESH, Status.ALERT, T0, fail=("webhook", "slack"))
    decision, state = run(state, Status.OK, T0 + MINUTE)
    assert (decision.kind, decision.retry) == (None, None)
    assert state.pending is None
    assert not state.firing_notified


def test_an_error_drops_a_pending_firing_and_keeps_the_episode() -> None:
    # The channel that missed the FIRING hears of the episode at the next REPEAT.
    _, state = run(FRESH, Status.ALERT, T0, fail=("slack",))
    decision, state = run(state, Status.ERROR, T0 + MINUTE)
    assert decision.kind is Kind.ERROR
    assert decision.retry is None
    assert state.pending is None
    assert state.firing_notified


def test_a_pending_firing_is_dropped_during_a_silence() -> None:
    _, state = run(FRESH, Status.ALERT, T0, fail=("slack",))
    decision, state = run(silenced(state), Status.ALERT, T0 + MINUTE)
    assert (decision.kind, decision.retry) == (None, None)
    assert decision.reason.endswith("dropped the FIRING of 2026-11-27T09:00:00Z: silenced")
    assert state.pending is None


def test_a_due_repeat_supersedes_a_pending_firing_and_goes_to_every_channel() -> None:
    _, state = run(FRESH, Status.ALERT, T0, fail=("slack",))
    decision, state = run(state, Status.ALERT, T0 + HOUR)
    assert decision.kind is Kind.REPEAT
    assert decision.retry is None
    assert decision.reason == (
        "repeat: still firing after 1h; supersedes the FIRING of 2026-11-27T09:00:00Z"
    )
    assert state.pending is None


def test_a_repeat_no_channel_delivered_is_retried_with_its_own_slot() -> None:
    alert = make_alert(cooldown="0")
    _, state = run(FRESH, Status.ALERT, T0, alert=alert)
    decision, state = run(state, Status.ALERT, T0 + MINUTE, alert=alert, fail=("webhook", "slack"))
    assert decision.kind is Kind.REPEAT
    assert state.last_notified_at == T0
    assert state.pending == Pending(Kind.REPEAT, T0 + MINUTE, (WEBHOOK, SLACK))
    decision, state = run(state, Status.ALERT, T0 + 2 * MINUTE, alert=alert)
    assert decision.kind is None
    assert decision.retry == Pending(Kind.REPEAT, T0 + MINUTE, (WEBHOOK, SLACK))
    assert state.last_notified_at == T0 + 2 * MINUTE
    # Once delivered, the next due REPEAT is a new one.
    decision, _ = run(state, Status.ALERT, T0 + 3 * MINUTE, alert=alert)
    assert (decision.kind, decision.retry) == (Kind.REPEAT, None)


def test_a_partly_delivered_repeat_is_superseded_by_the_next_one() -> None:
    alert = make_alert(cooldown="0")
    _, state = run(FRESH, Status.ALERT, T0, alert=alert)
    _, state = run(state, Status.ALERT, T0 + MINUTE, alert=alert, fail=("slack",))
    assert state.pending == Pending(Kind.REPEAT, T0 + MINUTE, (SLACK,))
    decision, state = run(state, Status.ALERT, T0 + 2 * MINUTE, alert=alert)
    assert (decision.kind, decision.retry) == (Kind.REPEAT, None)
    assert state.pending is None


def test_an_error_no_channel_delivered_is_retried_then_dropped_on_recovery() -> None:
    _, state = run(FRESH, Status.ERROR, T0, fail=("webhook", "slack"))
    assert state.error_notified_at is None
    assert state.pending == Pending(Kind.ERROR, T0, (WEBHOOK, SLACK))
    decision, retried = run(state, Status.TIMEOUT, T0 + MINUTE, fail=("slack",))
    assert decision.kind is None
    assert decision.retry == Pending(Kind.ERROR, T0, (WEBHOOK, SLACK))
    assert retried.error_notified_at == T0 + MINUTE
    assert retried.pending == Pending(Kind.ERROR, T0, (SLACK,))
    decision, state = run(retried, Status.ALERT, T0 + 2 * MINUTE)
    assert (decision.kind, decision.retry) == (Kind.FIRING, None)
    assert state.pending is None


def test_a_pending_resolved_is_retried_while_ok_even_silenced() -> None:
    _, state = run(FRESH, Status.ALERT, T0)
    _, state = run(state, Status.OK, T0 + MINUTE, fail=("slack",))
    assert state.pending == Pending(Kind.RESOLVED, T0 + MINUTE, (SLACK,))
    decision, state = run(silenced(state), Status.OK, T0 + 2 * MINUTE)
    assert decision.retry == Pending(Kind.RESOLVED, T0 + MINUTE, (SLACK,))
    assert decision.reason == "ok; retry the RESOLVED of 2026-11-27T09:01:00Z to 1 channel"
    assert state.pending is None


def test_a_pending_resolved_gives_way_to_a_new_firing() -> None:
    _, state = run(FRESH, Status.ALERT, T0)
    _, state = run(state, Status.OK, T0 + MINUTE, fail=("slack",))
    decision, state = run(state, Status.ALERT, T0 + 2 * MINUTE)
    assert (decision.kind, decision.retry) == (Kind.FIRING, None)
    assert state.pending is None


def test_a_notification_owed_for_more_than_a_day_is_dropped() -> None:
    owed = replace(FRESH, pending=Pending(Kind.RESOLVED, T0, (SLACK,)))
    decision, _ = run(owed, Status.OK, T0 + RETRY_FOR)
    assert decision.retry is not None
    decision, state = run(owed, Status.OK, T0 + RETRY_FOR + MINUTE)
    assert decision == Decision(
        None, None, "ok; dropped the RESOLVED of 2026-11-27T09:00:00Z: owed for more than 1d"
    )
    assert state.pending is None


def test_an_owed_channel_that_left_the_config_is_not_retried() -> None:
    owed = replace(FRESH, pending=Pending(Kind.RESOLVED, T0, (SLACK, "email:0000000000")))
    decision, _ = run(owed, Status.OK, T0 + MINUTE)
    assert decision.retry == Pending(Kind.RESOLVED, T0, (SLACK,))
    gone = replace(FRESH, pending=Pending(Kind.RESOLVED, T0, ("email:0000000000",)))
    decision, _ = run(gone, Status.OK, T0 + MINUTE)
    assert decision.retry is None
    assert decision.reason.endswith("its channels are no longer configured")


# --- flapping and sequences ------------------------------------------------------------------


def test_flapping_notifies_every_change_when_min_consecutive_is_one() -> None:
    assert play(ALERT, "A O A O") == ["FIRING", "RESOLVED", "FIRING", "RESOLVED"]


def test_min_consecutive_damps_flapping() -> None:
    assert play(make_alert(min_consecutive=2), "A O A O A O") == ["-"] * 6


@pytest.mark.parametrize(
    ("min_consecutive", "cooldown", "statuses", "expected"),
    [
        (2, "1h", "A A O E A", "- FIRING RESOLVED ERROR -"),
        (2, "1h", "A E A O", "- ERROR FIRING RESOLVED"),
        (1, "1h", "A A A O O A", "FIRING - - RESOLVED - FIRING"),
        (1, "0", "A A O A", "FIRING REPEAT RESOLVED FIRING"),
        (1, "1h", "E E O E T", "ERROR - - ERROR -"),
        (1, "0", "E E T", "ERROR ERROR ERROR"),
        (3, "1h", "A A E A A", "- - ERROR FIRING -"),
        (3, "1h", "A A O A A A O", "- - - - - FIRING RESOLVED"),
        (1, "2m", "A A A A A", "FIRING - REPEAT - REPEAT"),
        (1, "1h", "O O O", "- - -"),
        (2, "1h", "T A A O O", "ERROR - FIRING RESOLVED -"),
    ],
)
def test_a_sequence_of_results_sends_exactly_these_kinds(
    min_consecutive: int, cooldown: str, statuses: str, expected: str
) -> None:
    alert = make_alert(min_consecutive=min_consecutive, cooldown=cooldown)
    assert play(alert, statuses) == expected.split()


@pytest.mark.parametrize(
    ("statuses", "fail", "expected"),
    [
        # every channel fails the FIRING: retried (same slot) until delivered
        ("A A A", {0: ("webhook", "slack")}, "FIRING, retry FIRING, -"),
        # the retry fails too: retried again, then recovery drops it
        ("A A O", {0: ("webhook", "slack"), 1: ("webhook", "slack")}, "FIRING, retry FIRING, -"),
        # slack misses the FIRING: retried once, then the RESOLVED goes to everyone
        ("A A O", {0: ("slack",)}, "FIRING, retry FIRING, RESOLVED"),
        # slack misses the RESOLVED: retried on the next OK
        ("A O O O", {1: ("slack",)}, "FIRING, RESOLVED, retry RESOLVED, -"),
    ],
)
def test_a_sequence_with_failed_deliveries_sends_exactly_these(
    statuses: str, fail: dict[int, tuple[str, ...]], expected: str
) -> None:
    assert play(ALERT, statuses, fail=fail) == expected.split(", ")


FAILURES: list[tuple[str, ...]] = [(), ("slack",), ("webhook", "slack")]


@pytest.mark.parametrize("min_consecutive", [1, 2])
@pytest.mark.parametrize("cooldown", ["0", "1h"])
def test_every_short_history_keeps_the_invariants(min_consecutive: int, cooldown: str) -> None:
    """Over every 5-run history of A/O/E and rotating delivery failures: no impossible send."""
    alert = make_alert(min_consecutive=min_consecutive, cooldown=cooldown)
    for statuses in itertools.product("AOE", repeat=5):
        for offset in range(len(FAILURES)):
            state, told = FRESH, False
            for index, letter in enumerate(statuses):
                status = STATUS[letter]
                fail = FAILURES[(index + offset) % len(FAILURES)]
                decision, state = run(state, status, T0 + index * MINUTE, alert=alert, fail=fail)
                assert decision.kind is None or decision.retry is None
                kinds = {decision.kind, decision.retry.kind if decision.retry else None} - {None}
                for kind in kinds:
                    assert (
                        kind
                        in {
                            Status.ALERT: {Kind.FIRING, Kind.REPEAT},
                            Status.OK: {Kind.RESOLVED},
                            Status.ERROR: {Kind.ERROR},
                        }[status]
                    )
                if decision.kind is Kind.RESOLVED:
                    assert told  # a RESOLVED closes only an episode someone was told of
                if status is Status.OK:
                    told = False
                told = told or state.firing_notified
                if state.pending is not None:
                    assert state.pending.entries
                    assert set(state.pending.entries) <= {WEBHOOK, SLACK}

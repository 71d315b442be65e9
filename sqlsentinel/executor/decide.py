"""Decide whether a run notifies and with which kind, then what the alert's state becomes. Pure.

:func:`decide` reads the previous :class:`~sqlsentinel.models.AlertState`, the query's result,
the alert's policy and ``now``; :func:`settle` takes the same plus what each channel did and
returns the state to store. Neither reads the clock nor does I/O, so scheduled runs (CRON) and
runs by hand (MANUAL, API) share one table, tested as plain functions.

Counts (settle): ALERT → alerts+1, oks 0, errors 0. OK → oks+1, alerts 0, errors 0. ERROR or
TIMEOUT → errors+1, alerts and oks unchanged: an error says nothing about the condition, so
with ``min_consecutive: 2`` the runs ALERT, ERROR, ALERT fire on the third.

======  ======================================================  ========  =========================
Result  When (previous state; counts include this run)          Sends     Reason
======  ======================================================  ========  =========================
ALERT   silenced                                                -         silenced until T (why)
ALERT   episode not notified, alerts >= min_consecutive         FIRING    firing
ALERT   episode not notified, alerts < min_consecutive          -         pending: k of n ALERT ...
ALERT   episode notified, cooldown over since the last          REPEAT    repeat: still firing
        FIRING/REPEAT (cooldown 0: every run)                             after D
ALERT   episode notified, within the cooldown                   -         within cooldown until T
OK      episode notified, notify_on_recovery (even silenced)    RESOLVED  resolved
OK      episode notified, notify_on_recovery off                -         resolved (... is off)
OK      no notified episode                                     -         ok
failed  silenced                                                -         silenced until T (why)
failed  notify_on_error off                                     -         error (... is off)
failed  first failure after an OK or ALERT, or cooldown over    ERROR     error | timeout
        since error_notified_at
failed  within the error cooldown                               -         error within its ...
======  ======================================================  ========  =========================

Episodes. An OK ends the firing episode (``firing_notified`` false) whether or not RESOLVED is
sent. A silenced ALERT never marks the episode notified, so the first run after the silence
that is still ALERT (>= min_consecutive) sends FIRING. A RESOLVED is sent even during a
silence: ``firing_notified`` is only set by a delivery outside a silence, so people were told
about the incident, and closing it is not noise. There is no hysteresis: ALERT, OK, ALERT, OK
with ``min_consecutive: 1`` sends FIRING, RESOLVED, FIRING, RESOLVED; ``min_consecutive`` is
the damper. Cooldowns count in whole minutes (both instants truncated to the minute), as cron
does: a tick that starts a second earlier past the hour than the last one must not push an
hourly REPEAT back an hour. The error cooldown is the alert's ``cooldown`` on its own clock,
restarted by every new error streak, so the first failure after a good run is told at once.

Delivery (settle). A notification is delivered when at least one entry delivered it (or the
alert has no entries). Then FIRING/REPEAT set ``firing_notified``, ``last_notified_at = now``
and ``last_notified_kind``; ERROR sets ``error_notified_at = now``. A retry sets them only if
its notification had reached no entry before: cooldowns count from the first delivery. Entries
that failed transiently, or have no outcome, become ``pending`` with the ORIGINAL slot, so the
idempotency key stays the same. Permanent failures (a 401, an unknown recipient) are not
retried: they are recorded, and the next new notification tries them again (when every entry
refused a FIRING for good, the episode is not notified and the next run decides FIRING afresh).

Owed notifications (decide; ``previous.pending``, for entries still configured):

=========  ==========================  ===============================================
Pending    This run                    Then
=========  ==========================  ===============================================
any        slot more than a day ago    dropped
FIRING,    ALERT, not silenced         re-sent (``retry``); a due REPEAT supersedes it
REPEAT                                 (it goes to every entry)
RESOLVED   OK                          re-sent
ERROR      failed, not silenced        re-sent; a due new ERROR supersedes it
any        anything else               dropped: a FIRING never follows a recovery
=========  ==========================  ===============================================

A due notification of the pending kind that no entry has received yet *is* the pending one
(say every channel failed the FIRING: the episode is not notified, so FIRING is due again); it
is re-sent as the retry, with its original slot. So ``kind`` and ``retry`` are never both set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlsentinel.durations import format_duration
from sqlsentinel.models import AlertState, Kind, Pending, QueryResult, Status
from sqlsentinel.notifications.factory import entry_ids

if TYPE_CHECKING:
    from sqlsentinel.config import Alert
    from sqlsentinel.notifications.base import ChannelOutcome

__all__ = ["RETRY_FOR", "Decision", "decide", "settle"]

RETRY_FOR = timedelta(days=1)
"""How long after its slot a notification some channels missed is still retried."""


@dataclass(frozen=True)
class Decision:
    """What a run sends, and why.

    ``kind`` is a new notification for this run's slot, to every ``notify`` entry. ``retry`` is
    one owed from an earlier run, re-sent to the entries that missed it with its original slot,
    so its idempotency key is the same. At most one of the two is set. ``reason`` is for
    history and logs.
    """

    kind: Kind | None
    retry: Pending | None
    reason: str


def decide(
    alert: Alert, previous: AlertState, result: QueryResult, slot: datetime, now: datetime
) -> Decision:
    """Return what this run sends and why (see the module's tables).

    ``slot`` is the run's cron slot (its start, for a run by hand); the decision does not
    depend on it today, but takes it so that the tick calls :func:`settle` with the same values.
    """
    due, reason = _due(alert, previous, result.status, now)
    retry, note = _owed(alert, previous, result.status, due, now)
    if retry is not None and retry.kind is due:
        due = None  # the due notification is the owed one: re-send it with its own slot
    return Decision(due, retry, f"{reason}; {note}" if note else reason)


def settle(
    alert: Alert,
    previous: AlertState,
    result: QueryResult,
    decision: Decision,
    outcomes: Sequence[ChannelOutcome],
    entries: Sequence[str],
    slot: datetime,
    now: datetime,
) -> AlertState:
    """Return the state after this run: counts, episode, notification times, pending, status.

    ``outcomes`` are this run's channel outcomes with their ``entry`` set; ``entries`` are all
    the alert's notify entry ids (``factory.entry_ids(alert)``). The claim fields are left as
    they are: the store sets them.
    """
    status = result.status
    alerts, oks, errors = (
        previous.consecutive_alerts,
        previous.consecutive_oks,
        previous.consecutive_errors,
    )
    if status is Status.ALERT:
        alerts, oks, errors = alerts + 1, 0, 0
    elif status is Status.OK:
        alerts, oks, errors = 0, oks + 1, 0
    else:
        errors += 1  # an error says nothing about the condition: alerts and oks stand
    state = replace(
        previous,
        last_status=status,
        last_run_at=now,
        consecutive_alerts=alerts,
        consecutive_oks=oks,
        consecutive_errors=errors,
        firing_notified=previous.firing_notified and status is not Status.OK,
        pending=None,
    )
    if decision.retry is not None:
        reached = _reached(previous, decision.retry)
        state = _delivered(state, decision.retry, outcomes, reached, now)
    if decision.kind is not None:
        state = _delivered(
            state, Pending(decision.kind, slot, tuple(entries)), outcomes, False, now
        )
    return state


def _due(
    alert: Alert, previous: AlertState, status: Status, now: datetime
) -> tuple[Kind | None, str]:
    """Return the new notification this run owes (before any retry), and why."""
    if status is Status.OK:
        if not previous.firing_notified:
            return None, "ok"
        if alert.notify_on_recovery:
            return Kind.RESOLVED, "resolved"
        return None, "resolved (notify_on_recovery is off)"
    if previous.silenced_until is not None and previous.silenced(now):
        why = f" ({previous.silence_reason})" if previous.silence_reason else ""
        return None, f"silenced until {_text(previous.silenced_until)}{why}"
    if status is Status.ALERT:
        alerts = previous.consecutive_alerts + 1
        if not previous.firing_notified:
            if alerts >= alert.min_consecutive:
                return Kind.FIRING, "firing"
            return None, f"pending: {alerts} of {alert.min_consecutive} ALERT results in a row"
        last = previous.last_notified_at
        if last is None:
            return Kind.REPEAT, "repeat: still firing"
        if _cooled(last, alert.cooldown, now):
            elapsed = _minute(now) - _minute(last)
            return Kind.REPEAT, f"repeat: still firing after {format_duration(elapsed)}"
        return None, f"within cooldown until {_text(_minute(last) + alert.cooldown)}"
    word = status.value.lower()
    if not alert.notify_on_error:
        return None, f"{word} (notify_on_error is off)"
    last = previous.error_notified_at
    if previous.consecutive_errors == 0 or last is None or _cooled(last, alert.cooldown, now):
        return Kind.ERROR, word
    return None, f"{word} within its cooldown until {_text(_minute(last) + alert.cooldown)}"


def _owed(
    alert: Alert, previous: AlertState, status: Status, due: Kind | None, now: datetime
) -> tuple[Pending | None, str]:
    """Return the owed notification to re-send now, if any, and what became of it."""
    owed = previous.pending
    if owed is None:
        return None, ""
    configured = set(entry_ids(alert))
    entries = tuple(entry for entry in owed.entries if entry in configured)
    what = f"the {owed.kind} of {_text(owed.slot)}"
    if not entries:
        return None, f"dropped {what}: its channels are no longer configured"
    if now - owed.slot > RETRY_FOR:
        return None, f"dropped {what}: owed for more than {format_duration(RETRY_FOR)}"
    silenced = previous.silenced(now)
    if owed.kind is Kind.RESOLVED:
        applies = status is Status.OK
    elif owed.kind is Kind.ERROR:
        applies = status.failed and not silenced
    else:
        applies = status is Status.ALERT and not silenced
    if not applies:
        return None, f"dropped {what}: {'silenced' if silenced else f'the result is {status}'}"
    if due is not None and (due is not owed.kind or _reached(previous, owed)):
        return None, f"supersedes {what}"
    channels = f"{len(entries)} channel{'s' if len(entries) > 1 else ''}"
    return Pending(owed.kind, owed.slot, entries), f"retry {what} to {channels}"


def _reached(previous: AlertState, owed: Pending) -> bool:
    """Say whether the owed notification had reached at least one entry before this run."""
    if owed.kind is Kind.FIRING:
        return previous.firing_notified
    stamp = previous.error_notified_at if owed.kind is Kind.ERROR else previous.last_notified_at
    return stamp is not None and stamp >= owed.slot


def _delivered(
    state: AlertState,
    sent: Pending,
    outcomes: Sequence[ChannelOutcome],
    reached_before: bool,
    now: datetime,
) -> AlertState:
    """Return ``state`` with what delivering ``sent`` to its entries changed."""
    mine = [out for out in outcomes if out.kind is sent.kind and out.entry in sent.entries]
    delivered = {out.entry for out in mine if out.ok}
    given_up = {out.entry for out in mine if not out.ok and out.permanent}
    owed = tuple(entry for entry in sent.entries if entry not in delivered | given_up)
    state = replace(state, pending=Pending(sent.kind, sent.slot, owed) if owed else None)
    if reached_before or (sent.entries and not delivered):
        return state
    if sent.kind is Kind.ERROR:
        return replace(state, error_notified_at=now)
    if sent.kind in (Kind.FIRING, Kind.REPEAT):
        return replace(
            state, firing_notified=True, last_notified_at=now, last_notified_kind=sent.kind
        )
    return state


def _cooled(last: datetime, cooldown: timedelta, now: datetime) -> bool:
    """Say whether ``cooldown`` has passed since ``last``, counted in whole minutes."""
    return _minute(now) - _minute(last) >= cooldown


def _minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""The client-side guard never cancels anything once the query it guarded has ended.

On MySQL/MariaDB the cancel is ``KILL QUERY <connection id>``: a cancel that landed after the
connection went back to the pool would stop the next alert's query. So a cancel either
completes before the guard's ``__exit__`` returns (and the connection is then discarded), or
never starts. These tests need no database; threads are ordered with events, not sleeps.
"""

from __future__ import annotations

import threading

from sqlsentinel.executor.query import _Guard

WAIT = 5.0  # a bound on waiting for the other thread, never reached when the code is right


def test_a_timer_that_fires_after_the_guard_exited_cancels_nothing() -> None:
    calls: list[str] = []
    guard = _Guard(3600, lambda: calls.append("cancel"))

    with guard:
        pass
    guard._fire()  # a timer that was already due as the query ended, running late

    assert calls == []
    assert not guard.fired


def test_a_cancel_in_progress_completes_before_the_guard_exits() -> None:
    started, release = threading.Event(), threading.Event()
    events: list[str] = []

    def cancel() -> None:
        started.set()
        release.wait(WAIT)
        events.append("cancelled")

    guard = _Guard(0, cancel)
    guard.__enter__()
    assert started.wait(WAIT)

    def leave() -> None:
        guard.__exit__(None, None, None)
        events.append("exited")

    leaving = threading.Thread(target=leave)
    leaving.start()
    release.set()
    leaving.join(WAIT)

    assert events == ["cancelled", "exited"]
    assert guard.fired  # so the caller discards the connection


def test_a_failing_cancel_still_marks_the_guard_fired() -> None:
    fired = threading.Event()

    def cancel() -> None:
        fired.set()
        raise OSError("server unreachable")

    guard = _Guard(0, cancel)
    with guard:
        assert fired.wait(WAIT)

    assert guard.fired

"""Validate cron schedules and turn them into instants, correctly across daylight-saving changes.

A schedule is five cron fields (or an ``@hourly``-style alias) read in the alert's timezone,
with croniter's semantics — the same code validates a config and computes due slots, so a
schedule that validates is a schedule that runs. Instants are timezone-aware UTC datetimes.

Wall-clock times that daylight saving makes odd follow two rules:

1. **A time inside a spring-forward gap** (02:30 in Europe/Berlin on the last Sunday of March)
   does not exist. A schedule with fixed hours runs at the first valid instant after the gap
   (03:00 local), so a daily 02:30 report still runs that day.
2. **A time inside a repeated fall-back hour** (02:30 in Berlin on the last Sunday of October)
   exists twice. A schedule with fixed hours runs at the first occurrence only — a daily
   02:30 report runs once.

A schedule whose hour field is every hour (``*/15 * * * *``, ``@hourly``) describes an
interval of real time instead, as in Vixie cron: it runs at both occurrences of a repeated
hour and has no slots in a skipped one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

__all__ = ["CronSchedule", "load_timezone", "validate_cron"]

ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31 or L"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-7 or SUN-SAT, where 0 and 7 are Sunday"),
)
_HASHED_OR_RANDOM = re.compile(r"[HR](\(\d+-\d+\))?(/\d+)?", re.I)
_EXAMPLE = "for example '*/5 * * * *' or '0 9 * * MON-FRI'"
# Longest daylight-saving shift in the tz database is 2 hours (Antarctica/Troll); margins of
# 3 hours around an ambiguous time are enough to see every candidate that could map into it.
_FOLD_MARGIN = timedelta(hours=3)
_MAX_STEPS = 10_000


def validate_cron(text: object) -> str:
    """Return ``text`` normalised as a five-field cron expression, or raise ``ValueError``.

    The message says which field is wrong and what it accepts, so that a person can fix it
    without opening a cron manual.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a cron expression; write it as a quoted string")
    expression = " ".join(text.split())
    if not expression:
        raise ValueError(f"is empty; write a cron expression, {_EXAMPLE}")
    if expression.startswith("@"):
        if expression.lower() not in ALIASES:
            raise ValueError(
                f"'{text}' is not a supported schedule; use five cron fields or one of "
                f"{', '.join(ALIASES)}"
            )
        return expression.lower()
    fields = expression.split(" ")
    if len(fields) == 6:
        raise ValueError(
            f"'{text}' has 6 fields, but sqlsentinel's tick runs once a minute, so schedules "
            "have no seconds field: write the 5 fields minute hour day-of-month month "
            "day-of-week"
        )
    if len(fields) != 5:
        raise ValueError(
            f"'{text}' has {len(fields)} field{'s' if len(fields) != 1 else ''}; a cron "
            f"expression has 5 (minute hour day-of-month month day-of-week), {_EXAMPLE}"
        )
    for field in fields:
        if _HASHED_OR_RANDOM.fullmatch(field):
            raise ValueError(
                f"'{text}' uses '{field}', a hashed or random field, which would run at a "
                "different time on every tick; write the value explicitly"
            )
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"'{text}' never matches a real date (such as February 30th); check its "
            "day-of-month and month fields"
        ) from None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(
            f"'{text}' is not a valid cron expression ({_explain(fields, exc)})"
        ) from None
    return expression


def _explain(fields: list[str], exc: Exception) -> str:
    """Name the first field that is invalid on its own, or fall back on croniter's reason."""
    for index, field in enumerate(fields):
        probe = ["*"] * 5
        probe[index] = field
        try:
            croniter(" ".join(probe), datetime(2000, 1, 1))
        except (CroniterError, ValueError, KeyError, IndexError) as field_exc:
            name, allowed = _FIELDS[index]
            if "step" in str(field_exc):
                return f"{name}: the step after '/' must be 1 or more"
            return f"{name} must be {allowed}"
    return str(exc).replace("[", "").replace("]", "")


def load_timezone(name: object) -> ZoneInfo:
    """Return the IANA timezone ``name``, or raise ``ValueError`` suggesting the closest name."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{name!r} is not a timezone; use an IANA name such as 'Europe/Berlin'")
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    import difflib
    from zoneinfo import available_timezones

    known = {zone.lower(): zone for zone in available_timezones()}
    if name.lower() in known:
        hint = f"; did you mean '{known[name.lower()]}'? (names are case-sensitive)"
    else:
        close = difflib.get_close_matches(name, sorted(known.values()), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"'{name}' is not an IANA timezone name (such as 'UTC' or 'America/New_York'){hint}"
    )


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class CronSchedule:
    """A validated cron expression evaluated in one timezone.

    ``next_after`` and ``latest_at_or_before`` take and return aware datetimes; the returned
    instants are in UTC. Time is always an argument: nothing here reads the clock.
    """

    __slots__ = ("_every_hour", "expression", "timezone", "tz")

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = validate_cron(expression)
        self.timezone = timezone
        self.tz = load_timezone(timezone)
        hours = croniter(self.expression).expanded[1]
        self._every_hour = hours == ["*"] or len(set(hours)) == 24

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.timezone!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return (self.expression, self.timezone) == (other.expression, other.timezone)

    def __hash__(self) -> int:
        return hash((self.expression, self.timezone))

    def next_after(self, after: datetime) -> datetime:
        """Return the first slot strictly after ``after``."""
        after = _utc(after)
        best: datetime | None = None
        try:
            local = self._wall(after)
            start = local - _FOLD_MARGIN if self._ambiguous(local) else local
            walls = croniter(self.expression, start)
            for _ in range(_MAX_STEPS):
                instants = self._instants(walls.get_next(datetime))
                if not instants:
                    continue
                if best is not None and instants[0] >= best:
                    return best
                for instant in instants:
                    if instant > after and (best is None or instant < best):
                        best = instant
        except (CroniterBadDateError, OverflowError):  # ran off the end of the calendar
            if best is not None:
                return best
        raise ValueError(f"schedule '{self.expression}' has no slot after {after.isoformat()}")

    def latest_at_or_before(self, now: datetime) -> datetime | None:
        """Return the last slot at or before ``now``, or ``None`` if there never was one."""
        now = _utc(now)
        best: datetime | None = None
        try:
            local = self._wall(now)
            start = local + _FOLD_MARGIN if self._ambiguous(local) else local
            walls = croniter(self.expression, start + timedelta(seconds=1))
            for _ in range(_MAX_STEPS):
                instants = self._instants(walls.get_prev(datetime))
                if not instants:
                    continue
                if best is not None and instants[-1] <= best:
                    return best
                for instant in instants:
                    if instant <= now and (best is None or instant > best):
                        best = instant
        except (CroniterBadDateError, OverflowError):  # ran off the start of the calendar
            return best
        return best

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        """Return the next ``count`` slots after ``after``."""
        runs: list[datetime] = []
        for _ in range(count):
            after = self.next_after(after)
            runs.append(after)
        return runs

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def _ambiguous(self, wall: datetime) -> bool:
        first = wall.replace(tzinfo=self.tz, fold=0)
        return first.utcoffset() != wall.replace(tzinfo=self.tz, fold=1).utcoffset()

    def _instants(self, wall: datetime) -> list[datetime]:
        """Map a wall-clock slot to the instants it names, per the two rules above."""
        first = wall.replace(tzinfo=self.tz, fold=0)
        second = wall.replace(tzinfo=self.tz, fold=1)
        if first.utcoffset() == second.utcoffset():
            return [first.astimezone(UTC)]
        early, late = sorted((first.astimezone(UTC), second.astimezone(UTC)))
        if self._wall(first.astimezone(UTC)) != wall:
            return [] if self._every_hour else [self._gap_end(wall, early, late)]
        return [early, late] if self._every_hour else [early]

    def _gap_end(self, wall: datetime, low: datetime, high: datetime) -> datetime:
        """Return the first instant whose wall-clock time is at or after ``wall``."""
        lo, hi = int(low.timestamp()), int(high.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._wall(datetime.fromtimestamp(mid, UTC)) >= wall:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware datetimes")
    return instant.astimezone(UTC)

"""Answer "is anything due at ``now``?" without loading the config, from a small cache.

A tick runs every minute and usually finds nothing due. Loading the config (pydantic,
croniter) costs about as much as importing SQLAlchemy, so a full tick records what it learnt
here, and the next one reads it back with the standard library only:

1. **Key.** The SHA-256 of the config file's bytes, the value (or absence) of every
   environment variable the file references as ``${NAME...}``, the cache format and
   ``sqlsentinel.__version__``. Any change gives another key, and the cache is not used. A
   file with a YAML escape (``\\x``, ``\\u``, ``\\U`` or an escaped line break), which could
   spell a reference the scan cannot see, is keyed by the whole environment instead.
2. **Entries.** For each enabled alert: name, schedule, timezone, misfire grace, and the
   window ``[prev, next)`` around the instant it was computed at, with ``prev`` its latest slot
   and ``next`` the slot after. While ``prev <= now < next`` the latest slot is ``prev``, so no
   cron arithmetic is needed; only an alert whose window ``now`` has left is recomputed (with
   croniter, loaded then) and the cache rewritten.
3. **Quiet interval.** The first line also holds the interval in which no alert can be due:
   after every ``prev + grace`` and before every ``next``. A tick inside it reads that one line.
4. **Answer.** :func:`nothing_due` says ``True`` (nothing can be due: exit without opening the
   state database), ``False`` (something may be: do the full tick), or ``None`` (no usable
   cache: do the full tick, then call :func:`remember`). It never reads the state database,
   so it is the rule of :func:`sqlsentinel.scheduler.due.in_grace`: a slot that went out of
   its grace while no tick looked is not recorded as missed then, but counted as coalesced
   by the next run.

The cache lives in ``SQLSENTINEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/sqlsentinel``, else
``~/.cache/sqlsentinel``; when that cannot be written, in ``sqlsentinel-<uid>`` under the temp
dir. Files are written atomically (a temp file, then ``os.replace``), readable by their owner
only, and a file another user owns is not trusted. Any ``OSError`` is ignored and a corrupt
file is treated as absent: a read-only filesystem makes ticks slower, never wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlsentinel import __version__

if TYPE_CHECKING:
    from sqlsentinel.config.model import Alert
    from sqlsentinel.scheduler.cron import CronSchedule

__all__ = ["cache_dirs", "fingerprint", "nothing_due", "remember"]

FORMAT = 1
_REFERENCE = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_YAML_ESCAPE = re.compile(rb"\\[xuU\r\n]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

# The file: a header line (a JSON object), then one line holding a JSON array of entries, each
# [name, expression, timezone, grace_us, prev_us | None, next_us | None].
Entry = list[Any]


def fingerprint(path: str | os.PathLike[str], environ: Mapping[str, str]) -> str:
    """Return the cache key of the config at ``path`` in ``environ``; ``OSError`` if unreadable.

    Call it before loading the config and pass it to :func:`remember`, so that an edit made
    while the tick ran cannot be stored under the old alerts.
    """
    with open(path, "rb") as file:
        data = file.read()
    if _YAML_ESCAPE.search(data):
        names = sorted(environ)
    else:
        names = sorted({name.decode("ascii") for name in _REFERENCE.findall(data)})
    values = json.dumps([[name, environ.get(name)] for name in names])
    digest = hashlib.sha256(f"sqlsentinel-fastpath {FORMAT} {__version__}\0".encode())
    digest.update(b"%d\0" % len(data))
    digest.update(data)
    digest.update(values.encode())  # json.dumps escapes everything outside ASCII
    return digest.hexdigest()


def nothing_due(
    path: str | os.PathLike[str], environ: Mapping[str, str], now: datetime
) -> bool | None:
    """Say whether no enabled alert of the config at ``path`` can be due at ``now``.

    ``None`` means the cache cannot answer (absent, stale, corrupt): load the config.
    """
    at = _micros(now)
    try:
        key = fingerprint(path, environ)
    except OSError:
        return None  # the full path reports the unreadable config
    for directory in _dirs(environ):
        found = _read(os.path.join(directory, _file_name(path)), key)
        if found is None:
            continue
        header, body = found
        low, high = header["quiet_after"], header["quiet_until"]
        if (low is None or at > low) and (high is None or at < high):
            return True
        try:
            entries = _parse_entries(body, header["count"])
        except ValueError:
            continue  # a torn or corrupt body: as if there were no cache here
        return _decide(path, environ, key, entries, now, at)
    return None


def remember(
    path: str | os.PathLike[str],
    environ: Mapping[str, str],
    alerts: Iterable[Alert],
    now: datetime,
    *,
    key: str | None = None,
) -> None:
    """Store what :func:`nothing_due` needs about ``alerts`` (the loaded config at ``path``).

    Call it after a full tick; ``key`` is :func:`fingerprint` taken before loading the config
    (without it, the file is read again now). Windows that still hold at ``now`` are reused
    from the previous cache file, so only schedules whose slot passed are recomputed. Never
    raises ``OSError``.
    """
    from sqlsentinel.scheduler.due import latest_slot

    at = _micros(now)
    if key is None:
        try:
            key = fingerprint(path, environ)
        except OSError:
            return
    known = _reusable_windows(path, environ, at)
    entries: list[Entry] = []
    for alert in alerts:
        if not alert.enabled:
            continue
        schedule = alert.schedule
        window = known.get((schedule.expression, schedule.timezone))
        if window is None:
            prev, following = latest_slot(schedule, now), _next_slot(schedule, now)
            window = (_optional_micros(prev), _optional_micros(following))
            known[(schedule.expression, schedule.timezone)] = window
        grace = alert.misfire_grace // _MICRO
        entries.append([alert.name, schedule.expression, schedule.timezone, grace, *window])
    _write(path, environ, key, entries)


def cache_dirs(environ: Mapping[str, str]) -> list[str]:
    """Return where the cache may live, preferred first (see the module docstring)."""
    return list(_dirs(environ))


def _dirs(environ: Mapping[str, str]) -> Iterator[str]:
    """Yield the cache directories lazily: most ticks never need the temp dir's name."""
    preferred = environ.get("SQLSENTINEL_CACHE_DIR")
    if not preferred:
        xdg = environ.get("XDG_CACHE_HOME")
        home = environ.get("HOME") or os.path.expanduser("~")
        if xdg and os.path.isabs(xdg):
            preferred = os.path.join(xdg, "sqlsentinel")
        elif home and home != "~":
            preferred = os.path.join(home, ".cache", "sqlsentinel")
    if preferred:
        yield preferred
    import tempfile

    user = os.getuid() if hasattr(os, "getuid") else "user"
    yield os.path.join(tempfile.gettempdir(), f"sqlsentinel-{user}")


def _decide(
    path: str | os.PathLike[str],
    environ: Mapping[str, str],
    key: str,
    entries: list[Entry],
    now: datetime,
    at: int,
) -> bool | None:
    """Decide from each alert's window; recompute (and store) the windows ``now`` has left."""
    stale = []
    for entry in entries:
        _, _, _, grace, prev, following = entry
        if (prev is None or prev <= at) and (following is None or at < following):
            if prev is not None and at - prev <= grace:
                return False  # within its grace: the full tick has work
        else:
            stale.append(entry)
    if not stale:
        return True
    from sqlsentinel.scheduler.cron import CronSchedule
    from sqlsentinel.scheduler.due import latest_slot

    for entry in stale:
        try:
            schedule = CronSchedule(entry[1], entry[2])
        except ValueError:
            return None  # a schedule this version cannot read: let the full path say so
        prev, following = latest_slot(schedule, now), _next_slot(schedule, now)
        entry[4], entry[5] = _optional_micros(prev), _optional_micros(following)
        if entry[4] is not None and at - entry[4] <= entry[3]:
            return False
    _write(path, environ, key, entries)
    return True


def _reusable_windows(
    path: str | os.PathLike[str], environ: Mapping[str, str], at: int
) -> dict[tuple[str, str], tuple[int | None, int | None]]:
    """Return the windows of the previous cache file (any key) that still hold at ``at``."""
    for directory in _dirs(environ):
        found = _read(os.path.join(directory, _file_name(path)), None)
        if found is None:
            continue
        try:
            entries = _parse_entries(found[1], found[0]["count"])
        except ValueError:
            continue
        windows = {}
        for _, expression, timezone, _, prev, following in entries:
            if (prev is None or prev <= at) and (following is None or at < following):
                windows[(expression, timezone)] = (prev, following)
        return windows
    return {}


def _read(file_path: str, key: str | None) -> tuple[dict[str, Any], bytes] | None:
    """Return the header and the unparsed entries, if the file is ours and its key is ``key``.

    ``key=None`` accepts any key of this format and version (windows do not depend on it).
    """
    try:
        with open(file_path, "rb") as file:
            if hasattr(os, "getuid") and os.fstat(file.fileno()).st_uid != os.getuid():
                return None  # another user could plant "nothing is due" in a shared temp dir
            first = file.readline()
            body = file.read()
        header = json.loads(first)
        if (
            not isinstance(header, dict)
            or header.get("format") != FORMAT
            or header.get("version") != __version__
            or (key is not None and header.get("key") != key)
        ):
            return None
        _check_bound(header["quiet_after"])
        _check_bound(header["quiet_until"])
        _check_bound(header["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return header, body


def _parse_entries(body: bytes, count: object) -> list[Entry]:
    """Parse and check the entry lines; raise ``ValueError`` when anything is off."""
    entries = json.loads(body)
    if not isinstance(entries, list) or len(entries) != count:  # a torn write
        raise ValueError("the cache holds a different number of alerts than it says")
    for entry in entries:
        if not (
            isinstance(entry, list)
            and len(entry) == 6
            and all(isinstance(text, str) for text in entry[:3])
            and entry[3] is not None
        ):
            raise ValueError("malformed cache entry")
        for number in entry[3:]:
            _check_bound(number)
    return entries


def _check_bound(value: object) -> None:
    """Accept ``None`` or a whole number (microseconds, a count); raise ``ValueError``."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError("malformed number")


def _write(
    path: str | os.PathLike[str], environ: Mapping[str, str], key: str, entries: list[Entry]
) -> None:
    """Write the cache atomically to the first directory that takes it; ignore ``OSError``."""
    lows = [entry[4] + entry[3] for entry in entries if entry[4] is not None]
    highs = [entry[5] for entry in entries if entry[5] is not None]
    header = {
        "format": FORMAT,
        "version": __version__,
        "key": key,
        "count": len(entries),
        "quiet_after": max(lows) if lows else None,
        "quiet_until": min(highs) if highs else None,
    }
    lines = (json.dumps(part, separators=(",", ":")) for part in (header, entries))
    data = "".join(f"{line}\n" for line in lines).encode()
    for directory in _dirs(environ):
        target = os.path.join(directory, _file_name(path))
        temporary = f"{target}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
            return
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _next_slot(schedule: CronSchedule, now: datetime) -> datetime | None:
    try:
        return schedule.next_after(now)
    except ValueError:  # the schedule has no later slot the calendar can reach
        return None


def _file_name(path: str | os.PathLike[str]) -> str:
    where = os.path.abspath(os.fspath(path)).encode("utf-8", "surrogateescape")
    return f"tick-{hashlib.sha256(where).hexdigest()[:24]}.jsonl"


def _micros(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    return (instant - _EPOCH) // _MICRO


def _optional_micros(instant: datetime | None) -> int | None:
    return None if instant is None else _micros(instant)

"""Parse and format the durations people write in configs and on the command line.

``90`` (seconds), ``30s``, ``5m``, ``1h``, ``1d``, and combinations such as ``1h30m``. Plain
numbers are seconds because that is what SQL Sentinel configs and most tools assume.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# ASCII digits only: ``float()`` would also take "1e3", "1_000" and other scripts' digits,
# none of which anyone means in a config.
_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.ASCII)
_UNITS = re.compile(r"(?:\d+(?:\.\d+)?\s*[smhd]\s*)+", re.ASCII)
_EXAMPLES = "write seconds like 90, or a number with a unit: 30s, 5m, 1h, 1d, 1h30m"


def parse_duration(value: object) -> timedelta:
    """Return ``value`` as a :class:`~datetime.timedelta`, or raise ``ValueError`` saying why.

    Accepts a non-negative number of seconds (int or float, or its string) or unit parts.
    Booleans are refused even though Python counts them as ints: ``timeout: yes`` is a typo,
    not one second.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a duration; {_EXAMPLES}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:  # a YAML date, list or mapping: name what it is, not its Python repr
        raise ValueError(f"a {type(value).__name__} is not a duration; {_EXAMPLES}")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a duration; {_EXAMPLES}")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative; a duration must be 0 or more")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long to be a duration") from None


def _parse_text(text: str) -> float:
    """Read ``90``, ``30s`` or ``1h 30m``: spaces may separate parts, never split a number."""
    cleaned = text.strip().lower()
    if cleaned.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be 0 or more")
    if _NUMBER.fullmatch(cleaned):
        return float(cleaned)
    if not _UNITS.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a duration; {_EXAMPLES}")
    parts = _PART.findall(cleaned)
    units = [unit for _, unit in parts]
    if len(set(units)) != len(units) or units != sorted(units, key="dhms".index):
        raise ValueError(
            f"{text!r} repeats or reorders its units; write each unit once, largest first (1h30m)"
        )
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(value: timedelta) -> str:
    """Return ``value`` in the shortest unit form that reads back to the same duration."""
    if value < timedelta(0):
        return f"-{format_duration(-value)}"
    # integer arithmetic: total_seconds() is a float and loses microseconds on long durations
    remaining = value.days * 86400 + value.seconds
    if value.microseconds:
        return f"{remaining}.{value.microseconds:06d}".rstrip("0") + "s"  # never "1e-06s"
    if remaining == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)

"""Make values from query results safe to store as JSON and to show in a notification.

Drivers return Decimal, datetime, date, time, timedelta, bytes, UUID, arrays and more. Each
becomes the JSON value that keeps its meaning: numbers stay numbers when that loses nothing,
instants become ISO 8601 text, bytes become text.
"""

from __future__ import annotations

import base64
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlsentinel.models import JsonValue

__all__ = ["json_safe"]


def json_safe(value: object) -> JsonValue:
    """Return ``value`` as a JSON-compatible value, without losing what it says.

    * ``Decimal``: an ``int`` when whole, a ``float`` when the float prints the same digits,
      else the exact decimal text (money must not become 0.30000000000000004); text too when
      its exponent is a thousand or more either way, which no JSON number holds usefully.
    * non-finite floats and decimals: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, since JSON
      has no such numbers.
    * ``datetime``/``date``/``time``: ISO 8601 text; ``timedelta``: ``str()`` (``1 day, 2:00:00``).
    * ``bytes``: UTF-8 text when it decodes, else ``base64:...``.
    * ``UUID`` and anything else unknown (IP addresses, ranges): ``str()``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)


# Python refuses to turn an int of more than 4300 digits into text (so ``json.dumps`` fails
# on it), and PostgreSQL's NUMERIC holds 131072; beyond this many digits a decimal is text.
_MAX_INT_DIGITS = 1000


def _decimal(value: Decimal) -> JsonValue:
    if not value.is_finite():
        return "NaN" if value.is_nan() else ("-Infinity" if value < 0 else "Infinity")
    if value.is_zero():
        return 0  # however many zeros after the point (PostgreSQL: round(0, 2000))
    if abs(value.adjusted()) >= _MAX_INT_DIGITS:
        return str(value)  # exact, in scientific notation rather than a thousand zeros
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return format(value, "f")


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"

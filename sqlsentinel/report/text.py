"""Shared pieces of every report: masked JSON, one-line values, counts."""

from __future__ import annotations

import json
from typing import Any

from sqlsentinel.config.messages import printable
from sqlsentinel.models import JsonValue
from sqlsentinel.redact import redactor

__all__ = ["count", "show", "to_json"]


def to_json(value: Any) -> str:
    """Return ``value`` as indented JSON with every string in it masked.

    Masking happens value by value, before serialising: masking the finished text could
    break its syntax.
    """
    return json.dumps(_masked(value), indent=2, ensure_ascii=False, default=str)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redactor.scrub(value)
    if isinstance(value, dict):
        return {redactor.scrub(str(key)): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def show(value: JsonValue) -> str:
    """Return a query value for a text table: one line, no terminal control characters."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return printable(str(value))


def count(number: int, noun: str) -> str:
    """Return ``1 alert`` / ``3 alerts``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"

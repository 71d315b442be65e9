"""Turn pydantic's validation errors into sentences that say where and what to do.

pydantic reports ``('alerts', 0, 'notify', 1, 'email', 'recipents')`` and "Extra inputs are
not permitted"; a person needs ``alerts.yaml:12: alert 'revenue' field 'notify[1]': unknown key
'recipents' (did you mean 'recipients'?)``. This module does that translation.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from sqlsentinel.config.schema import CHANNEL_TYPES, ConfigFile
from sqlsentinel.errors import ConfigProblem

__all__ = ["Locate", "describe", "from_validation", "printable", "subject", "suggest", "value_at"]

Locate = Callable[[tuple[Any, ...]], int | None]

# Fields whose values may hold secrets: their input is never echoed in a message.
_SECRET_FIELDS = frozenset(
    {"url", "webhook_url", "webhook", "smtp_password", "password", "secret", "headers"}
)
_PLAIN = {
    "string_type": "must be text",
    "string_unicode": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list (in YAML, items start with '- ')",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "string_pattern_mismatch": "does not have the expected form",
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """Return ``text`` with control characters escaped (``\\n``), so a problem stays one line.

    Names and values come from the file; a line break in one must not split an error line.
    """
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def suggest(word: str, choices: list[str]) -> str | None:
    """Return the choice closest to ``word``, if one is close enough to be a typo."""
    lowered = {choice.lower(): choice for choice in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def describe(value: object) -> str:
    """Name the YAML type of ``value`` the way a config author thinks of it."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def subject(path: tuple[Any, ...], data: Any) -> tuple[str | None, str | None]:
    """Return (alert name, field path) for a document path, as error messages show them."""
    alert = None
    rest = path
    if len(path) >= 2 and path[0] == "alerts" and isinstance(path[1], int):
        name = value_at(data, (*path[:2], "name"))
        if isinstance(name, str) and name.strip():
            alert, rest = printable(name), path[2:]
    return alert, (printable(_render(rest)) or None)


def from_validation(
    exc: ValidationError,
    data: Any,
    label: str,
    locate: Locate,
    ignore: Collection[tuple[Any, ...]] = (),
) -> list[ConfigProblem]:
    """Return one problem per pydantic error, located in the file; skip paths in ``ignore``."""
    problems = []
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], data)
        if any(path[: len(skipped)] == skipped for skipped in ignore):
            continue
        kind = error["type"]
        top_level = kind == "missing" and path == ("alerts",)
        bad_key = kind in ("extra_forbidden", "invalid_key") or _is_key_error(error["loc"])
        where = path[:-1] if (bad_key or top_level) and path else path
        alert, field = subject(where, data)
        message = _key_message(path[-1]) if _is_key_error(error["loc"]) else None
        message = message or _message(error, path, data)
        problems.append(ConfigProblem(printable(message), label, locate(path), alert, field))
    return _unique(problems)


def _is_key_error(loc: tuple[Any, ...]) -> bool:
    """Say whether pydantic blames a mapping's key rather than its value (``labels: {5: x}``)."""
    return bool(loc) and loc[-1] == "[key]"


def _key_message(key: object) -> str:
    return f"the key {_yaml_scalar(key)} must be text; put it in quotes"


def _message(error: Any, path: tuple[Any, ...], data: Any) -> str:
    kind: str = error["type"]
    value = value_at(data, path)
    leaf = path[-1] if path else None
    if kind in ("extra_forbidden", "invalid_key"):
        allowed = _allowed_keys(error["loc"][:-1])
        close = suggest(str(leaf), allowed) if allowed else None
        hint = f" (did you mean '{close}'?)" if close else ""
        if not hint and allowed:
            hint = f" (allowed keys: {', '.join(allowed)})"
        shown = f"'{leaf}'" if isinstance(leaf, str) else _yaml_scalar(leaf)
        return f"unknown key {shown}{hint}"
    if kind == "missing":
        if path == ("alerts",):
            return "has no 'alerts:' list; add the alerts to run under 'alerts:'"
        return "is required but missing"
    if kind == "union_tag_invalid":
        if isinstance(value, dict) and value.get("channel") is None:
            return f"has an empty 'channel:'; say which channel it is: {', '.join(CHANNEL_TYPES)}"
        tag = str(error["ctx"]["tag"])
        close = suggest(tag, list(CHANNEL_TYPES))
        hint = f"did you mean '{close}'? " if close else ""
        return f"unknown channel '{tag}'; {hint}use one of {', '.join(CHANNEL_TYPES)}"
    if kind == "union_tag_not_found":
        return f"has no 'channel:'; say which channel it is: {', '.join(CHANNEL_TYPES)}"
    if kind == "too_short":
        if leaf == "alerts":
            return "is empty; add at least one alert"
        return "is empty; give at least one"
    if kind in ("literal_error", "enum"):
        expected = error["ctx"].get("expected", "")
        return f"must be one of {expected}{_got(leaf, value)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        ctx = error["ctx"]
        bound = next(iter(ctx.values()))
        word = {"greater_than_equal": "at least", "less_than_equal": "at most"}.get(kind)
        word = word or ("more than" if kind == "greater_than" else "less than")
        return f"must be {word} {bound}{_got(leaf, value)}"
    if kind == "string_pattern_mismatch" and leaf == "topic_arn":
        return "must be an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:alerts"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    plain = _PLAIN.get(kind)
    if plain is None:
        return f"{error['msg']}{_got(leaf, value)}"
    if kind == "string_type" and isinstance(value, int | float | bool | date):
        return f"{plain}; put {_yaml_scalar(value)} in quotes"
    if isinstance(value, dict | list) or value is None:
        return f"{plain}, but it is {describe(value)}"
    return f"{plain}{_got(leaf, value)}"


def _yaml_scalar(value: object) -> str:
    """Write ``value`` back the way YAML spelled it (``true``, ``2024-01-01``, ``~``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "~"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _got(leaf: object, value: object) -> str:
    if leaf in _SECRET_FIELDS or isinstance(value, dict | list) or value is None:
        return ""
    shown = repr(value) if not isinstance(value, str) else f"'{value}'"
    return f" (got {shown[:60]})"


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the parts of a pydantic location that are not in the document (union tags)."""
    path: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part not in current:
            # pydantic writes a ``null`` or ``true`` key as the text 'None' or 'True'
            part = next((key for key in current if str(key) == str(part)), part)
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and part < len(current)
        ):
            current = current[part]
        elif isinstance(part, str) and part in CHANNEL_TYPES and path and path[-2:-1] == ["notify"]:
            continue  # the discriminated-union tag pydantic inserts
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part):
            continue
        else:
            current = None
        path.append(part)
    return tuple(path)


def value_at(data: Any, path: tuple[Any, ...]) -> Any:
    """Return the value at ``path`` in the parsed document, or ``None`` if there is none."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _render(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Return the keys the model at ``loc`` accepts (fields and their aliases)."""
    target: Any = ConfigFile
    for part in loc:
        target = _step(target, part)
        if target is None:
            return []
    model = _unwrap(target)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(name)
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            keys.extend(str(choice) for choice in choices if choice != name)
    return keys


def _unwrap(target: Any) -> Any:
    while True:
        origin = get_origin(target)
        if origin is typing.Annotated:
            target = get_args(target)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in get_args(target) if arg is not type(None)]
            if len(options) != 1:
                return target
            target = options[0]
        else:
            return target


def _step(target: Any, part: Any) -> Any:
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        info = target.model_fields.get(part)
        return info.annotation if info is not None else None
    origin = get_origin(target)
    if origin is list:
        return get_args(target)[0] if isinstance(part, int) else None
    if origin is dict:
        return get_args(target)[1]
    if origin in (typing.Union, types.UnionType):
        for option in get_args(target):
            fields = getattr(option, "model_fields", {})
            channel = fields.get("channel")
            if channel is not None and get_args(channel.annotation) == (part,):
                return option
    return None


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))

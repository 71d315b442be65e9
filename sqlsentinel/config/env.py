"""Expand ``${VAR}`` and ``${VAR:-default}`` from the environment inside a parsed config.

Expansion runs after YAML parsing, on string values only, so a value can never inject YAML
structure; and never inside an alert's ``query``, whose text goes to the database exactly as
written. ``$${`` writes a literal ``${``. A variable that is unset (and has no default) is an
error naming the variable and where it is used — never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ExpansionProblem", "expand_tree", "expand_value"]

Path = tuple[Any, ...]

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\}?)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_VALUES = 100_000
"""Most values a config may hold once YAML aliases are expanded (guards against alias bombs)."""


class ExpansionProblem(Exception):
    """A value that could not be expanded, with where it is in the document.

    A ``fatal`` problem (a self-containing alias, an alias bomb) stopped the expansion, so the
    document must not be validated any further.
    """

    def __init__(self, path: Path, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.fatal = fatal


def expand_value(text: str, environ: Mapping[str, str]) -> str:
    """Return ``text`` with its variable references replaced, or raise ``ValueError``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match["body"]
        if not match["close"]:
            raise ValueError("has '${' without a closing '}'; write $${ for a literal '${'")
        name, separator, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"'${{{body}}}' is not a variable reference; write ${{NAME}} or "
                "${NAME:-default}, or $${ for a literal '${'"
            )
        value = environ.get(name)
        if value is None or (separator and value == ""):
            if separator:
                return default
            raise ValueError(
                f"uses ${{{name}}}, but the environment variable {name} is not set; set it, "
                f"or give a default with ${{{name}:-value}}"
            )
        return value

    if "${" not in text:
        return text
    return _TOKEN.sub(replace, text)


def expand_tree(
    data: Any, environ: Mapping[str, str], *, skip: Callable[[Path], bool]
) -> tuple[Any, list[ExpansionProblem]]:
    """Return a copy of ``data`` with every string value expanded, and the problems found.

    ``skip(path)`` leaves a value as written (alert queries). Keys are never expanded.
    Recursive aliases and documents that explode past :data:`MAX_VALUES` values are problems,
    not crashes.
    """
    problems: list[ExpansionProblem] = []
    active: set[int] = set()
    count = 0

    def walk(value: Any, path: Path) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            # Name the top-level key (or the alert's field) that holds the bomb, not the
            # arbitrary value deep inside it where the count ran out.
            where = path[:3] if path[:1] == ("alerts",) else path[:1]
            raise ExpansionProblem(
                where,
                f"holds more than {MAX_VALUES} values once YAML aliases are expanded; "
                "simplify the anchors and aliases",
                fatal=True,
            )
        if isinstance(value, str):
            if skip(path):
                return value
            try:
                return expand_value(value, environ)
            except ValueError as exc:
                problems.append(ExpansionProblem(path, str(exc)))
                return value
        if isinstance(value, dict | list):
            if id(value) in active:
                raise ExpansionProblem(path, "is a YAML alias that contains itself", fatal=True)
            active.add(id(value))
            try:
                if isinstance(value, dict):
                    return {key: walk(item, (*path, key)) for key, item in value.items()}
                return [walk(item, (*path, index)) for index, item in enumerate(value)]
            finally:
                active.discard(id(value))
        return value

    try:
        return walk(data, ()), problems
    except ExpansionProblem as fatal:
        return data, [*problems, fatal]

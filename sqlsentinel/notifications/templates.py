"""Render subject and body templates: ``{alert_name}`` and friends, plain names only.

Templates use Python's brace syntax restricted to plain names — no attribute or index
access, no conversions or format specs — so a template cannot reach into objects. Values
are inserted once, as data: a context value containing ``{alert_name}`` stays that text.
``{{`` and ``}}`` write literal braces.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable, Mapping

from sqlsentinel.notifications.base import STANDARD_FIELDS

__all__ = ["STANDARD_FIELDS", "placeholders", "render", "unknown_placeholders"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMATTER = string.Formatter()
# string literals and comments: names inside them are not columns
_CODE_NOISE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_SELECT_STAR = re.compile(r"(?:\bselect\s+(?:distinct\s+|all\s+)?|,\s*)(?:[\w\"`]+\.)?\*", re.I)


def placeholders(template: str) -> list[str]:
    """Return the placeholder names of ``template``, or raise ``ValueError`` saying why not."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(
            f"is not a valid template ({exc}); write placeholders as {{alert_name}} and "
            "literal braces as {{ and }}"
        ) from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not _NAME.fullmatch(name) or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"uses {shown}, but placeholders are plain names such as {{actual_value}} "
                "(no attributes, indexes or formats)"
            )
        names.append(name)
    return names


def unknown_placeholders(template: str, query: str) -> list[str]:
    """Return the placeholders that are neither standard nor possibly a column of ``query``.

    A context column can only be named in a template if its name appears in the SQL, outside
    string literals and comments (as a column or an alias); a query that selects ``*`` (or
    ``t.*``) may return any column — ``COUNT(*)`` and multiplication do not count.
    """
    code = _CODE_NOISE.sub(" ", query)
    if _SELECT_STAR.search(code):
        return []
    words = {word.lower() for word in _NAME.findall(code)}
    return [
        name
        for name in placeholders(template)
        if name not in STANDARD_FIELDS and name.lower() not in words
    ]


def render(template: str, fields: Mapping[str, str], *, where: str = "template") -> str:
    """Return ``template`` with each placeholder replaced by its field.

    A placeholder with no field (a context column the query did not return this time)
    renders empty and is logged as a warning — a notification is never lost to a template.
    """
    out: list[str] = []
    missing: list[str] = []
    for literal, name, _, _ in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        value = fields.get(name)
        if value is None:
            missing.append(name)
            value = ""
        out.append(value)
    if missing:
        log.warning("%s: no value for %s; rendered empty", where, _names(missing))
    return "".join(out)


def _names(names: Iterable[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)

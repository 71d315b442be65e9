"""Hold a query's rows to the contract: one row, a ``status`` of 'ALERT' or 'OK'.

Pure: takes the column names and the (at most two) rows fetched, returns a
:class:`~sqlsentinel.models.QueryResult` or raises :class:`~sqlsentinel.errors.ContractError`
whose message says exactly what was wrong and how to fix the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlsentinel.errors import ContractError
from sqlsentinel.executor.values import json_safe
from sqlsentinel.models import EmptyResult, JsonValue, QueryResult, Status

__all__ = ["evaluate"]

_RESERVED = ("status", "actual_value", "threshold")


def evaluate(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], empty_result: EmptyResult
) -> QueryResult:
    """Return the result the rows describe, or raise ``ContractError``.

    Column names are matched case-insensitively (PostgreSQL folds to lower case, Snowflake
    and Oracle to upper). Every column other than the three reserved ones is context.
    """
    lowered = [name.lower() for name in columns]
    for reserved in _RESERVED:
        if lowered.count(reserved) > 1:
            raise ContractError(
                f"the result has {lowered.count(reserved)} columns named '{reserved}'; "
                "return it once"
            )
    if "status" not in lowered:
        shown = ", ".join(columns) if columns else "none"
        raise ContractError(
            f"the result has no 'status' column (its columns: {shown}); return "
            "'ALERT' or 'OK' AS status"
        )
    if not rows:
        if empty_result is EmptyResult.ERROR:
            raise ContractError(
                "the query returned no rows; it must return exactly one row with a status "
                "column (or set 'empty_result: ok' or 'empty_result: alert' to say what no "
                "rows means)"
            )
        return QueryResult(Status.OK if empty_result is EmptyResult.OK else Status.ALERT)
    if len(rows) > 1:
        raise ContractError(
            "the query returned more than one row; it must return exactly one (aggregate with "
            "COUNT, SUM or MAX, or add LIMIT 1)"
        )
    row = rows[0]
    values = dict(zip(lowered, row, strict=True))
    return QueryResult(
        status=_status(values["status"]),
        actual_value=json_safe(values.get("actual_value")),
        threshold=json_safe(values.get("threshold")),
        context=_context(columns, row),
    )


def _status(raw: object) -> Status:
    if raw is None:
        raise ContractError(
            "the status is NULL; it must be 'ALERT' or 'OK' (does the CASE expression have "
            "an ELSE branch?)"
        )
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    if isinstance(text, str) and text.strip().upper() in ("ALERT", "OK"):
        return Status(text.strip().upper())
    shown = repr(text) if isinstance(text, str) else f"{text!r} ({type(raw).__name__})"
    raise ContractError(f"the status is {shown[:80]}; it must be 'ALERT' or 'OK'")


def _context(columns: Sequence[str], row: Sequence[Any]) -> dict[str, JsonValue]:
    context: dict[str, JsonValue] = {}
    for name, value in zip(columns, row, strict=True):
        if name.lower() in _RESERVED:
            continue
        key, suffix = name, 2
        while key in context:
            key, suffix = f"{name}_{suffix}", suffix + 1
        context[key] = json_safe(value)
    return context

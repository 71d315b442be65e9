"""evaluate: the rows a query returned, held to the contract, with messages that say what to fix."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from sqlsentinel.errors import ContractError, QueryError
from sqlsentinel.executor.contract import evaluate
from sqlsentinel.models import EmptyResult, QueryResult, Status


def one_row(**values: Any) -> QueryResult:
    return evaluate(list(values), [tuple(values.values())], EmptyResult.ERROR)


def contract_error(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    empty_result: EmptyResult = EmptyResult.ERROR,
) -> str:
    with pytest.raises(ContractError) as caught:
        evaluate(columns, rows, empty_result)
    return str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("OK", Status.OK),
        ("ALERT", Status.ALERT),
        ("alert", Status.ALERT),
        (" Ok ", Status.OK),
        ("\tALERT\n", Status.ALERT),
        (b"ALERT", Status.ALERT),
        (bytearray(b"ok"), Status.OK),
    ],
)
def test_the_status_is_read_case_insensitively_and_trimmed(raw: object, expected: Status) -> None:
    assert one_row(status=raw).status is expected


def test_a_result_carries_its_value_threshold_and_context() -> None:
    result = one_row(
        status="ALERT", actual_value=Decimal("12.50"), threshold=10, day=date(2024, 5, 1)
    )

    assert result == QueryResult(
        Status.ALERT, actual_value=12.5, threshold=10, context={"day": "2024-05-01"}
    )
    assert result.error is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_reserved_columns_are_matched_without_regard_to_case() -> None:
    result = evaluate(
        ["STATUS", "Actual_Value", "THRESHOLD", "Region"], [("OK", 1, 2, "eu")], EmptyResult.ERROR
    )

    assert (result.status, result.actual_value, result.threshold) == (Status.OK, 1, 2)
    assert result.context == {"Region": "eu"}


def test_context_keeps_column_order_and_name_case() -> None:
    result = evaluate(
        ["zeta", "status", "Alpha", "actual_value", "middle"],
        [("z", "OK", "a", 1, "m")],
        EmptyResult.ERROR,
    )

    assert list(result.context.items()) == [("zeta", "z"), ("Alpha", "a"), ("middle", "m")]


def test_repeated_context_names_are_all_kept() -> None:
    result = evaluate(["status", "n", "n", "n_2"], [("OK", 1, 2, 3)], EmptyResult.ERROR)

    assert sorted(result.context.values()) == [1, 2, 3]
    assert list(result.context)[:2] == ["n", "n_2"]


@pytest.mark.parametrize(
    ("columns", "name"),
    [
        (["status", "STATUS"], "status"),
        (["status", "actual_value", "Actual_Value"], "actual_value"),
        (["threshold", "status", "threshold"], "threshold"),
    ],
)
def test_a_reserved_column_returned_twice_is_an_error(columns: list[str], name: str) -> None:
    message = contract_error(columns, [tuple(range(len(columns)))])

    assert f"2 columns named '{name}'" in message
    assert "return it once" in message


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(EmptyResult.OK, Status.OK), (EmptyResult.ALERT, Status.ALERT)],
)
def test_no_row_means_what_empty_result_says(setting: EmptyResult, expected: Status) -> None:
    result = evaluate(["status", "actual_value"], [], setting)

    assert result == QueryResult(expected)


def test_no_row_is_an_error_that_names_empty_result() -> None:
    message = contract_error(["status"], [])

    assert message.startswith("the query returned no rows")
    assert "'empty_result: ok'" in message
    assert "'empty_result: alert'" in message


@pytest.mark.parametrize("setting", list(EmptyResult))
def test_a_missing_status_column_is_an_error_even_with_no_rows(setting: EmptyResult) -> None:
    message = contract_error(["revenue", "target"], [], setting)

    assert "no 'status' column (its columns: revenue, target)" in message


def test_a_result_with_no_columns_says_so() -> None:
    assert "(its columns: none)" in contract_error([], [()])


def test_more_than_one_row_is_an_error_that_suggests_aggregating() -> None:
    message = contract_error(["status"], [("OK",), ("OK",)])

    assert "more than one row" in message
    assert "LIMIT 1" in message


def test_a_null_status_is_an_error_that_suggests_an_else_branch() -> None:
    message = contract_error(["status"], [(None,)])

    assert "the status is NULL" in message
    assert "ELSE" in message


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("WARN", "the status is 'WARN'"),
        ("", "the status is ''"),
        ("OKAY", "the status is 'OKAY'"),
        (1, "the status is 1 (int)"),
        (Decimal("0"), "the status is Decimal('0') (Decimal)"),
        (True, "the status is True (bool)"),
        (b"WARN", "the status is 'WARN'"),
    ],
)
def test_an_unknown_status_is_an_error_quoting_it(raw: object, shown: str) -> None:
    message = contract_error(["status"], [(raw,)])

    assert message.startswith(shown)
    assert message.endswith("it must be 'ALERT' or 'OK'")


def test_a_long_unknown_status_is_shortened_in_the_message() -> None:
    message = contract_error(["status"], [("x" * 10_000,)])

    assert len(message) < 200


def test_contract_errors_are_query_errors() -> None:
    with pytest.raises(QueryError):
        evaluate(["status"], [], EmptyResult.ERROR)

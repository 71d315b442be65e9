"""The query contract on real SQLite, PostgreSQL and MariaDB: what each result shape means."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from sqlsentinel.executor.query import run_query
from sqlsentinel.models import EmptyResult, QueryResult, Status

if TYPE_CHECKING:
    from tests.conftest import DataSource


def run(source: DataSource, sql: str, **kwargs: object) -> QueryResult:
    """Run ``sql`` as an alert query and check the invariants every result must keep."""
    result = run_query(source.engine, sql, timeout=10, **kwargs)
    json.dumps(result.to_dict(), allow_nan=False)  # strict JSON, always
    assert (result.error is not None) == result.status.failed, result
    return result


def quoted(source: DataSource, name: str) -> str:
    """Quote an identifier so that its case is kept (MariaDB uses backticks)."""
    return f"`{name}`" if source.kind == "mysql" else f'"{name}"'


def test_a_status_of_ok_is_ok(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'OK' AS status")

    assert result.status is Status.OK
    assert result.error is None
    assert result.context == {}
    assert result.actual_value is None
    assert result.threshold is None


def test_a_status_of_alert_fires_with_its_value_and_threshold(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'ALERT' AS status, 42 AS actual_value, 10 AS threshold")

    assert result.status is Status.ALERT
    assert (result.actual_value, result.threshold) == (42, 10)
    assert result.to_dict()["status"] == "ALERT"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("alert", Status.ALERT), (" Ok ", Status.OK), ("Alert", Status.ALERT), ("ok", Status.OK)],
)
def test_the_status_is_read_without_regard_to_case_or_padding(
    data_source: DataSource, raw: str, expected: Status
) -> None:
    assert run(data_source, f"SELECT '{raw}' AS status").status is expected


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (EmptyResult.ERROR, Status.ERROR),
        (EmptyResult.OK, Status.OK),
        (EmptyResult.ALERT, Status.ALERT),
    ],
)
def test_a_query_with_no_row_means_what_empty_result_says(
    data_source: DataSource, setting: EmptyResult, expected: Status
) -> None:
    table = data_source.table("id INT")

    result = run(data_source, f"SELECT 'ALERT' AS status FROM {table}", empty_result=setting)

    assert result.status is expected
    if expected is Status.ERROR:
        assert result.error is not None
        assert "returned no rows" in result.error
        assert "empty_result" in result.error


def test_no_row_is_an_error_by_default(data_source: DataSource) -> None:
    table = data_source.table("id INT")

    result = run(data_source, f"SELECT 'OK' AS status FROM {table}")

    assert result.status is Status.ERROR
    assert "no rows" in (result.error or "")


def test_two_rows_are_an_error_saying_more_than_one_row(data_source: DataSource) -> None:
    table = data_source.table("id INT", "1", "2")

    result = run(data_source, f"SELECT 'OK' AS status FROM {table}")

    assert result.status is Status.ERROR
    assert "more than one row" in (result.error or "")


def test_a_result_without_a_status_column_is_an_error_naming_its_columns(
    data_source: DataSource,
) -> None:
    result = run(data_source, "SELECT 1 AS revenue, 2 AS target")

    assert result.status is Status.ERROR
    assert "no 'status' column" in (result.error or "")
    assert "revenue, target" in (result.error or "")


def test_a_null_status_is_an_error(data_source: DataSource) -> None:
    result = run(data_source, "SELECT NULL AS status")

    assert result.status is Status.ERROR
    assert "status is NULL" in (result.error or "")


def test_an_unknown_status_is_an_error_quoting_it(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'WARN' AS status")

    assert result.status is Status.ERROR
    assert "'WARN'" in (result.error or "")
    assert "must be 'ALERT' or 'OK'" in (result.error or "")


def test_a_numeric_status_is_an_error_naming_its_type(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 1 AS status")

    assert result.status is Status.ERROR
    assert "1 (int)" in (result.error or "")


def test_decimal_values_become_json_numbers(data_source: DataSource) -> None:
    sql = (
        "SELECT 'ALERT' AS status, CAST(12.50 AS DECIMAL(10, 2)) AS actual_value, "
        "CAST(10 AS DECIMAL(10, 2)) AS threshold"
    )
    if data_source.kind != "sqlite":  # SQLite has no decimal type; the others return Decimal
        assert data_source.scalar("SELECT CAST(12.50 AS DECIMAL(10, 2))") == Decimal("12.50")

    result = run(data_source, sql)

    assert result.actual_value == 12.5
    assert isinstance(result.actual_value, float)
    assert result.threshold == 10
    assert type(result.threshold) is int
    assert json.loads(json.dumps(result.to_dict()))["actual_value"] == 12.5


SERVERS = pytest.mark.parametrize("data_source", ["postgres", "mysql"], indirect=True)
POSTGRES = pytest.mark.parametrize("data_source", ["postgres"], indirect=True)


@SERVERS  # SQLite stores decimals as floats
def test_a_decimal_a_float_cannot_hold_is_kept_exact_as_text(data_source: DataSource) -> None:
    result = run(
        data_source,
        "SELECT 'OK' AS status, CAST(12345678901234567.89 AS DECIMAL(20, 2)) AS actual_value",
    )

    assert result.actual_value == "12345678901234567.89"


@POSTGRES  # only PostgreSQL's NUMERIC holds more than 65 digits
def test_a_decimal_too_long_for_a_json_integer_still_serialises(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'OK' AS status, 10::numeric ^ 5000 AS actual_value")

    assert result.status is Status.OK
    assert Decimal(str(result.actual_value)) == Decimal(10) ** 5000


_INSTANTS = {
    "sqlite": (
        "SELECT 'OK' AS status, datetime('2024-05-01 12:30:00') AS seen_at, "
        "date('2024-05-01') AS day",
        {"seen_at": "2024-05-01 12:30:00", "day": "2024-05-01"},
    ),
    "postgres": (
        "SELECT 'OK' AS status, TIMESTAMP '2024-05-01 12:30:00' AS seen_at, "
        "DATE '2024-05-01' AS day",
        {"seen_at": "2024-05-01T12:30:00", "day": "2024-05-01"},
    ),
    "mysql": (
        "SELECT 'OK' AS status, TIMESTAMP '2024-05-01 12:30:00' AS seen_at, "
        "DATE '2024-05-01' AS day",
        {"seen_at": "2024-05-01T12:30:00", "day": "2024-05-01"},
    ),
}


def test_datetime_and_date_context_values_become_iso_text(data_source: DataSource) -> None:
    sql, expected = _INSTANTS[data_source.kind]

    result = run(data_source, sql)

    assert result.context == expected


@POSTGRES  # the only one of the three with a time-zone-aware timestamp type
def test_a_timestamp_with_time_zone_keeps_its_instant(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'OK' AS status, TIMESTAMPTZ '2024-05-01 12:30:00+02' AS at")

    at = datetime.fromisoformat(str(result.context["at"]))
    assert at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def test_upper_case_column_names_are_recognised(data_source: DataSource) -> None:
    def q(name: str) -> str:
        return quoted(data_source, name)

    result = run(
        data_source,
        f"SELECT 'ALERT' AS {q('STATUS')}, 7 AS {q('ACTUAL_VALUE')}, 5 AS {q('Threshold')}, "
        f"'eu' AS {q('Region')}",
    )

    assert result.status is Status.ALERT
    assert (result.actual_value, result.threshold) == (7, 5)
    assert result.context == {"Region": "eu"}


def test_context_columns_keep_the_order_the_query_gave_them(data_source: DataSource) -> None:
    result = run(
        data_source,
        "SELECT 'z' AS zeta, 'OK' AS status, 3 AS actual_value, 'a' AS alpha, 1 AS middle",
    )

    assert list(result.context) == ["zeta", "alpha", "middle"]
    assert list(result.to_dict()["context"]) == ["zeta", "alpha", "middle"]


def test_percent_signs_and_colon_names_in_literals_run_as_written(data_source: DataSource) -> None:
    table = data_source.table("name VARCHAR(10)", "'abc'", "'xyz'")

    result = run(
        data_source,
        "SELECT CASE WHEN COUNT(*) = 1 THEN 'OK' ELSE 'ALERT' END AS status, "
        f"':name' AS label, '%s %(x)s ?' AS placeholders FROM {table} WHERE name LIKE 'a%'",
    )

    assert result.status is Status.OK, result.error
    assert result.context == {"label": ":name", "placeholders": "%s %(x)s ?"}


_SYNTAX_ERRORS = {
    "sqlite": 'near "SELEC": syntax error',
    "postgres": 'syntax error at or near "SELEC"',
    "mysql": "You have an error in your SQL syntax",
}


def test_a_syntax_error_is_an_error_with_the_drivers_message(data_source: DataSource) -> None:
    result = run(data_source, "SELEC 'OK' AS status")

    assert result.status is Status.ERROR
    assert _SYNTAX_ERRORS[data_source.kind] in (result.error or "")
    assert "\n" not in (result.error or "")


def test_a_missing_table_is_an_error_naming_it(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'OK' AS status FROM no_such_table_here")

    assert result.status is Status.ERROR
    assert "no_such_table_here" in (result.error or "")


def test_a_failing_expression_is_an_error_and_the_engine_stays_usable(
    data_source: DataSource,
) -> None:
    sql = {
        "sqlite": "SELECT 'OK' AS status, abs(-9223372036854775807 - 1) AS v",  # integer overflow
        "postgres": "SELECT 'OK' AS status, 1 / 0 AS v",
        "mysql": "SELECT 'OK' AS status, 9223372036854775807 + 1 AS v",  # BIGINT out of range
    }[data_source.kind]

    assert run(data_source, sql).status is Status.ERROR
    assert run(data_source, "SELECT 'OK' AS status").status is Status.OK


_NO_RESULT_SET = {
    "sqlite": ["-- only a comment", "/* only a comment */"],
    "postgres": ["-- only a comment", "SET search_path TO public"],
    "mysql": ["-- only a comment", "SET @sentinel_x = 1"],
}


@pytest.mark.parametrize("index", [0, 1])
def test_a_statement_that_returns_no_result_set_is_an_error(
    data_source: DataSource, index: int
) -> None:
    result = run(data_source, _NO_RESULT_SET[data_source.kind][index])

    assert result.status is Status.ERROR
    assert "returned no result set" in (result.error or "")
    assert run(data_source, "SELECT 'OK' AS status").status is Status.OK


def test_a_trailing_semicolon_and_comment_are_accepted(data_source: DataSource) -> None:
    result = run(data_source, "-- daily check\nSELECT 'OK' AS status; -- done\n")

    assert result.status is Status.OK, result.error


_ODD_VALUES = {
    "sqlite": (
        "SELECT 'OK' AS status, X'DEADBEEF' AS raw, X'68656C6C6F' AS text_bytes, "
        "9e999 AS too_big, -9e999 AS too_small, 0.1 + 0.2 AS sum"
    ),
    "postgres": (
        "SELECT 'OK' AS status, '\\xdeadbeef'::bytea AS raw, "
        "'8e2c4b8a-1d2f-4c6e-9a7b-0c1d2e3f4a5b'::uuid AS id, INTERVAL '1 day 2 hours' AS span, "
        "ARRAY[1.5::numeric, 2] AS arr, '{\"a\": [1, null]}'::jsonb AS doc, "
        "'NaN'::numeric AS nan, 'Infinity'::float8 AS inf, TIME '12:30:00' AS at, "
        "inet '10.0.0.1' AS ip"
    ),
    "mysql": (
        "SELECT 'OK' AS status, X'DEADBEEF' AS raw, UUID() AS id, TIME '12:30:00' AS at, "
        "CAST(1.5 AS DOUBLE) AS ratio, BINARY 'hello' AS text_bytes, JSON_OBJECT('a', 1) AS doc"
    ),
}


def test_every_result_serialises_to_strict_json(data_source: DataSource) -> None:
    result = run(data_source, _ODD_VALUES[data_source.kind])

    assert result.status is Status.OK, result.error
    context = json.loads(json.dumps(result.to_dict(), allow_nan=False))["context"]
    assert context["raw"] == "base64:3q2+7w=="
    if data_source.kind == "sqlite":
        assert (context["too_big"], context["too_small"]) == ("Infinity", "-Infinity")
    if data_source.kind == "postgres":
        assert context["span"] == "1 day, 2:00:00"
        assert context["arr"] == [1.5, 2]
        assert context["doc"] == {"a": [1, None]}
        assert (context["nan"], context["inf"]) == ("NaN", "Infinity")
        assert context["id"] == "8e2c4b8a-1d2f-4c6e-9a7b-0c1d2e3f4a5b"
        assert context["ip"] == "10.0.0.1"
    if data_source.kind == "mysql":
        assert context["text_bytes"] == "hello"
        assert context["at"] == "12:30:00"


def test_errors_serialise_to_json_too(data_source: DataSource) -> None:
    result = run(data_source, "SELECT 'bad' AS status")

    decoded = json.loads(json.dumps(result.to_dict()))
    assert decoded["status"] == "ERROR"
    assert decoded["error"] == result.error
    assert decoded["duration_ms"] >= 0

"""json_safe: every value a driver returns becomes strict JSON without losing what it says."""

from __future__ import annotations

import ipaddress
import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqlsentinel.executor.values import json_safe


def strict(value: object) -> str:
    return json.dumps(value, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.50"), 12.5),
        (Decimal("0.1"), 0.1),
        (Decimal("-0.5"), -0.5),
        (Decimal("1E-30"), 1e-30),
    ],
)
def test_a_decimal_a_float_holds_exactly_becomes_a_float(value: Decimal, expected: float) -> None:
    result = json_safe(value)

    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("10"), 10),
        (Decimal("10.00"), 10),
        (Decimal("-3"), -3),
        (Decimal("0E-10"), 0),
        (Decimal("-0.000"), 0),
        (Decimal("0E-2000"), 0),
        (Decimal("1E+30"), 10**30),
        (Decimal("99999999999999999999999999999999999999"), 10**38 - 1),
    ],
)
def test_a_whole_decimal_becomes_an_exact_int(value: Decimal, expected: int) -> None:
    result = json_safe(value)

    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12345678901234567.89"), "12345678901234567.89"),
        (Decimal("0.30000000000000000001"), "0.30000000000000000001"),
        (Decimal("-1.000000000000000000001"), "-1.000000000000000000001"),
    ],
)
def test_a_decimal_a_float_would_round_stays_exact_text(value: Decimal, expected: str) -> None:
    assert json_safe(value) == expected


@pytest.mark.parametrize("text", ["1E+5000", "-7E+131071", "1.5E-5000", "1E+1000"])
def test_a_decimal_too_long_for_a_json_number_is_exact_text(text: str) -> None:
    result = json_safe(Decimal(text))

    assert isinstance(result, str)
    assert Decimal(result) == Decimal(text)
    assert len(strict(result)) < 50


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("NaN"), "NaN"),
        (Decimal("sNaN"), "NaN"),
        (Decimal("Infinity"), "Infinity"),
        (Decimal("-Infinity"), "-Infinity"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_non_finite_numbers_become_text_because_json_has_none(value: object, expected: str) -> None:
    assert json_safe(value) == expected


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**63, 1.25, "", "text"])
def test_json_values_pass_through_unchanged(value: object) -> None:
    result = json_safe(value)

    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "2024-05-01T12:30:00+00:00"),
        (
            datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T12:30:00+02:00",
        ),
        (datetime(2024, 5, 1, 12, 30, 5, 123000), "2024-05-01T12:30:05.123000"),
        (date(2024, 5, 1), "2024-05-01"),
        (time(12, 30), "12:30:00"),
        (timedelta(days=1, hours=2), "1 day, 2:00:00"),
        (timedelta(hours=12, minutes=30), "12:30:00"),  # PyMySQL's TIME
    ],
)
def test_instants_and_durations_become_iso_text(value: object, expected: str) -> None:
    assert json_safe(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"hello", "hello"),
        ("héllo".encode(), "héllo"),
        (bytearray(b"abc"), "abc"),
        (memoryview(b"abc"), "abc"),
        (b"\xde\xad\xbe\xef", "base64:3q2+7w=="),
        (memoryview(b"\xff\x00"), "base64:/wA="),
        (b"", ""),
    ],
)
def test_bytes_become_text_or_base64(value: object, expected: str) -> None:
    assert json_safe(value) == expected


def test_a_uuid_becomes_its_canonical_text() -> None:
    value = uuid.UUID("8e2c4b8a-1d2f-4c6e-9a7b-0c1d2e3f4a5b")

    assert json_safe(value) == "8e2c4b8a-1d2f-4c6e-9a7b-0c1d2e3f4a5b"


def test_containers_are_converted_all_the_way_down() -> None:
    value = {
        "values": [Decimal("1.5"), (date(2024, 1, 2), b"x")],
        7: {"nested": {uuid.UUID(int=1)}},
        "none": None,
    }

    assert json_safe(value) == {
        "values": [1.5, ["2024-01-02", "x"]],
        "7": {"nested": ["00000000-0000-0000-0000-000000000001"]},
        "none": None,
    }


class Money:
    def __str__(self) -> str:
        return "EUR 12.50"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ipaddress.ip_address("10.0.0.1"), "10.0.0.1"),
        (ipaddress.ip_network("10.0.0.0/8"), "10.0.0.0/8"),
        (Money(), "EUR 12.50"),
    ],
)
def test_unknown_types_become_their_text(value: object, expected: str) -> None:
    assert json_safe(value) == expected


@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_every_decimal_serialises_and_finite_ones_keep_their_value(value: Decimal) -> None:
    result = json_safe(value)

    strict(result)
    if value.is_finite():
        shown = repr(result) if isinstance(result, float) else str(result)
        assert Decimal(shown) == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_serialises(value: float) -> None:
    result = json_safe(value)

    strict(result)
    if math.isfinite(value):
        assert result == value

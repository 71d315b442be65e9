"""Durations as people write them in configs: ``90``, ``30s``, ``5m``, ``1h``, ``1d``, ``1h30m``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlsentinel.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, timedelta(seconds=90)),
        ("90", timedelta(seconds=90)),
        (2.5, timedelta(seconds=2.5)),
        ("0.5", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0", timedelta(0)),
        (0, timedelta(0)),
        ("0s", timedelta(0)),
        (" 5M ", timedelta(minutes=5)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_accepted_forms(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


def test_a_timedelta_passes_through_unchanged() -> None:
    assert parse_duration(timedelta(minutes=7)) == timedelta(minutes=7)


@pytest.mark.parametrize("value", [-1, -0.5, "-5m", "-90", "-inf", timedelta(seconds=-1)])
def test_a_negative_duration_is_refused_as_negative(value: object) -> None:
    with pytest.raises(ValueError, match="is negative; a duration must be 0 or more"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_one_second(value: bool) -> None:
    # YAML reads `timeout: yes` as True, and True == 1 in Python: that is a typo, not 1s.
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "abc",
        "5x",
        "m",
        "5 minutes",
        ".5h",
        "5.m",
        "1e3",
        "1_000",
        "\u0661\u0662",  # Arabic-Indic digits, which float() would accept
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        [],
        {"minutes": 5},
    ],
)
def test_anything_else_is_refused_with_examples_of_what_works(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration; write seconds like 90") as info:
        parse_duration(value)
    assert "30s, 5m, 1h, 1d" in str(info.value)


def test_a_duration_too_long_for_a_timedelta_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration(10**20)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=2, hours=3, seconds=1), "2d3h1s"),
        (timedelta(seconds=1.25), "1.25s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(seconds=-90), "-1m30s"),
    ],
)
def test_format_duration_writes_the_shortest_unit_form(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@settings(max_examples=200)
@given(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
)
def test_format_then_parse_gives_back_the_same_duration(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


def test_a_yaml_date_is_named_by_its_type_not_its_python_repr() -> None:
    from datetime import date

    with pytest.raises(ValueError, match=r"^a date is not a duration"):
        parse_duration(date(2026, 1, 31))


@pytest.mark.parametrize("text", ["1 0s", "1h1h", "30m1h", "1 h 1h"])
def test_a_space_never_splits_a_number_and_units_come_once_largest_first(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration|repeats or reorders"):
        parse_duration(text)


def test_spaces_may_separate_the_parts() -> None:
    assert parse_duration(" 1h 30m ") == timedelta(hours=1, minutes=30)
    assert parse_duration("2 d") == timedelta(days=2)

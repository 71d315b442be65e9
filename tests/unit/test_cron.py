"""Cron schedules: validation messages, timezones, and slots across daylight-saving changes.

The DST cases use Europe/Berlin in 2026: clocks spring forward on 2026-03-29 at 02:00 CET
(01:00 UTC) to 03:00 CEST, and fall back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET,
so 02:00-03:00 local happens twice: first 00:00-01:00 UTC, then 01:00-02:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlsentinel.scheduler import CronSchedule, load_timezone, validate_cron

BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    """Return the UTC instant written as ``YYYY-MM-DDTHH:MM`` (seconds optional)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(instant: datetime, zone: ZoneInfo = BERLIN) -> str:
    """Return ``instant`` as local wall-clock text with its UTC offset, to show which pass."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M%z")


# --- validate_cron ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "*/5 * * * *", "0 9 * * 1-5", "15,45 */2 1 * *", "0 0 L * *", "5-1 * * * *"],
)
def test_five_field_expressions_are_accepted_as_written(expression: str) -> None:
    assert validate_cron(expression) == expression


def test_extra_whitespace_between_fields_is_normalised() -> None:
    assert validate_cron("  0   9 * *\t* ") == "0 9 * * *"


@pytest.mark.parametrize(
    "alias", ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"]
)
def test_every_standard_alias_is_accepted_in_any_case(alias: str) -> None:
    assert validate_cron(alias) == alias
    assert validate_cron(alias.upper()) == alias
    assert validate_cron(alias.title()) == alias


def test_reboot_is_refused_because_a_tick_has_no_boot() -> None:
    with pytest.raises(ValueError, match="'@reboot' is not a supported schedule") as info:
        validate_cron("@reboot")
    assert "@hourly" in str(info.value)


def test_a_six_field_cron_is_refused_saying_the_tick_runs_once_a_minute() -> None:
    with pytest.raises(ValueError, match="6 fields") as info:
        validate_cron("0 */5 * * * *")
    message = str(info.value)
    assert "tick runs once a minute" in message
    assert "no seconds field" in message


@pytest.mark.parametrize(("expression", "count"), [("* * *", 3), ("0 0 1 1 * 2026 x", 7)])
def test_a_wrong_number_of_fields_says_how_many_there_are(expression: str, count: int) -> None:
    with pytest.raises(ValueError, match=f"has {count} fields; a cron expression has 5"):
        validate_cron(expression)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("60 * * * *", "minute must be 0-59"),
        ("1,61 * * * *", "minute must be 0-59"),
        ("0-60 * * * *", "minute must be 0-59"),
        ("* 24 * * *", "hour must be 0-23"),
        ("* * 0 * *", "day of month must be 1-31"),
        ("* * 32 * *", "day of month must be 1-31"),
        ("* * * 13 *", "month must be 1-12 or JAN-DEC"),
        ("* * * 0 *", "month must be 1-12 or JAN-DEC"),
        ("* * * * 8", "day of week must be 0-7"),
        ("* * * * FOO", "day of week must be 0-7"),
    ],
)
def test_an_out_of_range_field_is_named_with_what_it_accepts(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match="is not a valid cron expression") as info:
        validate_cron(expression)
    assert f"({reason}" in str(info.value)
    assert f"'{expression}'" in str(info.value)


@pytest.mark.parametrize(
    ("expression", "field"), [("*/0 * * * *", "minute"), ("0 */0 * * *", "hour")]
)
def test_a_step_of_zero_is_refused_naming_the_field(expression: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}: the step after '/' must be 1 or more"):
        validate_cron(expression)


@pytest.mark.parametrize("field", ["H", "H/5", "H(0-29)", "R", "r"])
def test_hashed_and_random_fields_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match="hashed or random field"):
        validate_cron(f"{field} * * * *")


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *"])
def test_a_date_that_never_exists_never_matches(expression: str) -> None:
    with pytest.raises(ValueError, match="never matches a real date"):
        validate_cron(expression)


@pytest.mark.parametrize("value", ["", "   ", None, 5, ["* * * * *"]])
def test_empty_and_non_text_schedules_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"is empty|is not a cron expression"):
        validate_cron(value)


@pytest.mark.parametrize("weekday", ["0", "7", "SUN", "sun"])
def test_weekday_0_7_and_sun_all_mean_sunday(weekday: str) -> None:
    schedule = CronSchedule(f"0 0 * * {weekday}", "Europe/Berlin")
    runs = schedule.next_runs(utc("2026-03-04T12:00"), 4)
    assert [run.astimezone(BERLIN).weekday() for run in runs] == [6, 6, 6, 6]
    assert runs[0] == utc("2026-03-07T23:00")  # Sunday 2026-03-08 00:00 CET


def test_weekday_names_and_ranges_work() -> None:
    runs = CronSchedule("0 9 * * MON-FRI").next_runs(utc("2026-11-27T10:00"), 5)  # a Friday
    assert [run.strftime("%a %d") for run in runs] == [
        "Mon 30",
        "Tue 01",
        "Wed 02",
        "Thu 03",
        "Fri 04",
    ]


def test_month_names_work() -> None:
    runs = CronSchedule("0 9 1 JAN *").next_runs(utc("2026-11-27T10:00"), 2)
    assert runs == [utc("2027-01-01T09:00"), utc("2028-01-01T09:00")]


# --- load_timezone ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_iana_names_load(name: str) -> None:
    assert load_timezone(name).key == name


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("Europe/Berln", "Europe/Berlin"), ("America/New_Yrok", "America/New_York")],
)
def test_a_misspelt_timezone_suggests_the_close_name(name: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match="is not an IANA timezone name") as info:
        load_timezone(name)
    assert f"did you mean '{suggestion}'?" in str(info.value)


def test_a_timezone_in_the_wrong_case_says_names_are_case_sensitive() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'Europe/Berlin'\? \(names are case-sens"):
        load_timezone("europe/berlin")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "/etc/passwd", "../../etc/passwd"])
def test_an_unknown_timezone_is_refused_without_a_wild_guess(name: str) -> None:
    with pytest.raises(ValueError, match="is not an IANA timezone name") as info:
        load_timezone(name)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_a_blank_or_non_text_timezone_is_refused(name: object) -> None:
    with pytest.raises(ValueError, match="is not a timezone"):
        load_timezone(name)


# --- CronSchedule in plain time ---------------------------------------------------------------


def test_next_after_is_strictly_after_and_in_utc() -> None:
    schedule = CronSchedule("*/15 * * * *")
    assert schedule.next_after(utc("2026-11-27T10:00")) == utc("2026-11-27T10:15")
    assert schedule.next_after(utc("2026-11-27T10:14:59.999")) == utc("2026-11-27T10:15")
    assert schedule.next_after(utc("2026-11-27T10:00")).utcoffset() == timedelta(0)


def test_latest_at_or_before_includes_an_exact_slot() -> None:
    schedule = CronSchedule("*/15 * * * *")
    assert schedule.latest_at_or_before(utc("2026-11-27T10:15")) == utc("2026-11-27T10:15")
    assert schedule.latest_at_or_before(utc("2026-11-27T10:14:59")) == utc("2026-11-27T10:00")


def test_next_runs_lists_consecutive_slots() -> None:
    runs = CronSchedule("@hourly").next_runs(utc("2026-11-27T10:30"), 3)
    assert runs == [utc("2026-11-27T11:00"), utc("2026-11-27T12:00"), utc("2026-11-27T13:00")]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "2026-11-27T14:00"),  # EST, UTC-5
        ("Asia/Kolkata", "2026-11-28T03:30"),  # IST, UTC+5:30, 09:00 already passed
        ("Europe/Berlin", "2026-11-28T08:00"),  # CET, UTC+1, 09:00 already passed
        ("UTC", "2026-11-28T09:00"),
    ],
)
def test_a_schedule_is_read_in_its_timezone(zone: str, expected: str) -> None:
    assert CronSchedule("0 9 * * *", zone).next_after(utc("2026-11-27T10:00")) == utc(expected)


def test_an_aware_instant_in_another_zone_means_the_same_instant() -> None:
    schedule = CronSchedule("0 9 * * *", "America/New_York")
    in_berlin = datetime(2026, 11, 27, 11, 0, tzinfo=BERLIN)
    assert schedule.next_after(in_berlin) == schedule.next_after(utc("2026-11-27T10:00"))


@pytest.mark.parametrize("method", ["next_after", "latest_at_or_before"])
def test_a_naive_datetime_is_refused(method: str) -> None:
    schedule = CronSchedule("* * * * *")
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(schedule, method)(datetime(2026, 11, 27, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_runs(datetime(2026, 11, 27, 10, 0), 3)


def test_a_schedule_validates_its_expression_and_timezone() -> None:
    with pytest.raises(ValueError, match="minute must be 0-59"):
        CronSchedule("61 * * * *")
    with pytest.raises(ValueError, match="did you mean 'Europe/Berlin'"):
        CronSchedule("* * * * *", "Europe/Berln")


def test_schedules_compare_by_expression_and_timezone() -> None:
    assert CronSchedule("@DAILY", "UTC") == CronSchedule("@daily", "UTC")
    assert CronSchedule("@daily", "UTC") != CronSchedule("@daily", "Europe/Berlin")
    assert len({CronSchedule("@daily"), CronSchedule("@daily")}) == 1
    assert repr(CronSchedule("@daily", "UTC")) == "CronSchedule('@daily', 'UTC')"


# --- CronSchedule across daylight-saving changes ----------------------------------------------


def test_a_daily_time_in_the_skipped_hour_runs_when_the_gap_ends() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    runs = schedule.next_runs(utc("2026-03-27T12:00"), 3)
    assert runs == [utc("2026-03-28T01:30"), utc("2026-03-29T01:00"), utc("2026-03-30T00:30")]
    assert [local(run) for run in runs] == [
        "2026-03-28 02:30+0100",
        "2026-03-29 03:00+0200",  # 02:30 does not exist that day; 03:00 is the first valid time
        "2026-03-30 02:30+0200",
    ]


def test_a_daily_time_in_the_repeated_hour_runs_once_at_the_first_pass() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    runs = schedule.next_runs(utc("2026-10-24T12:00"), 2)
    assert runs == [utc("2026-10-25T00:30"), utc("2026-10-26T01:30")]
    assert local(runs[0]) == "2026-10-25 02:30+0200"  # CEST, the first 02:30


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-03-28T00:00", 1),  # day before spring forward
        ("2026-03-28T23:00", 1),  # the spring-forward day, from local midnight
        ("2026-10-24T22:00", 1),  # the fall-back day, from local midnight
    ],
)
def test_a_daily_schedule_runs_exactly_once_on_transition_days(start: str, expected: int) -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    midnight = utc(start)
    day = midnight.astimezone(BERLIN).date()
    runs = schedule.next_runs(midnight - timedelta(seconds=1), 3)
    assert sum(run.astimezone(BERLIN).date() == day for run in runs) == expected


def test_an_hourly_schedule_has_no_slot_in_the_skipped_hour() -> None:
    runs = CronSchedule("0 * * * *", "Europe/Berlin").next_runs(utc("2026-03-28T23:30"), 3)
    assert runs == [utc("2026-03-29T00:00"), utc("2026-03-29T01:00"), utc("2026-03-29T02:00")]
    assert [local(run) for run in runs] == [
        "2026-03-29 01:00+0100",
        "2026-03-29 03:00+0200",
        "2026-03-29 04:00+0200",
    ]


def test_an_every_15_minutes_schedule_keeps_real_time_intervals_over_the_gap() -> None:
    schedule = CronSchedule("*/15 * * * *", "Europe/Berlin")
    assert schedule.next_after(utc("2026-03-29T00:45")) == utc("2026-03-29T01:00")
    assert local(utc("2026-03-29T01:00")) == "2026-03-29 03:00+0200"
    runs = schedule.next_runs(utc("2026-03-29T00:00"), 8)
    assert runs == [utc("2026-03-29T00:15") + timedelta(minutes=15 * i) for i in range(8)]
    assert all(run.astimezone(BERLIN).hour != 2 for run in runs)


def test_an_hourly_schedule_runs_in_both_passes_of_the_repeated_hour() -> None:
    runs = CronSchedule("0 * * * *", "Europe/Berlin").next_runs(utc("2026-10-24T23:30"), 3)
    assert runs == [utc("2026-10-25T00:00"), utc("2026-10-25T01:00"), utc("2026-10-25T02:00")]
    assert [local(run) for run in runs] == [
        "2026-10-25 02:00+0200",
        "2026-10-25 02:00+0100",
        "2026-10-25 03:00+0100",
    ]


def test_an_every_15_minutes_schedule_runs_through_both_passes_of_the_repeated_hour() -> None:
    runs = CronSchedule("*/15 * * * *", "Europe/Berlin").next_runs(utc("2026-10-24T23:55"), 9)
    assert runs == [utc("2026-10-25T00:00") + timedelta(minutes=15 * i) for i in range(9)]
    local_times = [run.astimezone(BERLIN).strftime("%H:%M") for run in runs]
    assert local_times.count("02:15") == 2
    assert local_times.count("02:45") == 2


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-10-25T00:50", "2026-10-25T00:45"),  # 02:50 CEST, first pass
        ("2026-10-25T01:00", "2026-10-25T01:00"),  # 02:00 CET, the second pass starts
        ("2026-10-25T01:20", "2026-10-25T01:15"),  # 02:20 CET, second pass
        ("2026-10-25T01:59", "2026-10-25T01:45"),
    ],
)
def test_latest_slot_of_an_interval_schedule_during_the_repeated_hour(
    now: str, expected: str
) -> None:
    schedule = CronSchedule("*/15 * * * *", "Europe/Berlin")
    assert schedule.latest_at_or_before(utc(now)) == utc(expected)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-10-25T00:29", "2026-10-24T00:30"),  # 02:29 CEST: today's slot is still ahead
        ("2026-10-25T00:30", "2026-10-25T00:30"),
        ("2026-10-25T01:40", "2026-10-25T00:30"),  # 02:40 CET, second pass: no second run
        ("2026-03-29T00:59", "2026-03-28T01:30"),  # 01:59 CET, just before the gap
        ("2026-03-29T01:00", "2026-03-29T01:00"),  # 03:00 CEST, the slot moved out of the gap
    ],
)
def test_latest_slot_of_a_daily_schedule_around_transitions(now: str, expected: str) -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    assert schedule.latest_at_or_before(utc(now)) == utc(expected)


def test_a_gap_in_another_zone_moves_the_slot_to_the_end_of_the_gap() -> None:
    # New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT (07:00 UTC).
    schedule = CronSchedule("30 2 * * *", "America/New_York")
    assert schedule.next_after(utc("2026-03-07T12:00")) == utc("2026-03-08T07:00")


# --- properties -------------------------------------------------------------------------------

SCHEDULES = ["30 2 * * *", "*/15 * * * *", "0 * * * *", "0 2 * * 0", "@daily", "5 1-3 * * *"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Transitions (UTC) where the odd wall-clock hours are, so that examples often land near them.
TRANSITIONS = [
    utc("2026-03-29T01:00"),  # Europe/Berlin spring forward
    utc("2026-10-25T01:00"),  # Europe/Berlin fall back
    utc("2026-03-08T07:00"),  # America/New_York spring forward
    utc("2026-11-01T06:00"),  # America/New_York fall back
    utc("2026-04-04T15:00"),  # Australia/Lord_Howe falls back 30 minutes
    utc("2026-10-03T15:30"),  # Australia/Lord_Howe springs forward 30 minutes
]

instants = st.one_of(
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    st.builds(
        lambda base, seconds: base + timedelta(seconds=seconds),
        st.sampled_from(TRANSITIONS),
        st.integers(min_value=-4 * 3600, max_value=4 * 3600),
    ),
)


@settings(max_examples=150, deadline=None)
@given(instant=instants, expression=st.sampled_from(SCHEDULES), zone=st.sampled_from(ZONES))
def test_next_and_latest_agree_with_each_other(
    instant: datetime, expression: str, zone: str
) -> None:
    schedule = CronSchedule(expression, zone)
    upcoming = schedule.next_after(instant)
    latest = schedule.latest_at_or_before(instant)
    assert upcoming > instant
    assert latest is not None
    assert latest <= instant
    # a slot is its own latest slot, and nothing lies between the latest slot and the next
    assert schedule.latest_at_or_before(upcoming) == upcoming
    assert schedule.next_after(latest) == upcoming

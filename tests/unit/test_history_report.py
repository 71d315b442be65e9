"""The history report's sparkline: values against the threshold, on one scale, in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlsentinel.executor.history import Execution
from sqlsentinel.models import JsonValue, TriggeredBy
from sqlsentinel.report.history import history, sparkline

BARS = "▁▂▃▄▅▆▇█"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def bars(line: str) -> str:
    return line.split("  ", 1)[0]


def test_rising_values_map_to_rising_blocks_from_lowest_to_highest() -> None:
    line = sparkline([1, 2, 3, 4, 5, 6, 7, 8], None)
    assert line == f"{BARS}  1 → 8"


def test_monotone_values_never_step_down() -> None:
    values = [0.5, 0.7, 3, 3.1, 9, 40, 41]
    drawn = bars(sparkline(values, None))
    assert len(drawn) == len(values)
    assert [BARS.index(c) for c in drawn] == sorted(BARS.index(c) for c in drawn)
    assert (drawn[0], drawn[-1]) == ("▁", "█")


def test_the_threshold_is_on_the_same_scale_and_its_block_is_named() -> None:
    assert sparkline([0, 10], 5) == "▁█  0 → 10, threshold 5 at ▅"  # 5/10 of 7 steps, rounded
    assert sparkline([0, 10], 10) == "▁█  0 → 10, threshold 10 at █"
    assert sparkline([0, 10], 0) == "▁█  0 → 10, threshold 0 at ▁"


def test_a_threshold_beyond_the_values_widens_the_scale() -> None:
    # against a threshold of 100, values of 1 and 2 are both at the bottom
    assert sparkline([1, 2], 100) == "▁▁  1 → 2, threshold 100 at █"
    assert sparkline([50, 100], -100) == "▆█  50 → 100, threshold -100 at ▁"


def test_constant_values_are_a_flat_middle_line() -> None:
    assert sparkline([7, 7, 7], None) == "▅▅▅  7 → 7"
    assert sparkline([7, 7], 7) == "▅▅  7 → 7, threshold 7 at ▅"


def test_no_values_is_no_line() -> None:
    assert sparkline([], 10) == ""


def test_fractions_are_printed_short() -> None:
    assert sparkline([0.25, 1234.5], None).endswith("  0.25 → 1234.5")


def run(minute: int, value: JsonValue, threshold: JsonValue = 10, alert: str = "a") -> Execution:
    started = T0 + timedelta(minutes=minute)
    return Execution(
        alert=alert,
        triggered_by=TriggeredBy.CRON,
        status="OK",
        started_at=started,
        finished_at=started,
        slot=started,
        actual_value=value,
        threshold=threshold,
    )


def test_the_history_sparkline_skips_values_that_are_not_numbers() -> None:
    runs = [run(0, 1), run(1, None), run(2, "n/a"), run(3, True), run(4, "5"), run(5, 3.5)]
    text = history(list(reversed(runs)))  # the store gives newest first
    assert text.splitlines()[-1] == "a  ▁▄▃  1 → 3.5, threshold 10 at █"


def test_the_history_sparkline_uses_the_latest_threshold_and_one_line_per_alert() -> None:
    runs = [
        run(0, 1, threshold=100, alert="orders"),
        run(1, 4, threshold=None, alert="orders"),
        run(2, 2, threshold=4, alert="orders"),
        run(0, 0, threshold=None, alert="lag"),
        run(1, 9, threshold="high", alert="lag"),
        run(2, 5, alert="single"),  # one value is not a trend: no line
    ]
    lines = history(list(reversed(runs))).splitlines()
    assert lines[-2:] == [  # in the order the alerts first appear, names aligned
        "orders  ▁█▃  1 → 2, threshold 4 at █",
        "lag     ▁█  0 → 9",
    ]

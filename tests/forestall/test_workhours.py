"""Working hours as UTC windows (DST through zoneinfo) and the skill/region match."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forestall.workhours import HoursError, WeeklyHours, can_serve, working_windows

UTC = dt.UTC


def _utc(year: int, month: int, day: int, hour: int = 0) -> float:
    return dt.datetime(year, month, day, hour, tzinfo=UTC).timestamp()


def test_berlin_eight_to_five_is_seven_to_four_utc_in_winter_and_six_to_three_in_summer() -> None:
    week = WeeklyHours.parse({"fri": [["08:00", "17:00"]], "mon": [["08:00", "17:00"]]}, "Europe/Berlin")
    # Summer time starts Sunday 2027-03-28: the Friday before is UTC+1, the Monday after UTC+2.
    windows = working_windows(week, _utc(2027, 3, 26), _utc(2027, 3, 30))
    assert windows == [
        (_utc(2027, 3, 26, 7), _utc(2027, 3, 26, 16)),
        (_utc(2027, 3, 29, 6), _utc(2027, 3, 29, 15)),
    ]


def test_a_night_shift_across_the_autumn_change_is_an_hour_longer() -> None:
    week = WeeklyHours.parse({"sat": [["22:00", "24:00"]], "sun": [["00:00", "06:00"]]}, "Europe/Berlin")
    windows = working_windows(week, _utc(2027, 10, 30), _utc(2027, 11, 1))
    # 22:00 CEST Saturday to 06:00 CET Sunday: 20:00Z to 05:00Z, nine hours, joined into one window.
    assert windows == [(_utc(2027, 10, 30, 20), _utc(2027, 10, 31, 5))]


def test_windows_are_clipped_to_the_interval_and_empty_for_an_empty_interval() -> None:
    week = WeeklyHours.parse({"mon": [["08:00", "17:00"]]}, "UTC")
    start = _utc(2027, 1, 4, 10)
    assert working_windows(week, start, _utc(2027, 1, 4, 12)) == [(start, _utc(2027, 1, 4, 12))]
    assert working_windows(week, start, start) == []
    assert working_windows(week, start, start - 1) == []


@pytest.mark.parametrize(
    ("spans", "timezone", "message"),
    [
        ({"mon": [["08:00", "17:00"]]}, "Mars/Olympus", "unknown timezone"),
        ({"mon": [["17:00", "08:00"]]}, "UTC", "ends before it starts"),
        ({"mon": [["08:00", "08:00"]]}, "UTC", "ends before it starts"),
        ({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}, "UTC", "overlap"),
        ({"mon": [["8:00", "12:00"]]}, "UTC", "HH:MM"),
        ({"mon": [["08:00", "24:01"]]}, "UTC", "HH:MM"),
        ({"mon": [["08:00"]]}, "UTC", "[start, end]"),
        ({"funday": [["08:00", "12:00"]]}, "UTC", "unknown weekday"),
    ],
)
def test_bad_schedules_are_refused_with_a_reason(
    spans: dict[str, list[list[str]]], timezone: str, message: str
) -> None:
    with pytest.raises(HoursError, match=message.replace("[", r"\[").replace("]", r"\]")):
        WeeklyHours.parse(spans, timezone)


def test_touching_spans_are_allowed_and_the_text_round_trips() -> None:
    spans = {"tue": [["12:00", "17:00"], ["08:00", "12:00"]]}
    week = WeeklyHours.parse(spans, "America/New_York")
    assert week.as_text() == {"tue": [["08:00", "12:00"], ["12:00", "17:00"]]}
    assert WeeklyHours.parse(week.as_text(), week.timezone) == week


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
SPAN = st.tuples(st.integers(0, 47), st.integers(1, 48)).filter(lambda s: s[0] < s[1])


@given(
    zone=ZONES,
    span=SPAN,
    start=st.floats(1_700_000_000, 1_900_000_000),
    length=st.floats(0, 30 * 86400),
)
def test_every_window_lies_in_the_interval_and_on_the_local_schedule(
    zone: str, span: tuple[int, int], start: float, length: float
) -> None:
    clock = [f"{m // 2:02d}:{30 * (m % 2):02d}" for m in span]
    week = WeeklyHours.parse({"wed": [clock]}, zone)
    windows = working_windows(week, start, start + length)
    tz = ZoneInfo(zone)
    for (lo, hi), later in zip(windows, [*windows[1:], None], strict=False):
        assert start <= lo < hi <= start + length
        assert later is None or hi < later[0]
        # Both ends lie on Wednesday's span in local time (give or take a DST shift of an hour).
        for instant in (lo, hi):
            local = dt.datetime.fromtimestamp(instant, tz)
            week_minute = local.weekday() * 1440 + local.hour * 60 + local.minute + local.second / 60
            assert 2 * 1440 + span[0] * 30 - 60 <= week_minute <= 2 * 1440 + span[1] * 30 + 60


@given(start=st.floats(1_700_000_000, 1_900_000_000))
def test_a_whole_week_in_utc_holds_exactly_the_scheduled_hours(start: float) -> None:
    week = WeeklyHours.parse({"mon": [["08:00", "17:00"]], "thu": [["09:00", "10:30"]]}, "UTC")
    total = sum(hi - lo for lo, hi in working_windows(week, start, start + 7 * 86400))
    assert total == pytest.approx(10.5 * 3600)


@pytest.mark.parametrize(
    ("skills", "regions", "asset_type", "site", "region", "expected"),
    [
        ([], [], "pump", None, None, True),
        (["pump"], [], "pump", None, None, True),
        (["valve"], [], "pump", "Plant A", None, False),
        ([], ["Plant A"], "pump", "Plant A", None, True),
        ([], ["Plant A"], "pump", "Plant B", None, False),
        ([], ["Plant A"], "pump", None, None, False),
        ([], ["north"], "pump", "Plant B", "north", True),
        (["pump", "valve"], ["north"], "valve", "Plant B", "south", False),
    ],
)
def test_can_serve_matches_skill_and_region_where_empty_means_any(
    skills: list[str],
    regions: list[str],
    asset_type: str,
    site: str | None,
    region: str | None,
    expected: bool,
) -> None:
    assert can_serve(skills, regions, asset_type, site, region) is expected

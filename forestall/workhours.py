"""Technicians' working hours: a weekly schedule in local time, turned into UTC windows.

Pure: no I/O. The planner asks :func:`working_windows` for the time a technician can work
inside an interval of event time, and :func:`can_serve` whether their skills and regions fit
an asset. Local times follow the schedule's IANA zone through daylight saving changes.

>>> week = WeeklyHours.parse({"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}, "Europe/Berlin")
>>> monday = 1_805_673_600.0  # 2027-03-22T00:00:00Z, a week before summer time
>>> [(a - monday) / 3600 for a, _ in working_windows(week, monday, monday + 14 * 86400)]
[7.0, 12.0, 174.0, 179.0]
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[str, ...]] = get_args(Weekday)
# A local time of day; the API's schema states the same pattern.
TIME_PATTERN: Final = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_TIME_RE = re.compile(TIME_PATTERN)
MAX_SPANS_PER_DAY = 8


class HoursError(ValueError):
    """A schedule that cannot be worked: unknown zone, bad time, inverted or overlapping spans."""


def minute_of_day(text: str) -> int:
    """``"HH:MM"`` (``"24:00"`` is the end of the day) as minutes after local midnight.

    >>> minute_of_day("08:30"), minute_of_day("24:00")
    (510, 1440)
    >>> minute_of_day("08:30\\n")
    Traceback (most recent call last):
    forestall.workhours.HoursError: '08:30\\n' is not a local time HH:MM (00:00 to 24:00)
    """
    if not isinstance(text, str) or _TIME_RE.fullmatch(text) is None:
        raise HoursError(f"{text!r} is not a local time HH:MM (00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or :class:`HoursError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoursError(f"unknown timezone {name!r}") from exc


@dataclass(frozen=True)
class WeeklyHours:
    """Per weekday (0 = Monday), sorted disjoint [start, end) spans in minutes of local time."""

    timezone: str
    days: tuple[tuple[tuple[int, int], ...], ...]

    @classmethod
    def parse(cls, spans: Mapping[str, Sequence[Sequence[str]]], timezone: str) -> WeeklyHours:
        """Validate a schedule such as ``{"mon": [["08:00", "17:00"]]}`` in ``timezone``."""
        zone(timezone)
        unknown = set(spans) - set(WEEKDAYS)
        if unknown:
            raise HoursError(f"unknown weekday {sorted(unknown)[0]!r}; use one of {', '.join(WEEKDAYS)}")
        return cls(timezone, tuple(_day(day, spans.get(day, ())) for day in WEEKDAYS))

    def as_text(self) -> dict[str, list[list[str]]]:
        """The schedule as :meth:`parse` takes it (days without hours left out)."""
        return {
            WEEKDAYS[i]: [[_clock(a), _clock(b)] for a, b in day] for i, day in enumerate(self.days) if day
        }


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(name: str, spans: Sequence[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    if len(spans) > MAX_SPANS_PER_DAY:
        raise HoursError(f"{name}: at most {MAX_SPANS_PER_DAY} spans a day")
    parsed: list[tuple[int, int]] = []
    for span in spans:
        if len(span) != 2:
            raise HoursError(f"{name}: a span is [start, end], got {list(span)!r}")
        start, end = minute_of_day(span[0]), minute_of_day(span[1])
        if start >= end:
            raise HoursError(f"{name}: span {span[0]}–{span[1]} ends before it starts")
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in itertools.pairwise(parsed):
        if start < end:
            raise HoursError(f"{name}: spans overlap at {_clock(start)}")
    return tuple(parsed)


def working_windows(hours: WeeklyHours, start: float, end: float) -> list[tuple[float, float]]:
    """The [start, end) windows in UTC epoch seconds where ``hours`` meets [start, end).

    Each local span is placed on its calendar date in the schedule's zone, so an 08:00 start is
    08:00 on the wall clock in winter and in summer. A local time skipped by a spring-forward
    change counts as the offset before it (as :mod:`zoneinfo` reads it); windows that touch
    are joined.
    """
    if not end > start:
        return []
    tz = zone(hours.timezone)
    first = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    windows: list[tuple[float, float]] = []
    day = first
    while day <= last:
        midnight = dt.datetime.combine(day, dt.time(), tz)
        for a, b in hours.days[day.weekday()]:
            # Aware arithmetic keeps the wall time, so each end takes its own local offset.
            lo = max(start, (midnight + dt.timedelta(minutes=a)).timestamp())
            hi = min(end, (midnight + dt.timedelta(minutes=b)).timestamp())
            if hi > lo:
                windows.append((lo, hi))
        day += dt.timedelta(days=1)
    return _joined(windows)


def _joined(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def can_serve(
    skills: Iterable[str],
    regions: Iterable[str],
    asset_type: str,
    site: str | None,
    region: str | None = None,
) -> bool:
    """Whether a technician with ``skills`` (asset types) and ``regions`` (sites or region
    labels) may serve an asset; an empty list means any.

    >>> can_serve(["pump"], [], "pump", "Plant A")
    True
    >>> can_serve(["pump"], ["Plant B", "north"], "pump", "Plant A", region="north")
    True
    >>> can_serve(["valve"], [], "pump", None)
    False
    """
    skill_set, region_set = set(skills), set(regions)
    if skill_set and asset_type not in skill_set:
        return False
    return not region_set or bool(region_set & {p for p in (site, region) if p is not None})

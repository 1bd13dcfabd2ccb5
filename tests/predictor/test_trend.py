"""The O(1) sliding trend agrees with a direct least-squares fit over the same window."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from predictor.trend import HOUR, SlidingTrend


def direct_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(points)
    xs = [(t - points[0][0]) / HOUR for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, math.sqrt(resid / max(n - 2, 1) / sxx)


@given(st.lists(st.floats(-100, 100), min_size=8, max_size=1500), st.floats(1.7e9, 1.8e9))
def test_matches_a_direct_fit_over_the_window(values: list[float], start: float) -> None:
    trend = SlidingTrend(window_s=24 * HOUR, min_points=3, min_span_s=0.0)
    for i, value in enumerate(values):
        trend.add(start + i * 600.0, value)
    window = list(trend.points)
    assert window[-1][0] - window[0][0] <= 24 * HOUR
    slope, se = trend.fit()
    want_slope, want_se = direct_fit(window)
    assert slope == pytest.approx(want_slope, abs=1e-6, rel=1e-6)
    assert se == pytest.approx(want_se, abs=1e-5, rel=1e-4)


def test_too_little_history_has_no_trend() -> None:
    trend = SlidingTrend(window_s=24 * HOUR)
    for i in range(5):
        trend.add(i * 600.0, float(i))
    assert trend.fit() == (0.0, math.inf)
    trend.clear()
    assert not trend.points


def test_stays_exact_across_many_refreshes_of_its_sums() -> None:
    trend = SlidingTrend(window_s=24 * HOUR, min_points=3, min_span_s=0.0)
    for i in range(5000):  # five refreshes, a year of 10-minute samples after 1.8e9 s
        trend.add(1.8e9 + i * 600.0, 0.01 * i + math.sin(i / 7.0))
    slope, se = trend.fit()
    want_slope, want_se = direct_fit(list(trend.points))
    assert slope == pytest.approx(want_slope, rel=1e-9)
    assert se == pytest.approx(want_se, rel=1e-6)

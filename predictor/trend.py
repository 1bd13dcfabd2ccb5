"""A least-squares trend over a sliding event-time window, updated in O(1) per point.

>>> trend = SlidingTrend(window_s=10 * 3600.0, min_points=3, min_span_s=0.0)
>>> for hour in range(5):
...     trend.add(hour * 3600.0, 2.0 * hour + 1.0)
>>> slope, se = trend.fit()
>>> round(slope, 6), round(se, 6)
(2.0, 0.0)
"""

from __future__ import annotations

import math
from collections import deque

HOUR = 3600.0
REFRESH_EVERY = 1000  # recompute the sums now and then so rounding cannot accumulate


class SlidingTrend:
    def __init__(self, window_s: float, min_points: int = 6, min_span_s: float = 4 * HOUR) -> None:
        self.window_s = window_s
        self.min_points = min_points
        self.min_span_s = min_span_s
        self.points: deque[tuple[float, float]] = deque()  # (ts, value)
        self._anchor = 0.0
        self._sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # Σx Σy Σxx Σxy Σyy, x in hours since the anchor
        self._adds = 0

    def clear(self) -> None:
        self.points.clear()
        self._sums = [0.0] * 5

    def add(self, ts: float, value: float) -> None:
        if not self.points:
            self._anchor = ts
        self.points.append((ts, value))
        self._account(ts, value, +1.0)
        while self.points and self.points[0][0] < ts - self.window_s:
            old_ts, old_value = self.points.popleft()
            self._account(old_ts, old_value, -1.0)
        self._adds += 1
        if self._adds % REFRESH_EVERY == 0:
            self._refresh()

    def _account(self, ts: float, value: float, sign: float) -> None:
        x = (ts - self._anchor) / HOUR
        s = self._sums
        s[0] += sign * x
        s[1] += sign * value
        s[2] += sign * x * x
        s[3] += sign * x * value
        s[4] += sign * value * value

    def _refresh(self) -> None:
        self._anchor = self.points[0][0] if self.points else 0.0
        self._sums = [0.0] * 5
        for ts, value in self.points:
            self._account(ts, value, +1.0)

    def fit(self) -> tuple[float, float]:
        """Slope per hour and its standard error; (0, inf) while there is too little to fit."""
        n = len(self.points)
        if n < self.min_points or self.points[-1][0] - self.points[0][0] < self.min_span_s:
            return 0.0, math.inf
        sx, sy, sxx, sxy, syy = self._sums
        cxx = sxx - sx * sx / n
        if cxx <= 1e-12:
            return 0.0, math.inf
        cxy = sxy - sx * sy / n
        cyy = syy - sy * sy / n
        slope = cxy / cxx
        residual = max(cyy - slope * cxy, 0.0)
        return slope, math.sqrt(residual / max(n - 2, 1) / cxx)

    def values_before(self, ts: float) -> list[float]:
        return [v for t, v in self.points if t <= ts]

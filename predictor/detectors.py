"""Anomaly detection against a learned healthy baseline, following River's detector contract.

``BaselineDetector`` learns, per sensor, the healthy *daily profile* (the expected level at
each hour of the day, from 24 hourly bins interpolated between their centres) and the spread
of readings around it. A sample is scored by how far its most deviant sensors sit from the
level expected at that time of day, in standard deviations. Field equipment follows a daily
duty cycle (busy afternoons, quiet nights); taking it out of the baseline leaves only noise,
so a fault shows several times earlier than against one flat mean and variance.

Forgetting is in *event time* (``memory_s``), not per sample, so the baseline means the
same whether a device reports every second or every ten minutes. A detector can start from
a fleet baseline (the same equipment type across assets) and blends towards its own as it
learns.

>>> det = BaselineDetector(warmup=5)
>>> for i, v in enumerate([10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.1]):
...     det.learn_one({"temp_c": v}, at=i * 600.0)
>>> det.score_one({"temp_c": 10.0}, at=4800.0) < 1.0 < det.score_one({"temp_c": 14.0}, at=4800.0)
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from river import base

HOUR = 3600.0
DAY = 24 * HOUR
BINS = 24
MIN_STD_FRACTION = 0.005  # a sensor's spread is at least 0.5 % of its level (flat signals)
MIN_STD_ABS = 1e-3
Z_CLIP = 50.0
MAX_STEP_S = HOUR  # a gap in the data counts as at most this much forgetting
DEFAULT_MEMORY_S = 3.5 * DAY
SELF_RELIANT = 20  # after this many warm-ups' worth of samples the fleet prior no longer counts


def _position(at: float | None) -> tuple[int, int, float] | None:
    """The two hourly bins around ``at`` (UTC time of day) and the weight of the second."""
    if at is None:
        return None
    hours = (at % DAY) / HOUR - 0.5  # bin i is centred on i + 0.5 h
    first = math.floor(hours)
    return first % BINS, (first + 1) % BINS, hours - first


class SensorBaseline:
    """One sensor's healthy daily profile and the spread around it.

    Young statistics are plain running means (every sample counts alike); once the
    event-time forgetting weight exceeds ``1/n`` they become exponentially weighted.
    """

    __slots__ = ("_last", "levels", "n", "seen", "var")

    def __init__(self) -> None:
        self.n = 0
        self.levels: list[float] = [0.0] * BINS
        self.seen: list[int] = [0] * BINS
        self.var = 0.0
        self._last: float | None = None

    def level(self, pos: tuple[int, int, float] | None) -> float | None:
        """Expected reading at time-of-day position ``pos`` (see ``_position``); None before any data."""
        seen, levels = self.seen, self.levels
        if pos is not None:
            first, second, w = pos
            if seen[first] and seen[second]:
                return levels[first] + w * (levels[second] - levels[first])
            if seen[first]:
                return levels[first]
            if seen[second]:
                return levels[second]
        if not self.n:
            return None
        # Young, with no data near this time of day yet: the mean of what it has seen.
        total = sum(seen)
        return sum(lv * n for lv, n in zip(levels, seen, strict=True)) / total if total else None

    def update(
        self, value: float, at: float | None, pos: tuple[int, int, float] | None, memory_s: float
    ) -> None:
        expected = self.level(pos)
        last = self._last
        step = MAX_STEP_S if at is None or last is None else min(max(at - last, 0.0), MAX_STEP_S)
        if at is not None and (last is None or at > last):
            self._last = at
        self.n += 1
        if expected is not None:
            # The spread is measured around the profile as it was before this sample.
            rate = max(1.0 / self.n, step / memory_s)
            residual = value - expected
            self.var += rate * (residual * residual - self.var)
        if pos is None:
            return  # no time of day: nothing to say about the profile
        b = pos[0] if pos[2] < 0.5 else pos[1]
        self.seen[b] += 1
        # Each bin is visited one hour a day, so it forgets 24 times faster per visit.
        rate = max(1.0 / self.seen[b], min(BINS * step / memory_s, 1.0))
        self.levels[b] += rate * (value - self.levels[b])


class BaselineDetector(base.AnomalyDetector):
    """Scores how far a sample's most deviant sensors sit from the healthy daily profile (in sigmas)."""

    def __init__(
        self,
        warmup: int = 36,
        memory_s: float = DEFAULT_MEMORY_S,
        top_k: int = 2,
        prior: BaselineDetector | None = None,
    ) -> None:
        self.warmup = warmup
        self.memory_s = memory_s
        self.top_k = top_k
        self.prior = prior
        self.baselines: dict[str, SensorBaseline] = {}

    def learn_one(self, x: dict[Hashable, Any], at: float | None = None) -> None:
        pos = _position(at)
        for key, value in x.items():
            name = str(key)
            baseline = self.baselines.get(name)
            if baseline is None:
                baseline = self.baselines[name] = SensorBaseline()
            baseline.update(float(value), at, pos, self.memory_s)

    def samples_seen(self) -> int:
        return min((b.n for b in self.baselines.values()), default=0)

    def _moments(self, name: str, pos: tuple[int, int, float] | None) -> tuple[float, float] | None:
        own = self.baselines.get(name)
        n = own.n if own else 0
        own_level = own.level(pos) if own is not None and n >= 2 else None
        if (
            own is not None
            and own_level is not None
            and (self.prior is None or n >= SELF_RELIANT * self.warmup)
        ):
            return own_level, own.var
        fleet = self.prior._moments(name, pos) if self.prior is not None else None
        if own is None or own_level is None:
            return fleet
        if fleet is None:
            return own_level, own.var
        weight = n / (n + self.warmup)
        return weight * own_level + (1 - weight) * fleet[0], weight * own.var + (1 - weight) * fleet[1]

    def zscores(self, x: dict[Hashable, Any], at: float | None = None) -> dict[str, float]:
        result: dict[str, float] = {}
        pos = _position(at)
        for key, value in x.items():
            name = str(key)
            moments = self._moments(name, pos)
            if moments is None:
                continue
            mean, var = moments
            std = max(math.sqrt(max(var, 0.0)), abs(mean) * MIN_STD_FRACTION, MIN_STD_ABS)
            result[name] = max(-Z_CLIP, min(Z_CLIP, (float(value) - mean) / std))
        return result

    def score_one(self, x: dict[Hashable, Any], at: float | None = None) -> float:
        return self.deviation(self.zscores(x, at))

    def deviation(self, z: dict[str, float]) -> float:
        """Mean absolute z-score of the ``top_k`` most deviant sensors."""
        top = sorted((abs(v) for v in z.values()), reverse=True)[: self.top_k]
        return sum(top) / len(top) if top else 0.0

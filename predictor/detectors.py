"""Anomaly detection against a learned healthy baseline, following River's detector contract.

``BaselineDetector`` keeps per-sensor exponentially weighted mean and variance (River
``stats.EWMean``/``EWVar``) and scores a sample by how far its most deviant sensors are
from that baseline, in standard deviations. A detector can start from a fleet baseline
(the same equipment type across assets) and blends towards its own as it learns.

>>> det = BaselineDetector(warmup=5)
>>> for v in [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.1]:
...     det.learn_one({"temp_c": v})
>>> det.score_one({"temp_c": 10.0}) < 1.0 < det.score_one({"temp_c": 14.0})
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from river import base, stats

MIN_STD_FRACTION = 0.01  # a sensor's spread is at least 1 % of its level (flat signals)
MIN_STD_ABS = 1e-3
Z_CLIP = 50.0


class SensorBaseline:
    """Running mean/variance of one sensor: Welford while young, then exponentially weighted."""

    def __init__(self, fading_factor: float) -> None:
        self.n = 0
        self._mean = stats.Mean()
        self._var = stats.Var()
        self._ew_mean = stats.EWMean(fading_factor=fading_factor)
        self._ew_var = stats.EWVar(fading_factor=fading_factor)
        self.young = round(1.0 / fading_factor)

    def update(self, value: float) -> None:
        self.n += 1
        self._mean.update(value)
        self._var.update(value)
        self._ew_mean.update(value)
        self._ew_var.update(value)

    @property
    def mean(self) -> float:
        return float(self._mean.get() if self.n < self.young else self._ew_mean.get())

    @property
    def var(self) -> float:
        return float(self._var.get() if self.n < self.young else self._ew_var.get())


class BaselineDetector(base.AnomalyDetector):
    """Scores how far a sample's most deviant sensors sit from the healthy baseline (in sigmas)."""

    def __init__(
        self,
        warmup: int = 36,
        fading_factor: float = 0.01,
        top_k: int = 2,
        prior: BaselineDetector | None = None,
    ) -> None:
        self.warmup = warmup
        self.fading_factor = fading_factor
        self.top_k = top_k
        self.prior = prior
        self.baselines: dict[str, SensorBaseline] = {}

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        for key, value in x.items():
            name = str(key)
            baseline = self.baselines.get(name)
            if baseline is None:
                baseline = self.baselines[name] = SensorBaseline(self.fading_factor)
            baseline.update(float(value))

    def samples_seen(self) -> int:
        return min((b.n for b in self.baselines.values()), default=0)

    def _moments(self, name: str) -> tuple[float, float] | None:
        own = self.baselines.get(name)
        fleet = self.prior._moments(name) if self.prior is not None else None
        n = own.n if own else 0
        if fleet is None:
            if own is None or n < 2:
                return None
            return own.mean, own.var
        if own is None or n < 2:
            return fleet
        weight = n / (n + self.warmup)
        mean = weight * own.mean + (1 - weight) * fleet[0]
        var = weight * own.var + (1 - weight) * fleet[1]
        return mean, var

    def zscores(self, x: dict[Hashable, Any]) -> dict[str, float]:
        result: dict[str, float] = {}
        for key, value in x.items():
            name = str(key)
            moments = self._moments(name)
            if moments is None:
                continue
            mean, var = moments
            std = max(math.sqrt(max(var, 0.0)), abs(mean) * MIN_STD_FRACTION, MIN_STD_ABS)
            result[name] = max(-Z_CLIP, min(Z_CLIP, (float(value) - mean) / std))
        return result

    def score_one(self, x: dict[Hashable, Any]) -> float:
        return self.deviation(self.zscores(x))

    def deviation(self, z: dict[str, float]) -> float:
        """Mean absolute z-score of the ``top_k`` most deviant sensors."""
        top = sorted((abs(v) for v in z.values()), reverse=True)[: self.top_k]
        return sum(top) / len(top) if top else 0.0

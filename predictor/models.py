"""Per-asset online models in event time: anomaly, failure probability, time to failure.

Pure logic (River estimators and plain Python); no broker, DB or HTTP. Each asset has an
``AssetModel``; assets of one equipment type share ``TypeModels`` (fleet baseline, the
failure classifier and the learned failure level), so a new asset starts from its fleet
(cold start) and then adapts. Labels arrive late, from the field: samples inside the
horizon before a confirmed fault become positives, others negatives once the horizon has
passed without a fault.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import compose, drift, linear_model, optim, preprocessing, stats

from predictor.detectors import BaselineDetector
from predictor.rul import RulFeatures, RulModel
from predictor.trend import SlidingTrend

MODEL_VERSION = "profile-rul-4"
HOUR = 3600.0
LABEL_HORIZON_S = 7 * 24 * HOUR  # a step this close before a confirmed fault is a positive
LABEL_EVERY_S = HOUR  # steps kept for labelling: one an hour (the P-F interval is days)
MIN_FAULT_EVENTS = 3  # confirmed faults of a type before its learned classifier gets a say
TREND_WINDOW_S = 24 * HOUR
MIN_TREND_SPAN_S = 4 * HOUR
SMOOTHING = 0.15  # EW factor of the health indicator
LEARN_GATE = 2.0  # above this deviation a sample no longer teaches the healthy baseline
WARMUP_GATE = 6.0  # while warming up only gross deviations are kept out of the baseline
WARMUP_S = 24 * HOUR  # a new asset sees a full daily cycle before it may raise an alarm
SETTLE_S = 2 * HOUR  # after a repair, the indicator settles before alarms resume
DRIFT_VISIBLE_S = 24 * HOUR  # how long a detected drift stays flagged in the health output
PRIOR_MIDPOINT = 3.0  # indicator at which the prior failure probability is 0.5
PRIOR_GAIN = 2.0  # how sharply the prior probability rises with the indicator
PRIOR_FAILURE_LEVEL = 9.0  # indicator at failure before any failure has been observed
MAX_TTF_HOURS = 30 * 24.0
RUL_STALE_S = 2 * HOUR  # a learned RUL estimate older than this gives way to the trend
STEP_S = 600.0  # models step on 10-minute event-time means, whatever the raw sample rate
FLEET_EVERY = 6  # an asset teaches the fleet baseline every this many steps
BASELINE_MEMORY_S = 14 * 24 * HOUR  # slow: a baseline that followed the signal would absorb wear


@dataclass(frozen=True, slots=True)
class Health:
    at: float
    anomaly_score: float  # 0..1
    indicator: float  # smoothed deviation from the healthy baseline, in sigmas
    failure_probability: float
    ttf_hours: float | None
    ttf_low_hours: float | None
    ttf_high_hours: float | None
    top_sensors: tuple[str, ...]
    warming_up: bool
    drift: bool = False  # the asset's behaviour changed recently (Page-Hinkley on its deviation)


FEATURES = ("indicator", "slope_per_day", "max_z")


class Pending:
    """Steps awaiting a label, packed as floats (ts and ``FEATURES``) to keep checkpoints small."""

    WIDTH = 1 + len(FEATURES)

    def __init__(self) -> None:
        self.rows = array("d")

    def __len__(self) -> int:
        return len(self.rows) // self.WIDTH

    def __bool__(self) -> bool:
        return bool(self.rows)

    def last_ts(self) -> float | None:
        return self.rows[-self.WIDTH] if self.rows else None

    def append(self, ts: float, features: dict[str, float]) -> None:
        self.rows.append(ts)
        self.rows.extend(features[name] for name in FEATURES)

    def __iter__(self) -> Iterator[tuple[float, dict[str, float]]]:
        rows, width = self.rows, self.WIDTH
        for i in range(0, len(rows), width):
            yield rows[i], dict(zip(FEATURES, rows[i + 1 : i + width], strict=True))

    def pop_older(self, cutoff: float) -> list[dict[str, float]]:
        """Remove and return the steps before ``cutoff`` (oldest first)."""
        rows, width = self.rows, self.WIDTH
        count = 0
        while count * width < len(rows) and rows[count * width] < cutoff:
            count += 1
        if not count:
            return []
        old = [features for _, features in itertools.islice(self, count)]
        del rows[: count * width]
        return old

    def keep_after(self, at: float) -> None:
        kept = array("d")
        for ts, features in self:
            if ts > at:
                kept.append(ts)
                kept.extend(features[name] for name in FEATURES)
        self.rows = kept

    def clear(self) -> None:
        self.rows = array("d")


def _drift_detector() -> drift.PageHinkley:
    """Page-Hinkley on an asset's deviation: flags a lasting rise, not a single spike."""
    return drift.PageHinkley(min_instances=30, threshold=50.0, mode="up")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


class TypeModels:
    """What assets of one equipment type learn together."""

    def __init__(self) -> None:
        self.baseline = BaselineDetector(warmup=200, memory_s=BASELINE_MEMORY_S)
        self.classifier = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(0.05), l2=1e-4),
        )
        self.positives = 0
        self.negatives = 0
        self.fault_events = 0
        self.failure_level = stats.Mean()
        self.rul = RulModel()  # learns from run-to-failure histories of this type

    def probability(self, features: dict[str, float]) -> float:
        # The trend only nudges the prior: a rising but still small deviation is no alarm.
        slope = max(min(features["slope_per_day"], 2.0), -2.0)
        prior = _sigmoid(PRIOR_GAIN * (features["indicator"] - PRIOR_MIDPOINT) + 0.6 * slope)
        # Trust the learned model by independent fault events, not by (correlated) samples.
        if self.fault_events < MIN_FAULT_EVENTS or self.negatives == 0:
            return prior
        learned = float(self.classifier.predict_proba_one(features).get(True, 0.0))
        weight = self.fault_events / (self.fault_events + 20.0)
        return (1 - weight) * prior + weight * learned

    def learn(self, features: dict[str, float], positive: bool) -> None:
        self.classifier.learn_one(features, positive)
        if positive:
            self.positives += 1
        else:
            self.negatives += 1

    def level_at_failure(self) -> float:
        return float(self.failure_level.get()) if self.failure_level.n else PRIOR_FAILURE_LEVEL


class AssetModel:
    def __init__(self, fleet: TypeModels, warmup: int = 36) -> None:
        self.fleet = fleet
        self.detector = BaselineDetector(warmup=warmup, memory_s=BASELINE_MEMORY_S, prior=fleet.baseline)
        self.warmup = warmup
        self.indicator = 0.0
        self.trend = SlidingTrend(TREND_WINDOW_S, min_points=6, min_span_s=MIN_TREND_SPAN_S)
        self.drift_detector = _drift_detector()
        self.drift_at: float | None = None
        self.pending = Pending()  # steps awaiting a label
        self.since_reset = 0
        self.warm_until: float | None = None  # event time when alarms may start
        self.down = False
        self.last: Health | None = None
        self.rul_features = RulFeatures()  # hourly vectors and their history, for the RUL model
        self.rul_estimate: tuple[float, tuple[float, float, float]] | None = None  # (at, (rul, low, high))
        self.rul_recent = array("d")  # learned indicators of the last hours, for trajectory matching
        self.rul_revision = -1
        self.step_sums: dict[str, float] = {}  # raw readings of the step under way
        self.step_count = 0
        self.step_end: float | None = None

    def update(self, ts: float, reading: dict[str, float]) -> Health:
        """Take one raw reading; the models step when it closes a ``STEP_S`` event-time step.

        A step closes with the first reading at or past its end and steps on the mean of its
        readings, so the cost and the state do not grow with the sample rate. A late reading
        (before the step under way) joins the step under way.
        """
        sums = self.step_sums
        for name, value in reading.items():
            sums[name] = sums.get(name, 0.0) + value
        self.step_count += 1
        if self.step_end is None:
            self.step_end = (math.floor(ts / STEP_S) + 1) * STEP_S
        if ts < self.step_end and self.last is not None:
            return self.last
        count = self.step_count
        means = {name: total / count for name, total in sums.items()}
        self.step_sums, self.step_count = {}, 0
        self.step_end = (math.floor(ts / STEP_S) + 1) * STEP_S
        return self._step(ts, means)

    def _step(self, ts: float, reading: dict[str, float]) -> Health:
        values: dict[Hashable, Any] = {name: value for name, value in reading.items()}
        if self.warm_until is None:
            self.warm_until = ts + WARMUP_S
        warming = ts < self.warm_until
        # Scored against the baseline as it was before this sample (prequential).
        z = self.detector.zscores(values, ts)
        raw = self.detector.deviation(z)
        gate = WARMUP_GATE if warming else LEARN_GATE
        if (self.since_reset < self.warmup or raw < gate) and not self.down:
            self.detector.learn_one(values, ts)
            if self.since_reset % FLEET_EVERY == 0:  # the fleet prior needs a sample, not every step
                self.fleet.baseline.learn_one(values, ts)
        self.since_reset += 1
        if not warming and not self.down:
            self.drift_detector.update(raw)  # type: ignore[no-untyped-call]  # river leaves it unannotated
            if self.drift_detector.drift_detected:
                self.drift_at = ts
        self.indicator = raw if not self.trend.points else SMOOTHING * raw + (1 - SMOOTHING) * self.indicator
        self.trend.add(ts, self.indicator)
        slope, slope_se = self.trend.fit()
        features = {
            "indicator": self.indicator,
            "slope_per_day": slope * 24.0,
            "max_z": max((abs(v) for v in z.values()), default=0.0),
        }
        self._age_labels(ts)
        last = self.pending.last_ts()
        if last is None or ts - last >= LABEL_EVERY_S:
            self.pending.append(ts, features)
        probability = 0.0 if warming or self.down else self.fleet.probability(features)
        self._estimate_rul(ts, reading)
        ttf = self._ttf(ts, slope, slope_se)
        top = tuple(name for name, _ in sorted(z.items(), key=lambda kv: -abs(kv[1]))[:3])
        self.last = Health(
            ts,
            1.0 - math.exp(-max(self.indicator - 1.0, 0.0) / 4.0),
            self.indicator,
            probability,
            *ttf,
            top,
            warming,
            self.drift_at is not None and ts - self.drift_at < DRIFT_VISIBLE_S,
        )
        return self.last

    def _estimate_rul(self, ts: float, reading: dict[str, float]) -> None:
        """Once an hour, the fleet's learned RUL for this asset's recent trajectory.

        The trajectory of learned indicators is kept and grows by one value an hour; it is
        rebuilt from the feature history only when the fleet model has learned since.
        """
        x = self.rul_features.add(ts, reading)
        rul = self.fleet.rul
        if x is None or self.down or not rul.trained:
            return
        if self.rul_revision != rul.revision or not self.rul_recent:
            history = self.rul_features.history(rul.match_steps)
            vectors = [v for _, v in history[:-1]] + [x]
            self.rul_recent = array("d", rul.indicators(vectors).tolist())
            self.rul_revision = rul.revision
        else:
            self.rul_recent.append(float(rul.indicators([x])[0]))
            del self.rul_recent[: -rul.match_steps]
        estimate = rul.predict_recent(np.frombuffer(self.rul_recent, dtype=np.float64))
        self.rul_estimate = None if estimate is None else (ts, estimate)

    def _ttf(self, ts: float, slope: float, se: float) -> tuple[float | None, float | None, float | None]:
        """Time to failure: the learned RUL once the type has run-to-failure history, else the trend."""
        if not self.down and self.rul_estimate is not None and ts - self.rul_estimate[0] <= RUL_STALE_S:
            elapsed = (ts - self.rul_estimate[0]) / HOUR
            rul, low, high = (max(v - elapsed, 0.0) for v in self.rul_estimate[1])
            return max(rul, 0.5), max(low, 0.25), max(high, rul, 0.5)
        gap = self.fleet.level_at_failure() - self.indicator
        if self.down or slope <= 0.01 or math.isinf(se):
            return None, None, None
        if gap <= 0:
            return 0.5, 0.25, 2.0
        ttf = min(gap / slope, MAX_TTF_HOURS)
        low = min(gap / (slope + 2 * se), ttf)
        high = gap / (slope - 2 * se) if slope > 2 * se else MAX_TTF_HOURS
        return max(ttf, 0.5), max(low, 0.25), min(max(high, ttf), MAX_TTF_HOURS)

    def _age_labels(self, now: float) -> None:
        """Samples older than the horizon without a confirmed fault since are negatives."""
        for features in self.pending.pop_older(now - LABEL_HORIZON_S):
            if not self.down:
                self.fleet.learn(features, positive=False)

    def confirm_fault(self, at: float, failed: bool) -> None:
        """A technician found a fault (or the asset failed) at ``at``: label, then await repair."""
        for ts, features in self.pending:
            if at - LABEL_HORIZON_S <= ts <= at:
                self.fleet.learn(features, positive=True)
        self.fleet.fault_events += 1
        if failed:
            before = self.trend.values_before(at)
            if before:
                self.fleet.failure_level.update(max(before))
            # Run to failure: the asset's whole recent history is labelled with its true RUL.
            # Readings after the failure (a late label) are not part of its run-up.
            history = [(ts, x) for ts, x in self.rul_features.history() if ts <= at]
            self.fleet.rul.learn_failure(history, at)
        self.pending.clear()
        self.down = failed

    def confirm_no_fault(self, at: float) -> None:
        for ts, features in self.pending:
            if ts <= at:
                self.fleet.learn(features, positive=False)
        if self.drift_at is not None and at - self.drift_at < DRIFT_VISIBLE_S:
            self._rebaseline(at)
        self.pending.keep_after(at)

    def _rebaseline(self, at: float) -> None:
        """The behaviour changed and a technician found nothing wrong: learn the new normal."""
        self.detector = BaselineDetector(
            warmup=self.warmup, memory_s=BASELINE_MEMORY_S, prior=self.fleet.baseline
        )
        self.drift_detector = _drift_detector()
        self.drift_at = None
        self.indicator = 0.0
        self.trend.clear()
        self.since_reset = 0
        self.warm_until = at + WARMUP_S

    def repaired(self, at: float) -> None:
        """A repair resets the asset's degradation state (its healthy baseline is kept)."""
        self.down = False
        self.indicator = 0.0
        self.trend.clear()
        self.pending.clear()
        self.since_reset = 0
        self.warm_until = at + SETTLE_S
        self.drift_detector = _drift_detector()
        self.drift_at = None
        self.last = None
        self.step_sums, self.step_count, self.step_end = {}, 0, None
        self.rul_features.reset()
        self.rul_estimate = None
        self.rul_recent = array("d")

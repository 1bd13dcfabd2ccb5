"""Per-asset online models in event time: deviation, failure probability, time to failure.

Pure logic (River estimators, NumPy and plain Python); no broker, DB or HTTP. Each asset has
an ``AssetModel``; assets of one equipment type share ``TypeModels``: its operating regimes,
its fleet normal, its failure library, its learned RUL model and its calibrator. Nothing here
knows a sensor name or an equipment type: all of it is learned from the data and the labels.

Per reading, in event time:

1. readings are folded into ``STEP_S`` means; each step is put in fleet units for its regime
   and compared with the asset's own normal: ``z`` per sensor, in healthy spreads, smoothed
   over ``SMOOTHING_S``. The *deviation* is the mean of its two largest ``|z|``;
2. once an hour the evidence is weighed (``calibration``): the anomaly (deviation and its
   trend), the crossing times of the type's failed lives (``failures``) and the learned RUL
   (``rul``), into the probability of failure within ``HORIZON_S``;
3. labels from the field arrive through ``label`` and wait until the asset's data has reached
   the time they happened (``advance`` lets them through once the tenant's clock is past it),
   so a label that overtakes its data still teaches the right history.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from river import drift

from forestall.vocab import SENSOR_REPAIR
from predictor.calibration import (
    ANOMALY_MIDPOINT,
    Calibrator,
    anomaly_probability,
    evidence,
    probability_from_band,
)
from predictor.failures import FailureLibrary
from predictor.labels import Pending
from predictor.normal import AssetNormal, DailyCycles, FleetNormal, Peers
from predictor.regimes import RegimeModel
from predictor.rul import RulFeatures, RulModel
from predictor.sensor_faults import SensorFault, SensorFleet, SensorWatch
from predictor.trend import SlidingTrend

MODEL_VERSION = "fleet-12"
HOUR = 3600.0
STEP_S = 600.0  # models step on 10-minute event-time means, whatever the raw sample rate
HORIZON_S = 48 * HOUR  # failure_probability is the probability of failure within this horizon
SMOOTHING_S = 3 * HOUR  # time constant of the smoothed deviations
YOUNG_S = 24 * HOUR  # after installation or a repair, an asset teaches the fleet's level this long
WARMUP_S = 12 * HOUR  # a new asset raises no alarm before it has seen this much (some fail within a day)
SETTLE_S = 2 * HOUR  # after a repair, alarms resume after this
LEARN_GATE = 2.5  # above this deviation a step no longer teaches what normal is
YOUNG_GATE = 6.0  # while young only gross deviations are kept out
LABEL_EVERY_S = HOUR  # evidence kept for labelling: one row an hour
LABEL_GRACE_S = 24 * HOUR  # a row is a negative once its asset ran this long past the horizon
LABEL_HOLD_S = HOUR  # a label waits for its asset's data until the tenant's clock is this far past
LABEL_WAIT_WALL_S = 3600.0  # … or this long on the wall clock (an asset that never reports again)
TREND_WINDOW_S = 24 * HOUR
MIN_TREND_SPAN_S = 4 * HOUR
DRIFT_VISIBLE_S = 24 * HOUR
RUL_STALE_S = 2 * HOUR
MAX_TTF_HOURS = 30 * 24.0
FLEET_EVERY = 3  # an asset teaches the fleet normal every this many steps
# The fleet's normal of a sensor (per regime) is trusted for alarms once its young assets have shown
# it this long together, in event time (and on at least 30 readings): counted in readings, an hourly
# fleet stayed silent six times as long as a 10-minute one.
MATURE_S = 100 * STEP_S


@dataclass(frozen=True, slots=True)
class Health:
    at: float
    anomaly_score: float  # 0..1
    indicator: float  # deviation from the asset's own normal, in healthy spreads
    failure_probability: float  # of failing within the horizon
    ttf_hours: float | None
    ttf_low_hours: float | None
    ttf_high_hours: float | None
    top_sensors: tuple[str, ...]
    warming_up: bool
    drift: bool = False  # the asset's behaviour changed recently (Page-Hinkley on its deviation)
    evidence: Mapping[str, float] = field(default_factory=dict)  # what the probability rests on
    sensor_faults: tuple[SensorFault, ...] = ()  # channels misreading now (kept out of the models)


def _drift_detector() -> drift.PageHinkley:
    """Page-Hinkley on an asset's deviation: flags a lasting rise, not a single spike."""
    return drift.PageHinkley(min_instances=30, threshold=50.0, mode="up")


class TypeModels:
    """What assets of one equipment type learn together."""

    def __init__(self) -> None:
        self.regimes = RegimeModel()
        self.generation = 0  # bumped when the regimes are found: normals learnt before are void
        self.normal = FleetNormal()
        self.cycles = DailyCycles()
        self.library = FailureLibrary()
        self.rul = RulModel()
        self.calibrator = Calibrator()
        self.peers = Peers()
        self.fault_events = 0
        self.sensors = SensorFleet()

    def regime(self, reading: Mapping[str, float], source: object, sample: bool = True) -> int:
        """The regime of a raw reading; ``sample`` lets it into the readings the regimes are found from."""
        fitted = self.regimes.fitted
        regime = self.regimes.assign(reading, source, sample)
        if not fitted and self.regimes.fitted and self.regimes.count > 1:
            self.normal.reset()
            self.cycles = DailyCycles()
            self.generation += 1
        return regime


class AssetModel:
    def __init__(self, fleet: TypeModels, name: str = "") -> None:
        self.fleet = fleet
        self.name = name
        self.generation = fleet.generation
        self.normal = AssetNormal()
        self.smoothed: dict[str, float] = {}
        self.smoothed_at: float | None = None
        self.steps = 0
        self.trend = SlidingTrend(TREND_WINDOW_S, min_points=6, min_span_s=MIN_TREND_SPAN_S)
        self.drift_detector = _drift_detector()
        self.drift_at: float | None = None
        self.pending = Pending()
        self.born: float | None = None  # start of the current life (first reading or repair)
        self.warm_until: float | None = None
        self.down = False
        self.failed_at: float | None = None  # the latest failure
        self.last: Health | None = None
        self.latest: float | None = None  # the latest reading's time
        self.rul_features = RulFeatures()
        self.rul_recent = array("d")  # learned indicators of the last hours, for trajectory matching
        self.rul_revision = -1
        self.hourly: dict[str, float] = {}  # evidence of the last hour: crossing, rul
        self.ttf: tuple[float, float, float, float] | None = None  # at, ttf, low, high
        self.index = 0.0  # health index against the type's failure signature
        self.labels: list[tuple[float, str, float]] = []  # (occurred at, kind, received wall time)
        self.step_sums: dict[str, list[float]] = {}  # per sensor: sum, sum of squares, readings
        self.step_count = 0
        self.step_end: float | None = None
        self.step_regime = 0
        self.stepped_at: float | None = None  # the previous step's time
        self.sensors = SensorWatch(fleet.sensors)

    # -- readings ---------------------------------------------------------------------------

    def update(self, ts: float, reading: Mapping[str, float]) -> Health:
        """Take one raw reading; the models step when it closes a ``STEP_S`` event-time step.

        Labels that happened before this reading are applied first (with the readings before them).
        """
        if self.labels and self.labels[0][0] < ts:
            self._close_step()
            self._apply_labels(lambda at: at < ts)
        # A faulty channel feeds the failure models no more until it is repaired or behaves again.
        if not self.down:
            self.sensors.update(ts, reading)
        if self.sensors.faults:
            for name in self.sensors.faults:
                self.smoothed.pop(name, None)  # its deviation, as it stood, no longer counts
            usable = self.sensors.usable(reading)
            if not usable and self.last is not None:
                return self.last
            reading = usable or reading
        # A step holds readings of one operating point: the regime is each raw reading's, and a reading
        # of another regime closes the step. A device switching regimes every few minutes otherwise had
        # its 10-minute means blend two operating points into a third. The regimes are found from the
        # first reading of each step, so from as many readings at any cadence faster than the step.
        regime = self.fleet.regime(reading, self.name, sample=not self.step_count)
        if self.step_count and regime != self.step_regime:
            self._close_step()
        self.step_regime = regime
        if self.latest is None or ts > self.latest:
            self.latest = ts
        sums = self.step_sums
        for name, value in reading.items():
            acc = sums.get(name)
            if acc is None:
                sums[name] = [value, value * value, 1.0]
            else:
                acc[0] += value
                acc[1] += value * value
                acc[2] += 1.0
        self.step_count += 1
        if self.step_end is None:
            self.step_end = (math.floor(ts / STEP_S) + 1) * STEP_S
        if ts < self.step_end and self.last is not None:
            return self.last
        health = self._close_step(ts)
        assert health is not None  # the step holds this reading
        return health

    def _close_step(self, ts: float | None = None) -> Health | None:
        if not self.step_count:
            return self.last
        at = self.latest if ts is None else ts
        assert at is not None
        means, within = {}, {}
        for name, (total, squares, n) in self.step_sums.items():
            mean = means[name] = total / n
            if n > 1:  # the scatter of the step's readings about their mean
                within[name] = max(squares / n - mean * mean, 0.0)
        self.step_sums, self.step_count = {}, 0
        self.step_end = (math.floor(at / STEP_S) + 1) * STEP_S
        return self._step(at, means, self.step_regime, within)

    def _step(
        self, ts: float, reading: dict[str, float], regime: int, within: Mapping[str, float] | None = None
    ) -> Health:
        """One model step on the mean ``reading`` of a step; ``within``: the scatter of its raw readings
        about that mean (none for a step of one reading)."""
        fleet = self.fleet
        # The event time this step stands for (a gap, the device offline, counts an hour at most).
        span = HOUR if self.stepped_at is None else min(max(ts - self.stepped_at, 0.0), HOUR)
        self.stepped_at = ts
        if self.generation != fleet.generation:  # the regimes were just found: learn normal again
            self.generation = fleet.generation
            self.normal = AssetNormal()
            self.rul_features.reset()
            self.born = ts
        if self.born is None:
            self.born = ts
            self.warm_until = ts + WARMUP_S
        young = ts - self.born < YOUNG_S
        if not young and self.normal.youth:
            self.normal.end_youth(fleet.normal)
        units = fleet.normal.units(regime, reading)
        warming = (self.warm_until is not None and ts < self.warm_until) or not (
            fleet.normal.mature(regime, units) and fleet.normal.seasoned(regime, units, MATURE_S)
        )
        z = self.normal.deviation(fleet.normal, regime, units, ts)
        smoothed = self._smooth(ts, z)
        deviation = _top_mean(smoothed)
        if young:  # gross outliers aside, a young asset shows what new looks like
            healthy = deviation < YOUNG_GATE or not fleet.normal.mature(regime, reading)
        else:
            healthy = deviation < LEARN_GATE
        if healthy and not self.down and ts - self.born >= SETTLE_S:  # start-up transients aside
            self._learn_normal(ts, regime, reading, units, young, span, within or {})
        self.steps += 1
        if not warming and not self.down:
            self.drift_detector.update(deviation)  # type: ignore[no-untyped-call]  # river is untyped
            if self.drift_detector.drift_detected:
                self.drift_at = ts
        self.trend.add(ts, deviation)
        slope, _se = self.trend.fit()
        # The RUL model and the failure library see the readings themselves where the type has one
        # regime (stable units, whatever the fleet's statistics do), fleet units without the daily
        # cycle where it has several.
        stable = reading if fleet.regimes.count == 1 else self.normal.seasonal(units, ts)
        hourly = self.rul_features.add(ts, stable)
        if hourly is not None and not self.down:
            self._hourly(ts, hourly)
        if not warming and not self.down:
            fleet.peers.update(self.name, ts, deviation)
        anomaly = anomaly_probability(deviation, slope * 24.0, fleet.peers.threshold(ANOMALY_MIDPOINT))
        x = evidence(anomaly, self.hourly.get("crossing"), self.hourly.get("rul"), fleet.library.failures)
        probability = 0.0 if warming or self.down else fleet.calibrator.predict_proba_one(x)[True]
        self._age_labels(ts)
        last_row = self.pending.last_ts()
        if not warming and not self.down and (last_row is None or ts - last_row >= LABEL_EVERY_S):
            self.pending.append(ts, x)
        ttf = self._ttf(ts)
        top = tuple(name for name, _ in sorted(smoothed.items(), key=lambda kv: -abs(kv[1]))[:3])
        self.last = Health(
            ts,
            1.0 - math.exp(-max(deviation - 1.0, 0.0) / 4.0),
            deviation,
            probability,
            *ttf,
            top,
            warming,
            self.drift_at is not None and ts - self.drift_at < DRIFT_VISIBLE_S,
            {"anomaly": round(anomaly, 4), **{k: round(v, 4) for k, v in self.hourly.items()}},
            tuple(self.sensors.faults.values()),
        )
        return self.last

    def _smooth(self, ts: float, z: Mapping[str, float]) -> dict[str, float]:
        previous = self.smoothed_at
        rate = 1.0 if previous is None else 1.0 - math.exp(-max(ts - previous, 0.0) / SMOOTHING_S)
        self.smoothed_at = ts
        smoothed = self.smoothed
        for name, value in z.items():
            old = smoothed.get(name)
            smoothed[name] = value if old is None else old + rate * (value - old)
        return smoothed

    def _learn_normal(
        self,
        ts: float,
        regime: int,
        reading: Mapping[str, float],
        units: Mapping[str, float],
        young: bool,
        span: float,
        within: Mapping[str, float],
    ) -> None:
        # The scatter within the step counts as healthy scatter: a step of sixty readings has a
        # quieter mean than a step of one, and spreads learnt from the means alone made the same
        # wear about eight (the root of sixty) times as many spreads, and alarms came days earlier.
        fleet = self.fleet
        if fleet.normal.mature(regime, units):  # fleet units mean little before that
            self.normal.learn(units, ts, young, fleet.cycles, regime, fleet.normal.in_units(regime, within))
        if young or self.steps % FLEET_EVERY == 0:  # the fleet needs a sample, not every step
            fleet.normal.learn(regime, reading, self.normal.expected(ts), young, span, within)
            if units:
                fleet.cycles.learn(self.normal.residual(units), ts)

    def _hourly(self, ts: float, vector: Mapping[str, float]) -> None:
        """Once an hour: the health index, and the evidence of the failure library and the RUL model."""
        fleet = self.fleet
        horizon_h = HORIZON_S / HOUR
        self.index, mode = fleet.library.index(self._from_normal(vector, ts))
        crossing = fleet.library.probability_within(self.index, mode, horizon_h)
        self.hourly = {}
        if crossing is not None:
            self.hourly["crossing"] = crossing
            median = fleet.library.median_time_to_failure(self.index, mode)
            if median is not None and not fleet.rul.trained:
                spread = 0.5 * median + 2.0
                self.ttf = (ts, median, max(median - spread, 0.0), median + spread)
        if fleet.rul.trained:
            estimate = self._rul(vector)
            if estimate is not None:
                rul, low, high = estimate
                self.hourly["rul"] = probability_from_band(rul, low, high, horizon_h)
                self.ttf = (ts, rul, low, high)

    def _from_normal(self, vector: Mapping[str, float], ts: float) -> dict[str, float]:
        """The 5-hour means (to ``ts``) of a ``RulFeatures`` vector less the asset's normal: how far,
        in fleet units, it stood from its own normal those hours (what the failure library compares).

        Where the type has one regime the vector holds readings, daily cycle and all: the cycle
        comes out here, or every asset of the type would near a failure level at the same hour.
        """
        offsets = self.normal.offsets_now()
        cut = len(SMOOTHED)
        means = {name[:-cut]: value for name, value in vector.items() if name.endswith(SMOOTHED)}
        if self.fleet.regimes.count == 1:  # readings: into fleet units, the daily cycle out
            means = self.fleet.normal.units(0, means)
            means = {name: v - self.normal.cycle_mean(name, ts, SMOOTHED_HOURS) for name, v in means.items()}
        return {name: value - offsets.get(name, 0.0) for name, value in means.items()}

    def _rul(self, vector: Mapping[str, float]) -> tuple[float, float, float] | None:
        """The fleet's learned RUL for this asset's recent trajectory of learned indicators.

        The trajectory is kept and grows by one value an hour; it is rebuilt from the feature
        history only when the fleet model has learned since.
        """
        rul = self.fleet.rul
        if self.rul_revision != rul.revision or not self.rul_recent:
            history = self.rul_features.history(rul.match_steps)
            vectors = [v for _, v in history[:-1]] + [vector]
            self.rul_recent = array("d", rul.indicators(vectors).tolist())
            self.rul_revision = rul.revision
        else:
            self.rul_recent.append(float(rul.indicators([vector])[0]))
            del self.rul_recent[: -rul.match_steps]
        return rul.predict_recent(np.frombuffer(self.rul_recent, dtype=np.float64))

    def _ttf(self, ts: float) -> tuple[float | None, float | None, float | None]:
        if self.down or self.ttf is None or ts - self.ttf[0] > RUL_STALE_S:
            return None, None, None
        elapsed = (ts - self.ttf[0]) / HOUR
        rul, low, high = (max(v - elapsed, 0.0) for v in self.ttf[1:])
        rul = min(rul, MAX_TTF_HOURS)
        return max(rul, 0.5), max(low, 0.25), min(max(high, rul, 0.5), MAX_TTF_HOURS)

    # -- labels -----------------------------------------------------------------------------

    def label(self, kind: str, at: float, received: float = 0.0) -> None:
        """Queue a label from the field; it applies once the asset's data has reached ``at``."""
        if kind not in ("fault", "failure", "no_fault", "repair") and not kind.startswith(SENSOR_REPAIR):
            raise ValueError(f"unknown label kind {kind!r}")
        bisect.insort(self.labels, (at, kind, received))
        latest = self.latest
        if latest is not None and latest >= at:  # its data is already here (a reading at ``at`` came first)
            self._close_step()
            self._apply_labels(lambda when: when <= latest)

    def advance(self, clock: float, wall: float) -> None:
        """Apply the labels the data will not reach: the tenant's clock is well past them, or they waited."""
        if self.labels:
            self._close_step()
            self._apply_labels(lambda at: at <= clock - LABEL_HOLD_S, wall)

    def _apply_labels(self, due: Callable[[float], bool], wall: float | None = None) -> None:
        while self.labels:
            at, kind, received = self.labels[0]
            if not (due(at) or (wall is not None and wall - received > LABEL_WAIT_WALL_S)):
                return
            self.labels.pop(0)
            if kind == "failure":
                self.confirm_fault(at, failed=True)
            elif kind == "fault":
                self.confirm_fault(at, failed=False)
                self.repaired(at)
            elif kind == "no_fault":
                self.confirm_no_fault(at)
            elif kind.startswith(SENSOR_REPAIR):  # "sensor_repair" (every channel) or "…:<channel>"
                self.sensors.repaired(at, kind.partition(":")[2] or None)
            else:
                self.repaired(at)

    def _age_labels(self, now: float) -> None:
        """Rows whose asset ran past the horizon (and a grace for late labels) unfailed are negatives."""
        if not self.down:
            self._ran_past(now - HORIZON_S - LABEL_GRACE_S)

    def _ran_past(self, before: float) -> None:
        """Rows up to ``before`` are negatives, each on its own: the asset ran a horizon past them."""
        for _, x in self.pending.take(before):
            self.fleet.calibrator.learn_one(x, False)

    def _label_rows(self, at: float, positive_within: float | None) -> None:
        """Rows up to ``at`` get their label: positive within ``positive_within`` of ``at``, else negative."""
        rows = self.pending.take(at)
        labels = [positive_within is not None and at - ts <= positive_within for ts, _ in rows]
        self.fleet.calibrator.learn_life([x for _, x in rows], labels)

    def confirm_fault(self, at: float, failed: bool) -> None:
        """A technician found a fault (or the asset failed) at ``at``: label, learn, await repair.

        A failure makes the rows of the horizon before it positives. A fault found before the
        asset failed only says the failure would have come *after* ``at`` (it is censored): the
        rows more than a horizon before ``at`` are negatives, as if they had aged out (a row
        each, not a labelled life's weight), and the last horizon's rows teach nothing.
        Counting them as failures would teach that each early catch was just in time, and every
        visit would then be sent earlier than the last.
        """
        fleet = self.fleet
        fleet.fault_events += 1
        if not failed:
            self._ran_past(at - HORIZON_S)
            self.pending.clear()
            return
        self._label_rows(at, HORIZON_S)
        self.pending.clear()
        history = [(ts, x) for ts, x in self.rul_features.history() if ts <= at]
        if history:
            fleet.library.learn([self._from_normal(x, ts) for ts, x in history])
            fleet.rul.learn_failure(history, at)
        self.down = True
        self.failed_at = at
        fleet.peers.forget(self.name)

    def confirm_no_fault(self, at: float) -> None:
        self._label_rows(at, None)
        if self.drift_at is not None and at - self.drift_at < DRIFT_VISIBLE_S:
            self._rebaseline(at)

    def _rebaseline(self, at: float) -> None:
        """The behaviour changed and a technician found nothing wrong: learn the new normal."""
        self.normal = AssetNormal()
        self.born = at
        self.warm_until = at + SETTLE_S
        self._reset_life()

    def repaired(self, at: float) -> None:
        """A repair starts a new life: the asset is young again; its own normal is re-learnt quickly."""
        self.down = False
        self.born = at
        self.warm_until = at + SETTLE_S
        for name, n in self.normal.n.items():
            self.normal.n[name] = min(n, 2)
        self.normal.youth = {}  # a life that failed young tells nothing of healthy scatter
        self.sensors.restart(at)
        self._reset_life()
        self.last = Health(at, 0.0, 0.0, 0.0, None, None, None, (), True)  # as good as new

    def _reset_life(self) -> None:
        self.smoothed, self.smoothed_at = {}, None
        self.trend.clear()
        self.pending.clear()
        self.drift_detector = _drift_detector()
        self.drift_at = None
        self.last = None
        self.step_sums, self.step_count, self.step_end = {}, 0, None
        self.stepped_at = None
        self.rul_features.reset()
        self.rul_recent = array("d")
        self.hourly, self.ttf, self.index = {}, None, 0.0


def _top_mean(values: Mapping[str, float], k: int = 2) -> float:
    top = sorted((abs(v) for v in values.values()), reverse=True)[:k]
    return sum(top) / len(top) if top else 0.0


SMOOTHED = ":mean_5h"
SMOOTHED_HOURS = 5

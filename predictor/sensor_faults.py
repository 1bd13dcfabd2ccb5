"""Broken sensors are not broken machines: per asset and channel, stuck values, spikes, dropouts
and a drift that the channel's physically coupled channels do not show.

Pure logic in event time (never reading counts), so it works at 1 s to 1 h cadences and with
gaps. Nothing here knows a sensor name: what "normally moves" and which channels are coupled is
learned from each equipment type's own readings (``SensorFleet``); each asset has a
``SensorWatch`` fed with its raw readings.

- **stuck**: a channel that normally moves (how often two readings in a row of the type's
  channel are near-identical is learned; one that repeats more than ``MOVES_SHARE`` of them is
  never judged) holds one value for ``STUCK_S`` of event time and so
  many readings that a healthy channel would almost never do it, while no coupled partner is
  flat or far from normal with it (a stopped or idle machine flat-lines several channels).
- **spike**: a reading far off the line through its neighbours (``SPIKE_K`` times how far the
  channel's readings usually stray from it, and ``SPIKE_QUANTA`` steps of its resolution) that
  the next reading comes back from, while the
  asset's other channels stay put; flagged when ``SPIKE_RECUR`` of them fall within
  ``SPIKE_WINDOW_S``.
- **dropout**: a channel missing for ``DROPOUT_S`` (and four of its own usual intervals) while
  the asset's other channels keep reporting.
- **drift**: the channel's residual against what its coupled partners predict (a linear
  regression on the type's within-asset covariance, learned on young assets) stays beyond
  ``DRIFT_Z`` residual spreads for ``DRIFT_HOLD_S``, while each partner, predicted from *its*
  partners without the channel, stays where it should. A genuine fault moves several coupled
  channels, so a partner shows it too; should a partner start showing it later, the drift is
  withdrawn. A channel with no coupled partner (``COUPLED``) cannot be judged and is left alone.

A fault clears when a ``sensor_repair`` label arrives for the channel (``repaired``: its history
and the asset's baseline are learnt again) or when the channel behaves again: it moves, it
reports, its residual is back within ``DRIFT_CLEAR_Z`` for ``CLEAR_S`` of event time (and three
readings), or no spike came for ``SPIKE_WINDOW_S``. A machine's repair (``restart``) clears no
sensor fault; the baseline is learnt again while the one before keeps judging.

>>> fleet = SensorFleet()
>>> watch = SensorWatch(fleet)
>>> for i in range(500):  # a channel that moves, then sticks at one value for hours
...     value = 10.0 + (i % 7) * 0.1 if i < 300 else 10.3
...     watch.update(i * 60.0, {"a": value, "b": float(i % 5)})
>>> [(f.channel, f.kind) for f in watch.faults.values()]
[('a', 'stuck')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from forestall.vocab import SensorFaultKind

HOUR: Final = 3600.0
STUCK_S: Final = 2 * HOUR  # a value held at least this long (event time) …
STUCK_CHANCE: Final = 1e-6  # … over so many readings that a moving channel does it this rarely
SAME_SHARE: Final = 0.02  # near-identical: within this share of the type's typical change
MOVES_SHARE: Final = 0.5  # a channel normally moves when at most this share of its readings repeat
SPIKE_K: Final = 10.0  # a spike lies this many local scatters (mean absolute deviation) out
SPIKE_QUANTA: Final = 4.0  # … and this many steps of the channel's resolution (a last digit's flicker)
SPIKE_RECUR: Final = 3  # spikes within SPIKE_WINDOW_S to flag the channel
SPIKE_WINDOW_S: Final = 24 * HOUR
BUMP_TAU_S: Final = 6 * HOUR  # time constant of how far a channel's readings stray from their neighbours'
DROPOUT_S: Final = HOUR  # a channel missing this long (and 4 of its intervals) while others report
DROPOUT_INTERVALS: Final = 4.0
YOUNG_S: Final = 24 * HOUR  # an asset's baseline (and its share of the type's coupling) is learnt this long
SETTLE_S: Final = 2 * HOUR  # after installation or a repair, start-up transients are not learnt
WEIGHT_S: Final = 600.0  # a reading weighs its event time up to this (so cadence does not weigh)
SCATTER_OUTLIER: Final = 5.0  # a young asset with a channel this much wider than the type's teaches none
COUPLED: Final = 0.5  # channels whose within-asset correlation reaches this are coupled partners
MIN_COUPLING_WEIGHT: Final = 12 * HOUR / WEIGHT_S  # the type's coupling is used after this much young time
DRIFT_EVERY_S: Final = 600.0
DRIFT_TAU_S: Final = HOUR  # residuals are smoothed with this time constant
DRIFT_Z: Final = 6.0  # residual spreads
PARTNER_Z: Final = 2.5  # a partner within this (and within PARTNER_SHARE of the channel's) shows nothing
PARTNER_SHARE: Final = 0.2
DRIFT_HOLD_S: Final = 3 * HOUR
DRIFT_CLEAR_Z: Final = 2.0
MOTION_TAU_S: Final = HOUR  # how a channel moves lately: over about this much event time
REST_SHARE: Final = 0.25  # a channel moving less than this share of its type's usual (capped) change rests
FAR_SPREADS: Final = 6.0  # a partner this far out (in its within-asset spread) is a machine out of normal
CLEAR_S: Final = 2 * HOUR
CLEAR_READINGS: Final = 3


@dataclass(frozen=True, slots=True)
class SensorFault:
    channel: str
    kind: SensorFaultKind
    onset: float  # event time the fault began (its first sign)
    confidence: float  # 0..1: how sure it is a sensor fault


@dataclass(slots=True)
class _ChannelStats:
    """What one channel of a type normally does: its typical change and how often it repeats."""

    step: float = 0.0  # mean absolute change between consecutive readings
    calm: float = 0.0  # the same with each change capped at ``step`` (a start, a setpoint's jump aside)
    same: float = 0.0  # share of consecutive readings that are near-identical
    n: int = 0
    quantum: float = math.inf  # the smallest change seen: the channel's resolution
    floor: float = math.inf  # the lowest value seen: what it reads at rest (no load, no flow)

    def tolerance(self, value: float) -> float:
        return max(1e-9 * max(abs(value), 1.0), SAME_SHARE * self.step)

    def learn(self, value: float, change: float, tolerance: float) -> None:
        self.n += 1
        self.floor = min(self.floor, value)
        rate = max(1.0 / self.n, 1e-3)
        same = change <= tolerance
        if change > 0.0:
            self.quantum = min(self.quantum, change)
        self.calm += rate * (min(change, self.step) - self.calm)
        self.step += rate * (change - self.step)
        self.same += rate * (float(same) - self.same)


@dataclass(slots=True)
class _Coupling:
    """The regressions the drift check needs, from the type's within-asset covariance, as arrays
    over ``names`` so that one check computes every residual at once.

    ``own[c]``: channel ``c`` predicted from its partners (coefficients over the channels, which
    of them it uses, the residual's spread, whether it has partners at all). ``without[o, c]``:
    channel ``o`` predicted without ``c`` (from its partners but ``c`` when ``c`` is one of them,
    else from all of them).
    """

    names: tuple[str, ...]
    partners: dict[str, tuple[str, ...]]
    coupled: np.ndarray  # [c, o]: o is a partner of c
    own: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # beta [c, j], uses, spread, has [c]
    without: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # beta [o, c, j], uses, spread, has


class SensorFleet:
    """What the assets of one type teach together: each channel's habits and which are coupled."""

    def __init__(self) -> None:
        self.channels: dict[str, _ChannelStats] = {}
        self.names: tuple[str, ...] = ()
        self.weight = 0.0
        self.scatter: np.ndarray = np.zeros((0, 0))
        self._coupling: _Coupling | None = None

    def stats(self, name: str) -> _ChannelStats:
        stats = self.channels.get(name)
        if stats is None:
            stats = self.channels[name] = _ChannelStats()
        return stats

    def add_scatter(self, names: tuple[str, ...], weight: float, scatter: np.ndarray) -> None:
        """A young asset's within-asset scatter matrix (on ``names``) joins the type's, unless a
        channel of it scattered far more than the type's do (a sensor that was drifting then
        would hide every asset's coupling)."""
        if not self.names:
            self.names, self.scatter = names, np.zeros((len(names), len(names)))
        index = {n: i for i, n in enumerate(names)}
        if any(n not in index for n in self.names):
            return
        take = [index[n] for n in self.names]
        mine = scatter[np.ix_(take, take)]
        if self.weight >= MIN_COUPLING_WEIGHT:
            usual = np.diag(self.scatter) / self.weight
            if np.any(np.diag(mine) / weight > SCATTER_OUTLIER * usual + 1e-12):
                return
        self.scatter += mine
        self.weight += weight
        self._coupling = None

    def coupling(self) -> _Coupling | None:
        if self.weight < MIN_COUPLING_WEIGHT:
            return None
        if self._coupling is None:
            self._coupling = _fit_coupling(self.names, self.scatter / self.weight)
        return self._coupling


def _fit_coupling(names: tuple[str, ...], cov: np.ndarray) -> _Coupling:
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    partners: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(names):
        partners[name] = tuple(
            other
            for j, other in enumerate(names)
            if j != i and sd[i] > 0 and sd[j] > 0 and abs(cov[i, j]) >= COUPLED * sd[i] * sd[j]
        )
    k = len(names)
    index = {n: i for i, n in enumerate(names)}
    coupled = np.zeros((k, k), dtype=bool)
    for name, theirs in partners.items():
        coupled[index[name], [index[n] for n in theirs]] = True

    def fit(t: int, predictors: list[int]) -> tuple[np.ndarray, float]:
        beta = np.zeros(k)
        if not predictors:
            return beta, float(max(sd[t], 1e-12))
        a = cov[np.ix_(predictors, predictors)] + 1e-9 * np.eye(len(predictors)) * max(
            float(np.trace(cov)), 1e-12
        )
        beta[predictors] = np.linalg.solve(a, cov[predictors, t])
        residual = float(cov[t, t] - cov[t, predictors] @ beta[predictors])
        return beta, math.sqrt(max(residual, 1e-12 * max(float(cov[t, t]), 1e-12)))

    has = np.asarray(coupled.any(axis=1), dtype=bool)
    own_beta, own_spread = np.zeros((k, k)), np.ones(k)
    out_beta, out_uses = np.zeros((k, k, k)), np.zeros((k, k, k), dtype=bool)
    out_spread, out_has = np.ones((k, k)), np.zeros((k, k), dtype=bool)
    for o in (int(i) for i in np.flatnonzero(has)):
        mine = [int(j) for j in np.flatnonzero(coupled[o])]
        own_beta[o], own_spread[o] = fit(o, mine)
        for c in range(k):
            if c == o:
                continue
            used = [j for j in mine if j != c]
            out_beta[o, c], out_spread[o, c] = fit(o, used) if coupled[o, c] else (own_beta[o], own_spread[o])
            out_uses[o, c, used] = True
            out_has[o, c] = True
    own = (own_beta, coupled.copy(), own_spread, has)
    return _Coupling(names, partners, coupled, own, (out_beta, out_uses, out_spread, out_has))


@dataclass(slots=True)
class _Channel:
    """One channel of one asset."""

    last: float | None = None
    last_ts: float | None = None
    interval: float = 0.0  # mean time between its readings
    run_value: float = 0.0  # the value it holds (stuck check)
    run_start: float = 0.0
    run_count: int = 0
    prev: float | None = None  # the reading before ``last`` (spike check) …
    prev_ts: float | None = None
    bump: float = 0.0  # … and how far a reading usually strays from the line through its neighbours
    bump_n: int = 0
    motion: float = 0.0  # how much it changed from reading to reading lately (a large change capped)
    motion_n: int = 0
    spikes: list[float] = field(default_factory=list)
    residual: float = 0.0  # smoothed drift residual, in residual spreads
    beyond_since: float | None = None
    good_since: float | None = None  # behaving again since (clearing a fault)
    good_count: int = 0


class SensorWatch:
    """One asset's sensors: feed it every raw reading (``update``); its faults are in ``faults``."""

    def __init__(self, fleet: SensorFleet) -> None:
        self.fleet = fleet
        self.channels: dict[str, _Channel] = {}
        self.faults: dict[str, SensorFault] = {}
        self.born: float | None = None
        self.latest: float | None = None
        self.readings = 0
        self.seen_at: dict[str, int] = {}  # channel -> the asset's reading count when it last reported
        self.baseline: dict[str, float] | None = None  # the asset's mean per channel, once young is over
        self.names: tuple[str, ...] = ()
        self._young: tuple[float, np.ndarray, np.ndarray] | None = None  # weight, sums, cross sums
        self._smoothed: dict[str, float] = {}
        self._smoothed_at: float | None = None
        self._checked_at: float | None = None
        self.taught = False  # its young scatter went into the type's coupling
        self.learning = True  # its baseline is being learnt (the previous one, if any, still judges)

    def usable(self, reading: Mapping[str, float]) -> dict[str, float]:
        """The reading without its faulty channels: what the failure models may learn from."""
        return {name: v for name, v in reading.items() if name not in self.faults}

    def update(self, ts: float, reading: Mapping[str, float]) -> None:
        if self.latest is not None and ts <= self.latest:
            return  # a reading out of order tells nothing about the sensors' recent behaviour
        previous, self.latest = self.latest, ts
        if self.born is None:
            self.born = ts
        self.readings += 1
        strays = {name: self._stray(name, value, ts) for name, value in reading.items()}
        spikes = [name for name, (odd, back) in strays.items() if odd and back]
        lone = spikes[0] if len(spikes) == 1 else None  # one channel alone: a spike, not the machine
        seen = self.seen_at
        for name, value in reading.items():
            self._reading(ts, name, value, name == lone, strays[name][0])
            seen[name] = self.readings
        self._dropouts(ts, reading)
        self._stuck_guard(reading)
        self._learn_young(ts, previous, reading)
        self._drift(ts, previous, reading)

    # -- per channel ------------------------------------------------------------------------

    def _scatter(self, name: str, ch: _Channel) -> float:
        """How far the channel's readings usually stray from the line through their neighbours."""
        return max(ch.bump, 0.25 * self.fleet.stats(name).step, 1e-9 * max(abs(ch.last or 0.0), 1.0))

    def _deviation(self, ch: _Channel, value: float, ts: float) -> float:
        """How far the last reading lies from the line between the one before it and ``value``."""
        assert (
            ch.prev is not None and ch.prev_ts is not None and ch.last is not None and ch.last_ts is not None
        )
        span = ts - ch.prev_ts
        share = (ch.last_ts - ch.prev_ts) / span if span > 0 else 0.5
        return ch.last - (ch.prev + share * (value - ch.prev))

    def _stray(self, name: str, value: float, ts: float) -> tuple[bool, bool]:
        """Whether the channel's last reading lay far off its neighbours' line, and whether the
        channel came back with ``value`` (a spike) rather than moved there (a step)."""
        ch = self.channels.get(name)
        if ch is None or ch.prev is None or ch.last is None or ch.bump_n < 5:
            return False, False
        deviation = self._deviation(ch, value, ts)
        quantum = self.fleet.stats(name).quantum
        odd = abs(deviation) > SPIKE_K * self._scatter(name, ch) and abs(deviation) > SPIKE_QUANTA * quantum
        return odd, abs(value - ch.prev) < abs(deviation) / 2

    def _reading(self, ts: float, name: str, value: float, spike: bool, odd: bool) -> None:
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = _Channel(run_value=value, run_start=ts)
        stats = self.fleet.stats(name)
        tolerance = stats.tolerance(value)
        if ch.last is not None and ch.last_ts is not None:
            dt = ts - ch.last_ts
            ch.interval = dt if ch.interval == 0.0 else ch.interval + 0.1 * (dt - ch.interval)
            rate = max(1.0 - math.exp(-max(dt, 0.0) / MOTION_TAU_S), 1.0 / (ch.motion_n + 1))
            ch.motion += rate * (min(abs(value - ch.last), stats.step) - ch.motion)
            ch.motion_n += 1
            if not odd and name not in self.faults:
                stats.learn(value, abs(value - ch.last), tolerance)
        self._spike(ts, name, ch, value, spike, odd)
        if abs(value - ch.run_value) <= tolerance:
            ch.run_count += 1
        else:
            ch.run_value, ch.run_start, ch.run_count = value, ts, 1
            if (fault := self.faults.get(name)) is not None and fault.kind == "stuck":
                self._behaving(ts, name, ch)
        if (fault := self.faults.get(name)) is not None and fault.kind == "dropout":
            self._behaving(ts, name, ch)
        ch.last, ch.last_ts = value, ts
        self._stuck(ts, name, ch, stats)

    def _spike(self, ts: float, name: str, ch: _Channel, value: float, spike: bool, odd: bool) -> None:
        if spike and ch.last_ts is not None:  # the last reading was a spike
            ch.spikes = [s for s in ch.spikes if s > ts - SPIKE_WINDOW_S] + [ch.last_ts]
            if len(ch.spikes) >= SPIKE_RECUR and name not in self.faults:
                confidence = 1.0 - 0.5 ** (len(ch.spikes) - 1)
                self.faults[name] = SensorFault(name, "spike", ch.spikes[0], round(confidence, 3))
        fault = self.faults.get(name)
        if (
            fault is not None
            and fault.kind == "spike"
            and (not ch.spikes or ch.spikes[-1] < ts - SPIKE_WINDOW_S)
        ):
            del self.faults[name]
            ch.spikes = []
        # How far readings stray is learnt while the channel moves: an idle spell's quiet would
        # make the first readings of the next run look like spikes.
        if (
            ch.prev is not None
            and ch.last is not None
            and ch.last_ts is not None
            and not odd
            and not self._resting(name, ch)
        ):
            rate = max(1.0 - math.exp(-max(ts - ch.last_ts, 0.0) / BUMP_TAU_S), 1.0 / (ch.bump_n + 1))
            ch.bump += rate * (abs(self._deviation(ch, value, ts)) - ch.bump)
            ch.bump_n += 1
        ch.prev, ch.prev_ts = ch.last, ch.last_ts

    def _stuck(self, ts: float, name: str, ch: _Channel, stats: _ChannelStats) -> None:
        if name in self.faults or stats.n < 50 or ch.run_count < 2:
            return
        if ts - ch.run_start < STUCK_S:
            return
        if stats.same > MOVES_SHARE:  # a channel that mostly holds its value cannot be stuck
            return
        if ch.run_value - stats.floor <= stats.tolerance(ch.run_value):
            return  # held at its floor: a stopped or idle machine (no load, no current), not its sensor
        same = max(stats.same, 0.01)
        if same ** (ch.run_count - 1) > STUCK_CHANCE:
            return
        confidence = 1.0 - min(1.0, same ** (ch.run_count - 1) / STUCK_CHANCE) * 0.5
        self.faults[name] = SensorFault(name, "stuck", ch.run_start, round(min(confidence, 0.99), 3))

    def _stuck_guard(self, reading: Mapping[str, float]) -> None:
        """A flat channel whose coupled partner is flat too, or far from normal, is the machine's
        state (stopped, idle), not its sensor."""
        stuck = [n for n, f in self.faults.items() if f.kind == "stuck" and n in reading]
        if not stuck:
            return
        coupling = self.fleet.coupling()
        for name in stuck:
            partners = coupling.partners.get(name, ()) if coupling else tuple(self.channels)
            for partner in partners:
                ch = self.channels.get(partner)
                if partner == name or ch is None:
                    continue
                fault = self.faults.get(partner)
                if (fault is not None and fault.kind == "stuck") or _flat(ch) or self._far(partner, reading):
                    del self.faults[name]
                    break

    def _resting(self, name: str, ch: _Channel) -> bool:
        """The channel hardly moves from reading to reading, as its type's do while they run: the
        machine stands idle (a stopped motor's current that follows only the room's air is no
        more flat than that, but no less at rest)."""
        return ch.motion_n >= 3 and ch.motion < REST_SHARE * self.fleet.stats(name).calm

    def _far(self, name: str, reading: Mapping[str, float]) -> bool:
        coupling = self.fleet.coupling()
        if coupling is None or self.baseline is None or name not in reading or name not in self.baseline:
            return False
        i = coupling.names.index(name) if name in coupling.names else -1
        if i < 0:
            return False
        sd = math.sqrt(max(float(self.fleet.scatter[i, i]) / self.fleet.weight, 1e-12))
        return abs(reading[name] - self.baseline[name]) > FAR_SPREADS * sd

    def _dropouts(self, ts: float, reading: Mapping[str, float]) -> None:
        for name, ch in self.channels.items():
            if name in reading or name in self.faults or ch.last_ts is None:
                continue
            missing = self.readings - self.seen_at.get(name, self.readings)
            gap = ts - ch.last_ts
            if missing >= 3 and gap >= max(DROPOUT_S, DROPOUT_INTERVALS * ch.interval):
                confidence = min(0.99, 1.0 - 0.5 ** (missing - 1))
                self.faults[name] = SensorFault(name, "dropout", ch.last_ts, round(confidence, 3))
                ch.good_since, ch.good_count = None, 0

    def _behaving(self, ts: float, name: str, ch: _Channel) -> None:
        """Another reading of good behaviour from a faulty channel; enough of them clear it."""
        if ch.good_since is None:
            ch.good_since, ch.good_count = ts, 0
        ch.good_count += 1
        if ts - ch.good_since >= CLEAR_S and ch.good_count >= CLEAR_READINGS:
            self.faults.pop(name, None)
            ch.good_since, ch.good_count = None, 0

    # -- drift against coupled channels -------------------------------------------------------

    def _learn_young(self, ts: float, previous: float | None, reading: Mapping[str, float]) -> None:
        assert self.born is not None
        if not self.learning or ts - self.born < SETTLE_S:
            return
        if not self.names:  # the channels that read well now (a faulty one keeps its baseline)
            self.names = tuple(sorted(n for n in reading if n not in self.faults))
        if ts - self.born >= YOUNG_S + SETTLE_S:
            self._end_youth()
            return
        if any(n not in reading for n in self.names):
            return
        x = np.array([reading[n] for n in self.names])
        weight = 1.0 if previous is None else min(max(ts - previous, 0.0), WEIGHT_S) / WEIGHT_S
        if self._young is None:
            self._young = (0.0, np.zeros(len(x)), np.zeros((len(x), len(x))))
        w, sums, cross = self._young
        self._young = (w + weight, sums + weight * x, cross + weight * np.outer(x, x))

    def _end_youth(self) -> None:
        """The young means become the baseline, but for channels that went faulty meanwhile (they
        keep the one they had); the first youth also teaches the type its coupling."""
        self.learning = False
        if self._young is None or self._young[0] <= 0:
            self.names, self._young = (), None
            return
        w, sums, cross = self._young
        mean = sums / w
        baseline = dict(self.baseline or {})
        for name, m in zip(self.names, mean, strict=True):
            if name not in self.faults or name not in baseline:
                old = baseline.get(name)
                baseline[name] = float(m)
                if old is not None and name in self._smoothed:  # the residual, as it stood, moves along
                    self._smoothed[name] -= float(m) - old
        self.baseline = baseline
        if not self.taught:  # the first youth only: a repaired machine's readings teach it nothing new
            self.fleet.add_scatter(self.names, w, cross - w * np.outer(mean, mean))
            self.taught = True
        self._young = None

    def _drift(self, ts: float, previous: float | None, reading: Mapping[str, float]) -> None:
        coupling = self.fleet.coupling()
        if coupling is None or self.baseline is None:
            return
        rate = 1.0 if self._smoothed_at is None else 1.0 - math.exp(-(ts - self._smoothed_at) / DRIFT_TAU_S)
        self._smoothed_at = ts
        smoothed, channels = self._smoothed, self.channels
        for name, base in self.baseline.items():
            value = reading.get(name)
            if value is None:
                continue
            old = smoothed.get(name)
            if old is None:
                smoothed[name] = value - base
                continue
            ch = channels.get(name)
            # a leap from the reading before (a spike, or a step's first reading) waits for the next
            if (
                ch is not None
                and ch.prev is not None
                and abs(value - ch.prev) > SPIKE_K * self._scatter(name, ch)
            ):
                continue
            smoothed[name] = old + rate * (value - base - old)
        if self._checked_at is not None and ts - self._checked_at < DRIFT_EVERY_S:
            return
        self._checked_at = ts
        z_own, z_without, valid_own, valid_without = self._residuals(coupling)
        for c, name in enumerate(coupling.names):
            if valid_own[c]:
                self._judge_drift(
                    ts, c, name, coupling, float(z_own[c]), z_without[:, c], valid_without[:, c]
                )

    def _residuals(self, coupling: _Coupling) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every channel's residual against its partners, and against them without each other
        channel, in residual spreads; and which of them can be computed (no predictor missing
        or faulty: a spiking one is still read)."""
        names, smoothed, faults = coupling.names, self._smoothed, self.faults
        x = np.array([smoothed.get(n, math.nan) for n in names])
        present = ~np.isnan(x)
        sound = present & np.array([n not in faults or faults[n].kind == "spike" for n in names])
        x = np.where(present, x, 0.0)
        beta, uses, spread, has = coupling.own
        z_own = (x - beta @ x) / spread
        valid_own = has & present & ~(uses & ~sound).any(axis=1)
        beta, uses, spread, has = coupling.without
        z_without = (x[:, None] - np.einsum("ocj,j->oc", beta, x)) / spread
        valid_without = has & present[:, None] & ~(uses & ~sound).any(axis=2)
        return z_own, z_without, valid_own, valid_without

    def _abnormal(self, name: str, i: int) -> bool:
        """Far outside its within-asset range, or flat: a machine out of its normal state."""
        ch = self.channels.get(name)
        if ch is not None and (_flat(ch) or self._resting(name, ch)):
            return True
        sd = math.sqrt(max(float(self.fleet.scatter[i, i]) / self.fleet.weight, 1e-12))
        return abs(self._smoothed.get(name, 0.0)) > FAR_SPREADS * sd

    def _judge_drift(
        self,
        ts: float,
        c: int,
        name: str,
        coupling: _Coupling,
        z: float,
        others: np.ndarray,
        known: np.ndarray,
    ) -> None:
        """``z``: the channel's residual; ``others[o]``: channel ``o``'s without it (``known``: computed)."""
        ch = self.channels.get(name)
        fault = self.faults.get(name)
        if ch is None or (fault is not None and fault.kind != "drift"):
            return
        mine = coupling.coupled[c]
        if not known[mine].all():
            return  # a partner cannot be read: nothing to judge it by
        if any(self._abnormal(coupling.names[p], int(p)) for p in np.flatnonzero(mine)):
            ch.beyond_since = None  # the machine stopped, idles, failed
            return
        # Nor may any other coupled channel show a change (a weakly coupled channel, vibration,
        # may lead a fault that its closest partners do not show but another channel does).
        shown = float(np.max(np.abs(others[known]), initial=0.0))
        alone = shown < PARTNER_Z and shown < max(PARTNER_SHARE * abs(z), 1.5)
        ch.residual = z
        if fault is not None:
            if not alone and shown >= PARTNER_Z:  # a partner shows it now: the machine, not the sensor
                del self.faults[name]
                ch.beyond_since = None
            elif abs(z) < DRIFT_CLEAR_Z:
                self._behaving(ts, name, ch)
            else:
                ch.good_since, ch.good_count = None, 0
            return
        if abs(z) >= DRIFT_Z and alone:
            if ch.beyond_since is None:
                ch.beyond_since = ts
            if ts - ch.beyond_since >= DRIFT_HOLD_S:
                confidence = min(0.99, 0.5 + 0.5 * (1.0 - DRIFT_Z / abs(z)) + 0.1)
                self.faults[name] = SensorFault(name, "drift", ch.beyond_since, round(confidence, 3))
        else:
            ch.beyond_since = None

    # -- labels -------------------------------------------------------------------------------

    def repaired(self, at: float, channel: str | None = None) -> list[str]:
        """A technician repaired the channel (all faulty ones when None): its fault clears and its
        history restarts. Returns the channels cleared."""
        names = [channel] if channel is not None else list(self.faults)
        cleared = []
        for name in names:
            if self.faults.pop(name, None) is not None:
                cleared.append(name)
            self.channels.pop(name, None)  # its history starts again with its next reading
            self._smoothed.pop(name, None)
            if self.baseline is not None:  # learnt while it misread, perhaps: learnt again
                self.baseline.pop(name, None)
        self.restart(at)
        return cleared

    def restart(self, at: float) -> None:
        """The machine (or a sensor) was repaired: the baseline is learnt again, while the one
        before still judges; sensor faults stay (a machine's repair mends no sensor)."""
        self.born, self.names, self._young, self.learning = at, (), None, True
        for ch in self.channels.values():
            ch.beyond_since, ch.residual = None, 0.0


def _flat(ch: _Channel) -> bool:
    """The channel has held one value for half a stuck span (a partner flat with it)."""
    return ch.run_count >= 3 and ch.last_ts is not None and ch.last_ts - ch.run_start >= STUCK_S / 2

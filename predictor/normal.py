"""What normal looks like: fleet levels per operating regime, and each asset's own normal.

A reading is judged in two steps, both learned online and in event time:

1. ``FleetNormal`` (one per equipment type) puts it in *fleet units*: per regime and sensor,
   ``u = (x - level) / scale``, where ``level`` and ``scale`` are the mean and scatter of
   young (just installed or repaired) assets of the type. Sensors, units and scales of a type
   never seen before all become comparable numbers, and operating regimes drop out.
2. ``AssetNormal`` (one per asset) learns the asset's own normal in those units: its offset
   from the fleet (unit-to-unit variation) and, for sensors whose type follows a daily duty
   cycle, its profile over the hours of the day. What is left, scaled by the fleet's *healthy
   spread* (the scatter of a reading around its own asset's normal), is ``z``: the deviation
   from the asset's own normal in healthy spreads.

The healthy spread is measured two ways on young assets, and the larger counts: reading by
reading, about the asset's normal as it stood then (what a normal still being learned misses);
and over a whole young life, about the normal learned from all of it, handed to the fleet when
the youth ends. The first alone is far too small for a signal that moves slowly (a daily cycle
not yet known): the running normal follows it, and a new asset's second afternoon looks like a
fault. The second alone is too small where a young normal is still far from settled.

Whether a sensor follows the time of day is learned per type (``DailyCycles``): the share of
the healthy scatter that the hour of the day explains. Equipment cycling hourly or
irregularly shows none, and its sensors keep a flat normal.

>>> fleet, asset = FleetNormal(), AssetNormal()
>>> for i in range(300):
...     reading = {"temp_c": 50.0 + (i % 3) * 0.1}
...     u = fleet.units(0, reading)
...     if fleet.mature(0, u):  # fleet units mean little before that
...         asset.learn(u, i * 600.0, young=True, regime=0)
...     fleet.learn(0, reading, asset.expected(i * 600.0), young=True)
>>> asset.end_youth(fleet)  # its young life hands the fleet its scatter
>>> def z(value):
...     return asset.deviation(fleet, 0, fleet.units(0, {"temp_c": value}), 300 * 600.0)["temp_c"]
>>> abs(z(50.1)) < 1.5, z(53.0)  # a deviation is clipped at 10 spreads
(True, 10.0)
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping

HOUR = 3600.0
DAY = 24 * HOUR
BINS = 24
# A sensor that never moved still gets a (tiny) scale. The floor is absolute: a share of the level
# would change every deviation with where the sensor's zero happens to be.
MIN_SCALE_ABS = 1e-9
FLEET_MEMORY = 5000.0  # readings: the fleet's statistics follow slow changes of the whole fleet
ASSET_MEMORY_S = 90 * DAY  # slow: an asset's normal that followed its signal would absorb its wear
OWN_SETTLED = 144  # readings (a day of model steps): the offset is their plain mean, then forgets slowly
OWN_PRIOR = 6.0  # readings before an asset's own normal counts as much as the fleet's
CYCLE_SHARE = 0.25  # share of the healthy scatter the hour of day must explain for a daily profile
CYCLE_MIN_DAYS = 2.0  # of a type's data before a daily cycle is believed
CYCLE_CHECK_EVERY = 500  # readings between re-checks of the daily cycles
MAX_STEP_S = HOUR  # a gap in the data counts as at most this much forgetting
Z_CLIP = 10.0  # a spike (a quantised sensor flipping one step) counts little once smoothed
PEER_K = 3.0  # robust spreads above the fleet's median deviation at which an asset stands out
PEER_MIN = 5  # assets reporting before the fleet's deviations say anything
PEER_RECENT_S = 6 * HOUR
PEER_REFRESH = 20  # updates between refreshes of the fleet's median and spread, at least


class _Moments:
    """A running mean and mean square (about a reference), plain while young, then exponential."""

    __slots__ = ("mean", "n", "square")

    def __init__(self) -> None:
        self.mean = 0.0
        self.square = 0.0
        self.n = 0.0

    def add(self, value: float, square: float, memory: float, weight: float = 1.0) -> None:
        self.n += weight
        rate = min(max(weight / self.n, weight / memory), 1.0)
        self.mean += rate * (value - self.mean)
        self.square += rate * (square - self.square)


class FleetNormal:
    """Per regime and sensor: level and scatter of young assets; healthy spread around an asset's normal."""

    def __init__(self) -> None:
        self.young: dict[tuple[int, str], _Moments] = {}  # mean: level; square: scatter about it
        self.healthy: dict[tuple[int, str], _Moments] = {}  # square: spread about the asset's normal
        self.lives: dict[tuple[int, str], _Moments] = {}  # square: of young lives, in fleet units
        self.young_s: dict[tuple[int, str], float] = {}  # event time ``young`` learnt from, fleet-wide

    def reset(self) -> None:
        """Forget everything (the type's regimes were just found: what was learnt mixed them)."""
        self.young.clear()
        self.young_s.clear()
        self.healthy.clear()
        self.lives.clear()

    def _level_scale(self, regime: int, name: str) -> tuple[float, float] | None:
        young = self.young.get((regime, name))
        if young is None:
            return None
        return young.mean, max(math.sqrt(max(young.square, 0.0)), MIN_SCALE_ABS)

    def units(self, regime: int, reading: Mapping[str, float]) -> dict[str, float]:
        """The reading in fleet units (a sensor the type has no level for yet is left out)."""
        out: dict[str, float] = {}
        young = self.young
        for name, value in reading.items():
            moments = young.get((regime, name))
            if moments is not None:
                scale = max(math.sqrt(max(moments.square, 0.0)), MIN_SCALE_ABS)
                out[name] = (value - moments.mean) / scale
        return out

    def mature(self, regime: int, names: Iterable[str], count: int = 30) -> bool:
        """Whether the fleet has seen ``count`` young readings of each sensor in this regime."""
        for name in names:
            young = self.young.get((regime, name))
            if young is None or young.n < count:
                return False
        return True

    def seasoned(self, regime: int, names: Iterable[str], seconds: float) -> bool:
        """Whether young assets have shown each sensor's normal in this regime for ``seconds`` of
        event time, all assets together (a cadence-free companion to ``mature``)."""
        return all(self.young_s.get((regime, name), 0.0) >= seconds for name in names)

    def gain(self, regime: int, name: str) -> float:
        """Fleet units → healthy spreads (the young scatter includes unit offsets; the spread does not)."""
        key = (regime, name)
        level_scale = self._level_scale(regime, name)
        healthy, lives = self.healthy.get(key), self.lives.get(key)
        if level_scale is None or ((healthy is None or healthy.n < 2) and lives is None):
            return 1.0
        square = healthy.square if healthy is not None and healthy.n >= 2 else 0.0
        if lives is not None:
            square = max(square, lives.square * level_scale[1] ** 2)
        spread = max(math.sqrt(max(square, 0.0)), MIN_SCALE_ABS)
        return level_scale[1] / spread

    def learn(
        self,
        regime: int,
        reading: Mapping[str, float],
        expected: Mapping[str, float],
        young: bool,
        span: float = 0.0,
        within: Mapping[str, float] | None = None,
    ) -> None:
        """Learn from a healthy reading that stands for ``span`` seconds of event time; ``expected`` is
        its asset's normal in fleet units; ``within``: the variance of the raw readings the reading is
        the mean of (their scatter counts as the scatter of one reading, whatever the cadence)."""
        within = within or {}
        for name, value in reading.items():
            extra = within.get(name, 0.0)
            key = (regime, name)
            level_scale = self._level_scale(regime, name)
            if young or level_scale is None:
                moments = self.young.get(key)
                if moments is None:
                    moments = self.young[key] = _Moments()
                reference = moments.mean if moments.n else value
                moments.add(value, (value - reference) ** 2 + extra, FLEET_MEMORY)
                self.young_s[key] = self.young_s.get(key, 0.0) + span
            # The healthy spread is measured on young assets only: an asset that degrades from
            # installation would otherwise teach its wear as scatter.
            if level_scale is None or name not in expected or not young:
                continue
            healthy = self.healthy.get(key)
            if healthy is None:
                healthy = self.healthy[key] = _Moments()
            residual = value - (level_scale[0] + expected[name] * level_scale[1])
            healthy.add(residual, residual * residual + extra, FLEET_MEMORY)

    def in_units(self, regime: int, variances: Mapping[str, float]) -> dict[str, float]:
        """Variances of raw readings in fleet units (squared), for the sensors the type has a scale for."""
        out = {}
        for name, variance in variances.items():
            level_scale = self._level_scale(regime, name)
            if level_scale is not None:
                out[name] = variance / level_scale[1] ** 2
        return out

    def learn_life(self, regime: int, name: str, square: float, readings: int) -> None:
        """One young life's mean square about its own final normal, in fleet units, over ``readings``."""
        lives = self.lives.get((regime, name))
        if lives is None:
            lives = self.lives[(regime, name)] = _Moments()
        lives.add(0.0, square, FLEET_MEMORY, float(readings))


class DailyCycles:
    """Per sensor of a type: does the hour of the day explain much of the healthy scatter?"""

    def __init__(self) -> None:
        self.bins: dict[str, array[float]] = {}  # per sensor: 24 sums, then 24 counts
        self.total: dict[str, array[float]] = {}  # per sensor: n, sum, sum of squares
        self.first: float | None = None
        self.last: float | None = None
        self.on: frozenset[str] = frozenset()
        self._since_check = 0

    def learn(self, residual: Mapping[str, float], ts: float) -> None:
        """``residual``: a healthy reading minus its asset's flat normal, in fleet units."""
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)
        b = int((ts % DAY) // HOUR)
        for name, value in residual.items():
            bins = self.bins.get(name)
            if bins is None:
                bins = self.bins[name] = array("d", [0.0] * (2 * BINS))
                self.total[name] = array("d", [0.0, 0.0, 0.0])
            bins[b] += value
            bins[BINS + b] += 1.0
            total = self.total[name]
            total[0] += 1.0
            total[1] += value
            total[2] += value * value
        self._since_check += 1
        if self._since_check >= CYCLE_CHECK_EVERY:
            self._since_check = 0
            self.on = frozenset(name for name in self.bins if self.explained(name) >= CYCLE_SHARE)

    def shape(self, name: str) -> array[float]:
        """The fleet's mean residual by hour of the day (a start for an asset's own profile)."""
        bins, total = self.bins[name], self.total[name]
        mean = total[1] / total[0] if total[0] else 0.0
        return array("d", [bins[b] / bins[BINS + b] - mean if bins[BINS + b] else 0.0 for b in range(BINS)])

    def explained(self, name: str) -> float:
        """Share of the sensor's scatter explained by the hour of the day (0 until there is enough data)."""
        if self.first is None or self.last is None or self.last - self.first < CYCLE_MIN_DAYS * DAY:
            return 0.0
        bins, (n, total, squares) = self.bins[name], self.total[name]
        if min(bins[BINS:]) < 3 or n < 2:
            return 0.0
        mean = total / n
        variance = squares / n - mean * mean
        if variance <= 0:
            return 0.0
        between = sum(bins[BINS + b] * (bins[b] / bins[BINS + b] - mean) ** 2 for b in range(BINS)) / n
        return between / variance


class AssetNormal:
    """One asset's normal in fleet units: an offset per sensor, and daily profiles where they matter."""

    __slots__ = ("_last", "n", "offsets", "profiles", "youth")

    def __init__(self) -> None:
        self.offsets: dict[str, float] = {}
        self.n: dict[str, int] = {}
        self.profiles: dict[str, array[float]] = {}  # sensor -> 24 hourly levels about the offset
        self._last: float | None = None
        # Per regime and sensor, this young life's readings less their daily profile: n, sum, squares.
        self.youth: dict[tuple[int, str], array[float]] = {}

    def expected(self, ts: float) -> dict[str, float]:
        """The asset's normal in fleet units at ``ts``, shrunk towards the fleet's (0) while young."""
        out = {}
        for name, offset in self.offsets.items():
            n = self.n[name]
            value = offset * n / (n + OWN_PRIOR)
            profile = self.profiles.get(name)
            if profile is not None:
                value += _interpolate(profile, ts)
            out[name] = value
        return out

    def offsets_now(self) -> dict[str, float]:
        """The flat part of the normal in fleet units (shrunk towards the fleet's while young)."""
        return {
            name: offset * self.n[name] / (self.n[name] + OWN_PRIOR) for name, offset in self.offsets.items()
        }

    def seasonal(self, units: Mapping[str, float], ts: float) -> dict[str, float]:
        """Fleet units with the daily profile taken out (the asset's offset left in)."""
        profiles = self.profiles
        if not profiles:
            return dict(units)
        return {
            name: value - (_interpolate(profiles[name], ts) if name in profiles else 0.0)
            for name, value in units.items()
        }

    def cycle_mean(self, name: str, end: float, hours: int) -> float:
        """The daily profile's mean over the ``hours`` before ``end`` (0 for a sensor without one)."""
        profile = self.profiles.get(name)
        if profile is None:
            return 0.0
        return sum(_interpolate(profile, end - (k + 0.5) * HOUR) for k in range(hours)) / hours

    def residual(self, units: Mapping[str, float]) -> dict[str, float]:
        """Fleet units minus the flat part of the normal (what a daily cycle would have to explain)."""
        return {name: value - self.offsets.get(name, value) for name, value in units.items()}

    def deviation(
        self, fleet: FleetNormal, regime: int, units: Mapping[str, float], ts: float
    ) -> dict[str, float]:
        """``z``: the reading's deviation from the asset's normal, in healthy spreads."""
        expected = self.expected(ts)
        out = {}
        for name, value in units.items():
            z = (value - expected.get(name, 0.0)) * fleet.gain(regime, name)
            out[name] = max(-Z_CLIP, min(Z_CLIP, z))
        return out

    def end_youth(self, fleet: FleetNormal, min_readings: int = 12) -> None:
        """Hand the fleet this young life's scatter about the normal it learned; start afresh.

        The scatter is taken about the asset's flat normal at the end of its youth, learned from
        all of the life's readings, not about the normal as it stood at each reading.
        """
        for (regime, name), (n, total, squares) in self.youth.items():
            offset = self.offsets.get(name)
            if offset is None or n < min_readings:
                continue
            square = (squares - 2.0 * offset * total + n * offset * offset) / n
            fleet.learn_life(regime, name, max(square, 0.0), int(n))
        self.youth = {}

    def learn(
        self,
        units: Mapping[str, float],
        ts: float,
        young: bool,
        cycles: DailyCycles | None = None,
        regime: int = 0,
        within: Mapping[str, float] | None = None,
    ) -> None:
        last = self._last
        step = MAX_STEP_S if last is None else min(max(ts - last, 0.0), MAX_STEP_S)
        if last is None or ts > last:
            self._last = ts
        slow = min(step / ASSET_MEMORY_S, 1.0)  # forgetting in event time, once settled
        for name, value in units.items():
            n = self.n.get(name, 0) + 1
            self.n[name] = n
            profile = self.profiles.get(name)
            if profile is None and cycles is not None and name in cycles.on:
                profile = self.profiles[name] = cycles.shape(name)  # the fleet's cycle, until its own
            seasonal = _interpolate(profile, ts) if profile is not None else 0.0
            offset = self.offsets.get(name, value - seasonal)
            # Young or in its first day: a plain mean. Averaging everything seen since a repair
            # would take in the wear of an asset that degrades from installation as it comes.
            rate = 1.0 / n if young or n <= OWN_SETTLED else slow
            offset += rate * (value - seasonal - offset)
            self.offsets[name] = offset
            if young:
                sums = self.youth.get((regime, name))
                if sums is None:
                    sums = self.youth[(regime, name)] = array("d", [0.0, 0.0, 0.0])
                sums[0] += 1.0
                sums[1] += value - seasonal
                sums[2] += (value - seasonal) ** 2 + (within.get(name, 0.0) if within else 0.0)
            if profile is not None:
                b = int((ts % DAY) // HOUR)
                visits = max(1, n // BINS)  # each bin sees about one reading in 24
                rate = max(1.0 / visits, min(BINS * step / ASSET_MEMORY_S, 1.0))
                profile[b] += rate * (value - offset - profile[b])


def _interpolate(profile: array[float], ts: float) -> float:
    hours = (ts % DAY) / HOUR - 0.5  # bin i is centred on i + 0.5 h
    first = math.floor(hours)
    w = hours - first
    return profile[first % BINS] * (1 - w) + profile[(first + 1) % BINS] * w


class Peers:
    """Where an asset's deviation stands among its peers' right now.

    An asset that deviates more than the rest of its fleet stands out before anyone has seen
    the type fail; a whole fleet that drifts together (a heatwave, wear every unit shares) does
    not make each of its assets an alarm.

    >>> peers = Peers()
    >>> for i in range(20):
    ...     peers.update(f"a{i}", 0.0, 1.0 + (i % 5) * 0.5)
    >>> 3.5 < peers.threshold(floor=3.5) < 8.0
    True
    """

    def __init__(self) -> None:
        self.latest: dict[str, tuple[float, float]] = {}  # asset -> (ts, deviation)
        self.median = 0.0
        self.spread = 0.0
        self.count = 0
        self._updates = 0
        self._newest = -math.inf

    def update(self, asset: str, ts: float, deviation: float) -> None:
        self.latest[asset] = (ts, deviation)
        self._newest = max(self._newest, ts)
        self._updates += 1
        # Refreshed once per round of the fleet: a sort of n deviations every n updates costs
        # O(log n) per update.
        if self._updates >= max(PEER_REFRESH, len(self.latest)) or self.count < PEER_MIN:
            self._updates = 0
            recent = sorted(d for t, d in self.latest.values() if t >= self._newest - PEER_RECENT_S)
            self.count = len(recent)
            if recent:
                self.median = recent[len(recent) // 2]
                deviations = sorted(abs(d - self.median) for d in recent)
                self.spread = 1.4826 * deviations[len(deviations) // 2]

    def forget(self, asset: str) -> None:
        self.latest.pop(asset, None)

    def threshold(self, floor: float) -> float:
        """The deviation at which an asset stands out: ``floor``, or higher when the fleet drifts."""
        if self.count < PEER_MIN:
            return floor
        return max(floor, self.median + PEER_K * self.spread)

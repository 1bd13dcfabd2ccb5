"""Simulated machines: degradation physics, sensor noise, failures and repairs (pure, stdlib only).

The edge agent imports this module for its ``simulated`` driver, so it uses nothing beyond
the standard library. Hidden state evolves in *event time*:

- Faults start as a Poisson process (``onset_rate_per_h``); each draws a failure mode of
  the machine type and an onset→failure time, uniform in the mode's P-F interval
  (``FailureMode.pf_hours``) unless ``degradation_hours`` overrides it for every mode
  (the live demo compresses faults to one to three days so they show within minutes).
- While degrading, the mode's sensors drift along an exponential P-F curve in the fault's
  progress, so the drift is small at first, clearly visible well before failure, and steep
  at the end. A healthy machine shows only its daily duty cycle plus noise, never a trend.
- At the failure time the machine stops and reads its stopped values until a visit
  repairs it. A repair resets the wear and draws the next fault.
- ``conditions`` (``simulators.operating.Conditions``) make the world harder to read: load
  setpoints held for hours, idle spells, a seasonal ambient, noise that grows with the load,
  faults that show early only at high load, a ``load_pct`` channel. ``Conditions()``, the
  default here, is the easy world of a daily duty cycle; ``FleetSpec`` defaults to the harder.
- A machine may also carry a broken sensor (``SensorDefect``, set by the world): from its
  onset one channel reads stuck at one value, spikes now and then, drops out of the readings
  or drifts away, while the machine itself is as healthy as before. A sensor repair ends it.

Every draw comes from a generator seeded by ``(seed, asset_id)`` (the operating schedule from
one of its own, so the faults drawn are the same in the easy and the harder world) and the noise
of a reading is a function of ``(seed, ts)`` alone, so the same seed and the same visits give identical
readings however often the machine is read.

>>> pump = make_equipment("pump", "pump-0001", seed=7, start=0.0, force_onset_at=3600.0,
...                       force_mode="bearing_wear")
>>> pump.read(0.0) == make_equipment("pump", "pump-0001", seed=7, start=0.0).read(0.0)
True
>>> events = pump.advance(pump.next_failure_at or 0.0)
>>> [(e.asset_id, e.fault_code == pump.fault_code) for e in events], pump.failed
([('pump-0001', True)], True)
>>> pump.inspect_and_repair(pump.failed_at or 0.0, corrective=True)
VisitReport(fault_found=True, fault_code='bearing_wear', repaired=True, prevented=False)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from simulators.machines import LOAD_SENSOR, FailureMode, MachineType, SensorSpec, machine_type
from simulators.operating import FULL_LOAD, MID_LOAD, NOISE_LOAD, Climate, Conditions, OperatingSchedule

HOUR: Final = 3600.0
DAY: Final = 86400.0
DEFAULT_ONSET_RATE_PER_H: Final = 1.0 / 300.0
DEMO_DEGRADATION_HOURS: Final = (24.0, 72.0)  # compressed P-F interval for the live demo
# Steepness of the P-F curve: severity is ~8 % at 30 % progress, ~18 % halfway, 100 % at failure.
CURVE_STEEPNESS: Final = 3.0


@dataclass(frozen=True, slots=True)
class FailureEvent:
    asset_id: str
    at: float
    fault_code: str


@dataclass(frozen=True, slots=True)
class VisitReport:
    fault_found: bool
    fault_code: str | None
    repaired: bool
    prevented: bool  # the fault was repaired before the machine failed


@dataclass(frozen=True, slots=True)
class SensorDefect:
    """A broken sensor (ground truth): ``kind`` stuck | spike | dropout | drift from ``onset_at``."""

    channel: str
    kind: str
    onset_at: float


SPIKE_SHARE: Final = 1.0 / 18.0  # share of a spiking sensor's readings that spike
SPIKE_SDS: Final = (20.0, 30.0)  # a spike's size in the sensor's noise
DRIFT_SDS_PER_HOUR: Final = 1.5  # a drifting sensor walks away this fast (its noise per hour) …
DRIFT_MAX_SDS: Final = 40.0  # … up to this far


@dataclass(frozen=True, slots=True)
class _Episode:
    """The machine's next (or current) fault, drawn ahead of time: ground truth."""

    mode: FailureMode
    onset_at: float  # inf: never
    failure_at: float


def severity(progress: float) -> float:
    """Share of the full fault signature shown at ``progress`` (0 at onset, 1 at failure).

    >>> severity(0.0), severity(1.0), round(severity(0.5), 3)
    (0.0, 1.0, 0.182)
    """
    p = min(max(progress, 0.0), 1.0)
    return math.expm1(CURVE_STEEPNESS * p) / math.expm1(CURVE_STEEPNESS)


class Equipment:
    """One simulated machine; a ``SignalSource`` (``sensors``, ``read(ts)``) for the edge agent."""

    def __init__(
        self,
        kind: MachineType,
        asset_id: str,
        seed: int,
        start: float,
        *,
        onset_rate_per_h: float = DEFAULT_ONSET_RATE_PER_H,
        degradation_hours: tuple[float, float] | None = None,
        healthy_hours: float = 0.0,
        force_onset_at: float | None = None,
        force_mode: str | None = None,
        conditions: Conditions | None = None,
    ) -> None:
        if degradation_hours is not None and not 0 < degradation_hours[0] <= degradation_hours[1]:
            raise ValueError("need 0 < degradation_hours[0] <= degradation_hours[1]")
        if onset_rate_per_h < 0 or healthy_hours < 0:
            raise ValueError("need onset_rate_per_h >= 0 and healthy_hours >= 0")
        self.kind = kind
        self.asset_id = asset_id
        self.asset_type = kind.name
        self.conditions = conditions = conditions or Conditions()
        self._specs: tuple[SensorSpec, ...] = kind.sensors + (
            (LOAD_SENSOR,) if conditions.load_channel else ()
        )
        self._spec_by_name = {s.name: s for s in self._specs}
        self.sensors: tuple[str, ...] = tuple(s.name for s in self._specs)
        self._onset_rate = onset_rate_per_h
        self._degradation_hours = degradation_hours
        self._rng = random.Random(f"forestall-equipment:{seed}:{asset_id}")
        self._noise_seed = self._rng.getrandbits(40)
        # Unit-to-unit spread (±3 %) and when in the day the duty peaks (around 14:00 ± 2 h).
        self._offsets = {s.name: 1.0 + self._rng.uniform(-0.03, 0.03) for s in kind.sensors}
        self._peak_hour = 14.0 + self._rng.uniform(-2.0, 2.0)
        self._offsets[LOAD_SENSOR.name] = 1.0  # a drive reports its speed without a unit's offset
        self._schedule = (
            None
            if conditions.steady
            else OperatingSchedule(conditions, seed, asset_id, start, self._peak_hour)
        )
        self._climate = Climate(conditions.ambient_c, seed, start)
        self._t = start
        self._failed_at: float | None = None
        self._pending: list[FailureEvent] = []
        self.repairs = 0
        self.sensor_defect: SensorDefect | None = None
        self._stuck_value: float | None = None
        if force_mode is not None:
            kind.mode(force_mode)  # validate early
        self._episode = self._draw_episode(start + healthy_hours * HOUR, force_onset_at, force_mode)

    # -- hidden state -------------------------------------------------------------------------

    def _draw_episode(self, after: float, onset_at: float | None = None, code: str | None = None) -> _Episode:
        # Always draw the same three numbers so forcing one choice leaves the stream intact.
        wait_h = self._rng.expovariate(self._onset_rate) if self._onset_rate > 0 else math.inf
        share = self._rng.random()
        mode = self._rng.choice(self.kind.modes)
        if code is not None:
            mode = self.kind.mode(code)
        low, high = self._degradation_hours or mode.pf_hours
        onset = onset_at if onset_at is not None else after + wait_h * HOUR
        return _Episode(mode=mode, onset_at=onset, failure_at=onset + (low + share * (high - low)) * HOUR)

    def _advance_to(self, ts: float) -> None:
        if ts <= self._t:
            return
        self._t = ts
        episode = self._episode
        if self._failed_at is None and ts >= episode.failure_at:
            self._failed_at = episode.failure_at
            self._pending.append(FailureEvent(self.asset_id, episode.failure_at, episode.mode.code))

    def _severity_at(self, ts: float) -> float:
        if self._failed_at is not None:
            return 1.0
        episode = self._episode
        if ts < episode.onset_at:
            return 0.0
        return severity((ts - episode.onset_at) / (episode.failure_at - episode.onset_at))

    def _repair(self, ts: float) -> None:
        self._failed_at = None
        self.repairs += 1
        self._episode = self._draw_episode(ts)

    # -- public API ---------------------------------------------------------------------------

    def load(self, ts: float) -> float:
        """Duty (0.2-0.9) of the daily cycle at ``ts``: busy afternoons, quiet nights (the easy world)."""
        hours = (ts / HOUR) % 24.0
        phase = 2.0 * math.pi * (hours - self._peak_hour) / 24.0
        return 0.55 + 0.3 * math.cos(phase) + 0.05 * math.cos(2.0 * phase)

    def read(self, ts: float) -> dict[str, float]:
        """Advance to ``ts`` (non-decreasing; an earlier ``ts`` reads the current state) and read."""
        self._advance_to(ts)
        noise = random.Random(self._noise_seed * 10**13 + round(ts * 1000.0))
        ambient = self._climate.ambient(ts)
        values: dict[str, float] = {}
        if self._failed_at is not None:
            for spec in self._specs:
                values[spec.name] = self._stopped(spec, ambient, noise)
            return values
        state = self._schedule.at(ts) if self._schedule is not None else None
        running = state is None or state.running
        # An idle machine's temperatures cool from where it ran: about mid load.
        load = self.load(ts) if state is None else (state.load if running else MID_LOAD)
        sev = self._severity_at(ts)
        effects = self._episode.mode.effects
        conditions = self.conditions
        shown = (load / FULL_LOAD) ** (conditions.fault_load_exponent * (1.0 - sev))
        scale = (load / NOISE_LOAD) ** conditions.load_noise
        for spec in self._specs:
            warmth = 1.0 if self._schedule is None else self._schedule.warmth(ts, spec.lag_minutes * 60.0)
            if warmth <= 0.0:
                values[spec.name] = self._stopped(spec, ambient, noise)
                continue
            sd = spec.noise_sd * scale if running else spec.noise_sd * 0.3
            value = spec.base * self._offsets[spec.name] + spec.load_gain * (load - 0.5)
            value += effects.get(spec.name, 0.0) * sev * shown + noise.gauss(0.0, sd)
            value += spec.ambient_gain * ambient
            if warmth < 1.0:  # starting up or cooling down
                value = (
                    spec.failed
                    + spec.ambient_gain * ambient
                    + warmth * (value - spec.failed - spec.ambient_gain * ambient)
                )
            values[spec.name] = round(max(spec.low, value), 3)
        return self._misread(ts, values)

    @staticmethod
    def _stopped(spec: SensorSpec, ambient: float, noise: random.Random) -> float:
        """A stopped machine's reading: a motor at rest draws no current, moves nothing (zero reads 0)."""
        jitter = noise.gauss(0.0, spec.noise_sd * 0.3) if spec.failed else 0.0
        return round(max(spec.low, spec.failed + spec.ambient_gain * ambient + jitter), 3)

    def _misread(self, ts: float, values: dict[str, float]) -> dict[str, float]:
        """What a broken sensor makes of the true values (a function of ``ts`` and the defect)."""
        defect = self.sensor_defect
        if defect is None or ts < defect.onset_at or defect.channel not in values:
            return values
        name, spec = defect.channel, self._spec_by_name[defect.channel]
        if defect.kind == "stuck":
            if self._stuck_value is None:
                self._stuck_value = values[name]
            values[name] = self._stuck_value
        elif defect.kind == "dropout":
            del values[name]
        elif defect.kind == "spike":
            draw = random.Random(self._noise_seed * 7919 + round(ts * 1000.0))
            if draw.random() < SPIKE_SHARE:
                size = draw.uniform(*SPIKE_SDS) * spec.noise_sd * draw.choice((-1.0, 1.0))
                values[name] = round(max(spec.low, values[name] + size), 3)
        elif defect.kind == "drift":
            sds = min(DRIFT_SDS_PER_HOUR * (ts - defect.onset_at) / HOUR, DRIFT_MAX_SDS)
            values[name] = round(max(spec.low, values[name] + sds * spec.noise_sd), 3)
        return values

    def repair_sensor(self, ts: float) -> SensorDefect | None:
        """A technician checks the sensors at ``ts``: the broken one (if its fault has begun) is repaired."""
        defect = self.sensor_defect
        if defect is None or defect.onset_at > ts:
            return None
        self.sensor_defect, self._stuck_value = None, None
        return defect

    def advance(self, ts: float) -> list[FailureEvent]:
        """Advance the hidden state to ``ts``; failures since the last call (each reported once)."""
        self._advance_to(ts)
        events, self._pending = self._pending, []
        return events

    def inspect_and_repair(self, ts: float, corrective: bool) -> VisitReport:
        """A technician's visit at ``ts``: finds and repairs an active fault or a failure.

        ``corrective`` (sent after a failure) and preventive visits are handled alike: the
        technician repairs whatever is wrong. ``prevented`` is true only when the fault was
        caught before the machine failed.
        """
        del corrective  # the technician's work depends on what they find, not on why they came
        self._advance_to(ts)
        code = self._episode.mode.code
        if self._failed_at is not None:
            self._repair(ts)
            return VisitReport(fault_found=True, fault_code=code, repaired=True, prevented=False)
        if self._episode.onset_at <= max(ts, self._t):
            self._repair(ts)
            return VisitReport(fault_found=True, fault_code=code, repaired=True, prevented=True)
        return VisitReport(fault_found=False, fault_code=None, repaired=False, prevented=False)

    @property
    def now(self) -> float:
        """Event time the hidden state has reached."""
        return self._t

    @property
    def failed(self) -> bool:
        return self._failed_at is not None

    @property
    def failed_at(self) -> float | None:
        return self._failed_at

    @property
    def fault_code(self) -> str | None:
        """The active fault (degrading or failed), ground truth; None while healthy."""
        if self._failed_at is not None or self._episode.onset_at <= self._t:
            return self._episode.mode.code
        return None

    @property
    def onset_at(self) -> float | None:
        """When the current or next fault starts (ground truth); None if none will."""
        onset = self._episode.onset_at
        return onset if math.isfinite(onset) and self._failed_at is None else None

    @property
    def degradation(self) -> float:
        """Severity of the active fault, 0 (healthy) to 1 (failed)."""
        return self._severity_at(self._t)

    @property
    def next_failure_at(self) -> float | None:
        """When the machine will fail if nobody visits (ground truth); None while failed or never."""
        if self._failed_at is not None or not math.isfinite(self._episode.failure_at):
            return None
        return self._episode.failure_at


def make_equipment(
    asset_type: str,
    asset_id: str,
    seed: int,
    start: float,
    *,
    onset_rate_per_h: float | None = None,
    degradation_hours: tuple[float, float] | None = None,
    healthy_hours: float = 0.0,
    force_onset_at: float | None = None,
    force_mode: str | None = None,
    conditions: Conditions | None = None,
) -> Equipment:
    """A machine of ``asset_type`` (``pump``, ``chiller``, ``compressor``) starting healthy at ``start``.

    ``healthy_hours`` keeps the first fault from starting before ``start + healthy_hours``
    (a commissioning period, so models see normal behaviour first); ``force_onset_at`` and
    ``force_mode`` pin the first fault, for tests and scripted demos; ``conditions`` make the
    world harder to read (``simulators.operating``; default: the easy world).
    """
    return Equipment(
        machine_type(asset_type),
        asset_id,
        seed,
        start,
        onset_rate_per_h=DEFAULT_ONSET_RATE_PER_H if onset_rate_per_h is None else onset_rate_per_h,
        degradation_hours=degradation_hours,
        healthy_hours=healthy_hours,
        force_onset_at=force_onset_at,
        force_mode=force_mode,
        conditions=conditions,
    )

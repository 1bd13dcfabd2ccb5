"""Where a simulated machine operates at each moment: load, running or idle, ambient (pure, stdlib only).

``Conditions`` says how hard the world is to read; ``Conditions()`` (all zero) is the easy
world, where a machine runs all the time along its daily duty cycle in a constant climate.
The harder world (``HARDER``, the default of ``FleetSpec``) adds, each with its own knob:

- ``load_cycles``: that share of the load swing follows setpoints held for 1-6 h (a batch,
  a production order, a building's occupancy), ramped over 20 minutes, instead of the hour
  of the day. The load still spans about 0.2-0.9 of rated, but the clock no longer predicts it.
- ``ambient_c``: the machine room's air temperature moves by the season (every world starts
  at its climate's spring equinox, so the first month warms by about half this swing), by
  weather fronts of 2-8 days and by the day (each a quarter of the swing, shared by the whole
  fleet: one region). Each sensor follows it by its ``SensorSpec.ambient_gain``.
- ``idle_share``: the share of the time a machine stands idle, in spells of 2-12 h. An idle
  machine reads as a stopped one (no current or flow, its temperatures at ambient); its
  temperatures cool and warm up again with the sensor's ``lag_minutes`` (only starts and stops
  lag; a change of load moves every sensor at once).
- ``load_noise``: a sensor's noise grows with the load, ``noise_sd × (load / 0.5) ** load_noise``.
- ``fault_load_exponent``: a fault's signature shows in proportion to
  ``(load / 0.9) ** (exponent × (1 - severity))``: early in the fault only at high load, and at
  every load by the time the machine fails (a worn bearing rattles at full speed first).
- ``load_channel``: the machine reports its operating point as ``load_pct`` (0-100; 0 idle),
  as a variable-speed drive or a chiller's capacity controller does.

Everything is a function of ``(seed, asset, ts)`` and the world's start: the schedule of
running and idle spells and setpoints is drawn, in order, from its own generator seeded by the
asset, whatever times the machine is read at.

>>> schedule = OperatingSchedule(HARDER, seed=1, asset_id="pump-0001", start=0.0)
>>> states = [schedule.at(k * 600.0) for k in range(60 * 144)]  # 60 days, every 10 minutes
>>> idle = sum(not s.running for s in states) / len(states)
>>> loads = [s.load for s in states if s.running]
>>> round(idle, 2), round(min(loads), 2), round(max(loads), 2)
(0.18, 0.28, 0.87)
>>> OperatingSchedule(HARDER, 1, "pump-0001", 0.0).at(36 * 3600.0) == states[36 * 6]  # read once
True
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from typing import Final

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR
YEAR: Final = 365.25 * DAY
MID_LOAD: Final = 0.55
DAILY_SWING: Final = 0.3  # the load's swing about MID_LOAD (0.2-0.9 of rated)
SETPOINT_HOURS: Final = (1.0, 6.0)  # how long a setpoint is held
RAMP_S: Final = 20 * 60.0  # a drive ramps to a new setpoint in this long
IDLE_HOURS: Final = (2.0, 12.0)  # an idle spell
MIN_RUN_HOURS: Final = 2.0
WEATHER_DAYS: Final = (2.0, 8.0)  # periods of the weather fronts
FULL_LOAD: Final = 0.9  # the load at which a fault shows its whole signature at any severity
NOISE_LOAD: Final = 0.5  # the load at which a sensor's noise is its ``noise_sd``


@dataclass(frozen=True, slots=True)
class Conditions:
    """How hard the world is to read (module docstring); ``Conditions()`` is the easy world."""

    load_cycles: float = 0.0
    ambient_c: float = 0.0
    idle_share: float = 0.0
    load_noise: float = 0.0
    fault_load_exponent: float = 0.0
    load_channel: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.load_cycles <= 1.0:
            raise ValueError("load_cycles is a share of the load swing: 0 to 1")
        if not 0.0 <= self.idle_share <= 0.8:
            raise ValueError("idle_share is a share of the time: 0 to 0.8")
        if not 0.0 <= self.ambient_c <= 30.0:
            raise ValueError("ambient_c is the season's half-swing: 0 to 30 °C")
        if not 0.0 <= self.load_noise <= 3.0 or not 0.0 <= self.fault_load_exponent <= 4.0:
            raise ValueError("load_noise is an exponent from 0 to 3, fault_load_exponent from 0 to 4")

    @property
    def steady(self) -> bool:
        """Always running along the daily cycle: no schedule to draw."""
        return self.load_cycles == 0.0 and self.idle_share == 0.0


HARDER: Final = Conditions(
    load_cycles=0.5,
    ambient_c=12.0,
    idle_share=0.2,
    load_noise=1.0,
    fault_load_exponent=2.0,
    load_channel=True,
)


@dataclass(frozen=True, slots=True)
class OperatingState:
    load: float  # share of rated (0 while idle)
    running: bool


def daily_shape(ts: float, peak_hour: float) -> float:
    """The daily duty cycle's shape at ``ts``, -1 (quiet night) to 1 (busy afternoon) or so."""
    phase = 2.0 * math.pi * ((ts / HOUR) % 24.0 - peak_hour) / 24.0
    return math.cos(phase) + math.cos(2.0 * phase) / 6.0


def daily_load(ts: float, peak_hour: float) -> float:
    """The easy world's load: the daily duty cycle alone (0.2-0.9)."""
    return MID_LOAD + DAILY_SWING * daily_shape(ts, peak_hour)


class OperatingSchedule:
    """One machine's running and idle spells and setpoints, drawn lazily but always in the same order."""

    def __init__(
        self, conditions: Conditions, seed: int, asset_id: str, start: float, peak_hour: float = 14.0
    ) -> None:
        self.conditions = conditions
        self._rng = random.Random(f"forestall-operating:{seed}:{asset_id}")
        self._peak_hour = peak_hour
        idle = conditions.idle_share
        mean_idle = sum(IDLE_HOURS) / 2.0
        self._mean_run_h = mean_idle * (1.0 - idle) / idle if idle > 0 else math.inf
        # Blocks of one setpoint; spells of running or idle (a spell holds one or more blocks).
        self._block_start: list[float] = []
        self._block_setpoint: list[float] = []
        self._spell_start: list[float] = []
        self._spell_running: list[bool] = []
        self._end = self._spell_end = start  # where the blocks and the spells drawn so far end

    # -- drawing ------------------------------------------------------------------------------

    def _extend(self, ts: float) -> None:
        while self._end <= ts or not self._block_start:
            rng = self._rng
            if self._end >= self._spell_end:  # the spell is over: draw the next one
                running = (
                    not self._spell_running[-1]
                    if self._spell_running
                    else rng.random() >= self.conditions.idle_share
                )
                hours = max(rng.uniform(0.3, 1.7) * self._mean_run_h, MIN_RUN_HOURS) if running else 0.0
                hours = hours or rng.uniform(*IDLE_HOURS)
                if not self._spell_start and math.isfinite(hours):
                    hours *= rng.random()  # the world starts somewhere inside a spell
                self._spell_start.append(self._end)
                self._spell_running.append(running)
                self._spell_end = self._end + hours * HOUR
            self._block_start.append(self._end)
            if self._spell_running[-1] and self.conditions.load_cycles > 0:
                self._block_setpoint.append(rng.uniform(-1.0, 1.0))
                self._end = min(self._end + rng.uniform(*SETPOINT_HOURS) * HOUR, self._spell_end)
            else:
                self._block_setpoint.append(0.0)
                self._end = self._spell_end

    # -- reading ------------------------------------------------------------------------------

    def at(self, ts: float) -> OperatingState:
        """The machine's load and whether it runs at ``ts``."""
        if self.conditions.steady:
            return OperatingState(daily_load(ts, self._peak_hour), True)
        self._extend(ts)
        spell = max(bisect.bisect_right(self._spell_start, ts) - 1, 0)
        if not self._spell_running[spell]:
            return OperatingState(0.0, False)
        share = self.conditions.load_cycles
        return OperatingState(
            MID_LOAD
            + DAILY_SWING * ((1.0 - share) * daily_shape(ts, self._peak_hour) + share * self._setpoint(ts)),
            True,
        )

    def _setpoint(self, ts: float) -> float:
        """The setpoint at ``ts`` (-1 to 1), ramping from the one before within a running spell."""
        block = max(bisect.bisect_right(self._block_start, ts) - 1, 0)
        target, begun = self._block_setpoint[block], self._block_start[block]
        if block == 0 or ts - begun >= RAMP_S or self._starts_spell(begun):
            return target  # after an idle spell the drive starts at its setpoint
        previous = self._block_setpoint[block - 1]
        return previous + (target - previous) * max(ts - begun, 0.0) / RAMP_S

    def _starts_spell(self, at: float) -> bool:
        index = bisect.bisect_left(self._spell_start, at)
        return index < len(self._spell_start) and self._spell_start[index] == at

    def warmth(self, ts: float, lag_s: float) -> float:
        """How far a sensor with this thermal lag stands from its stopped (0) to its running (1) level."""
        if self.conditions.steady:
            return 1.0
        self._extend(ts)
        spell = max(bisect.bisect_right(self._spell_start, ts) - 1, 0)
        if lag_s <= 0:
            return 1.0 if self._spell_running[spell] else 0.0
        # Spells last two hours or more, and the lags are under one: two spells back, the machine
        # stood at its steady level to well within a percent.
        first = max(spell - 2, 0)
        warmth = 1.0 if self._spell_running[first] else 0.0
        for k in range(first, spell + 1):
            until = ts if k == spell else self._spell_start[k + 1]
            decay = math.exp(-max(until - self._spell_start[k], 0.0) / lag_s)
            warmth = 1.0 - (1.0 - warmth) * decay if self._spell_running[k] else warmth * decay
        return warmth


class Climate:
    """The machine room's air temperature, in °C from its yearly mean, shared by a world's fleet."""

    def __init__(self, swing_c: float, seed: int, start: float) -> None:
        rng = random.Random(f"forestall-climate:{seed}")
        self.swing_c = swing_c
        self.start = start
        self._fronts = [(rng.uniform(*WEATHER_DAYS) * DAY, rng.uniform(0.0, 2.0 * math.pi)) for _ in range(3)]

    def ambient(self, ts: float) -> float:
        """Season + weather + day at ``ts`` (0 everywhere without a swing).

        >>> climate = Climate(12.0, seed=1, start=0.0)
        >>> def daily_mean(day): return sum(climate.ambient(day * DAY + h * HOUR) for h in range(24)) / 24
        >>> [round(daily_mean(day), 1) for day in (0, 30, 91)]  # spring, a month on, summer; weather aside
        [-2.5, 6.0, 12.5]
        >>> Climate(0.0, seed=1, start=0.0).ambient(91 * DAY)
        0.0
        """
        swing = self.swing_c
        if swing == 0.0:
            return 0.0
        season = swing * math.sin(2.0 * math.pi * (ts - self.start) / YEAR)
        weather = sum(math.sin(2.0 * math.pi * ts / period + phase) for period, phase in self._fronts)
        day = math.cos(2.0 * math.pi * ((ts / HOUR) % 24.0 - 15.0) / 24.0)
        return season + swing / 4.0 * (weather / 1.5 + day)

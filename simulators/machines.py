"""Machine types of the simulated world: sensors, failure modes and their signatures (pure data).

Each sensor reads ``base + load_gain * (load - 0.5) + Σ mode effect * severity + noise``
where ``load`` (0.2-0.9) follows the asset's daily duty cycle and ``severity`` (0..1) is the
active fault's progress through its P-F curve. The harder world (``simulators.operating``)
moves the load by setpoints too, stops machines for hours, adds ``ambient_gain × ambient``,
lets temperatures lag starts and stops by ``lag_minutes``, grows the noise with the load and
shows an early fault at high load only; the machine then also reports ``load_pct``.

Each failure mode has its own P-F interval (onset to failure): from a day and a half for fast
faults (seal leaks, overheating) to about two weeks for slow wear (bearings, fouling), inside
the 14-day window in which a warning is useful to a dispatcher. Real P-F intervals of
vibration- and temperature-detected wear run from weeks to months; these are compressed so
that 30 simulated days hold several cycles. A failed machine is stopped: it reads its
``failed`` value plus noise (motor tripped, no flow, temperatures back at ambient).

>>> sorted(MACHINE_TYPES)
['chiller', 'compressor', 'pump']
>>> [m.code for m in MACHINE_TYPES["pump"].modes]
['bearing_wear', 'clogging', 'seal_leak']
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class SensorSpec:
    name: str
    base: float  # reading at mid load, healthy
    noise_sd: float
    load_gain: float  # change from the lightest to the heaviest duty (load 0 -> 1)
    failed: float  # reading of the stopped machine
    low: float  # physical floor (readings are clamped here)
    ambient_gain: float = 0.0  # change per °C of the machine room's air (harder world, ``operating``)
    lag_minutes: float = 0.0  # thermal time constant after a start or a stop (0: at once)


@dataclass(frozen=True, slots=True)
class FailureMode:
    code: str
    effects: MappingProxyType[str, float]  # sensor -> shift at severity 1 (just before failure)
    pf_hours: tuple[float, float]  # P-F interval: onset (detectable in principle) to failure


@dataclass(frozen=True, slots=True)
class MachineType:
    name: str
    sensors: tuple[SensorSpec, ...]
    modes: tuple[FailureMode, ...]

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sensors)

    def mode(self, code: str) -> FailureMode:
        for mode in self.modes:
            if mode.code == code:
                return mode
        raise ValueError(f"{self.name} has no failure mode {code!r}; known: {[m.code for m in self.modes]}")


def _mode(code: str, pf_days: tuple[float, float], **effects: float) -> FailureMode:
    return FailureMode(code, MappingProxyType(dict(effects)), (pf_days[0] * 24.0, pf_days[1] * 24.0))


PUMP: Final = MachineType(
    "pump",
    (
        SensorSpec("temp_c", 48.0, 0.4, 12.0, 24.0, -20.0, ambient_gain=0.8, lag_minutes=30.0),
        SensorSpec("vibration_mm_s", 2.2, 0.15, 0.8, 0.1, 0.0),
        SensorSpec("pressure_bar", 6.0, 0.08, 1.2, 0.3, 0.0),
        SensorSpec("current_a", 32.0, 0.5, 12.0, 0.0, 0.0),
        SensorSpec("flow_m3h", 120.0, 1.5, 50.0, 0.0, 0.0),
    ),
    (
        # Spalling races: broadband vibration first, then friction heat and a little extra torque.
        _mode("bearing_wear", (4, 12), vibration_mm_s=9.0, temp_c=18.0, current_a=2.5),
        # A blocked strainer/impeller: head and flow collapse while the motor labours.
        _mode("clogging", (2, 8), pressure_bar=-2.4, flow_m3h=-40.0, current_a=8.0, temp_c=5.0),
        # Mechanical seal leak: lost volume, lower discharge pressure, the motor unloads slightly.
        _mode("seal_leak", (1.5, 6), pressure_bar=-2.8, flow_m3h=-32.0, current_a=-3.0, temp_c=3.0),
    ),
)

CHILLER: Final = MachineType(
    "chiller",
    (
        SensorSpec("supply_temp_c", 7.0, 0.1, 1.2, 16.0, -5.0, ambient_gain=0.05, lag_minutes=15.0),
        SensorSpec("condenser_pressure_bar", 11.0, 0.12, 3.5, 6.0, 0.0, ambient_gain=0.2, lag_minutes=10.0),
        SensorSpec("compressor_current_a", 85.0, 1.0, 45.0, 0.0, 0.0, ambient_gain=0.8),
        SensorSpec("vibration_mm_s", 1.8, 0.12, 0.5, 0.1, 0.0),
    ),
    (
        # Undercharge: less refrigerant to evaporate, warmer supply water, lower head pressure.
        _mode(
            "refrigerant_leak",
            (4, 13),
            supply_temp_c=6.0,
            condenser_pressure_bar=-3.5,
            compressor_current_a=-10.0,
        ),
        _mode("compressor_wear", (3, 10), vibration_mm_s=7.0, compressor_current_a=25.0, supply_temp_c=2.0),
        # Dirty condenser tubes: head pressure and current climb, capacity drops a little.
        _mode("fouling", (5, 13), condenser_pressure_bar=6.0, compressor_current_a=18.0, supply_temp_c=1.5),
    ),
)

COMPRESSOR: Final = MachineType(
    "compressor",
    (
        SensorSpec("discharge_temp_c", 85.0, 0.6, 12.0, 30.0, -20.0, ambient_gain=1.0, lag_minutes=15.0),
        SensorSpec("discharge_pressure_bar", 8.0, 0.05, 0.5, 0.5, 0.0),
        SensorSpec("vibration_mm_s", 3.0, 0.2, 0.6, 0.1, 0.0),
        SensorSpec("current_a", 55.0, 0.7, 22.0, 0.0, 0.0, ambient_gain=0.15),
        SensorSpec("oil_temp_c", 62.0, 0.4, 7.0, 35.0, -20.0, ambient_gain=0.7, lag_minutes=40.0),
    ),
    (
        # Leaking valves recompress hot gas: pressure falls, discharge temperature climbs.
        _mode("valve_wear", (3, 10), discharge_pressure_bar=-1.8, discharge_temp_c=16.0, current_a=6.0),
        _mode("bearing_wear", (4, 12), vibration_mm_s=10.0, oil_temp_c=12.0, current_a=3.0),
        # Failing aftercooler/oil cooler.
        _mode("overheating", (1.5, 5), discharge_temp_c=35.0, oil_temp_c=25.0, current_a=4.0),
    ),
)

# The operating point as a drive or capacity controller reports it (harder world): 100 × load, 0 idle.
LOAD_SENSOR: Final = SensorSpec("load_pct", 50.0, 0.2, 100.0, 0.0, 0.0)

MACHINE_TYPES: Final = MappingProxyType({t.name: t for t in (PUMP, CHILLER, COMPRESSOR)})


def machine_type(name: str) -> MachineType:
    try:
        return MACHINE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown asset type {name!r}; known: {sorted(MACHINE_TYPES)}") from None

"""Sensor faults (``predictor.sensor_faults``): each kind found at several cadences; healthy noisy
channels and a genuine machine fault that moves several coupled channels are left alone."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from predictor.sensor_faults import SensorFleet, SensorWatch
from simulators.operating import HARDER
from simulators.physics import SensorDefect, make_equipment

HOUR = 3600.0
CADENCES = (10.0, 300.0, 3600.0)
Fault = Callable[[float, dict[str, float]], dict[str, float]]


def reading(rng: random.Random, t: float, peak: float) -> dict[str, float]:
    """A machine whose load follows a daily cycle: temperature, current, flow and vibration move
    with it (coupled); humidity is a channel of its own, coupled to nothing."""
    load = 0.55 + 0.3 * math.cos(2 * math.pi * (t / HOUR - peak) / 24.0)
    return {
        "temp": round(50 + 12 * (load - 0.5) + rng.gauss(0, 0.4), 3),
        "current": round(30 + 12 * (load - 0.5) + rng.gauss(0, 0.5), 3),
        "flow": round(120 + 50 * (load - 0.5) + rng.gauss(0, 1.5), 3),
        "vibration": round(2 + 0.8 * (load - 0.5) + rng.gauss(0, 0.15), 3),
        "humidity": round(40 + rng.gauss(0, 2.0), 3),
    }


def run(
    cadence: float, hours: float, fault: Fault | None = None, assets: int = 3, seed: int = 1
) -> list[SensorWatch]:
    """A small fleet of one type; ``fault`` rewrites the readings of the last asset."""
    rng = random.Random(seed)
    fleet = SensorFleet()
    watches = [SensorWatch(fleet) for _ in range(assets)]
    peaks = [rng.uniform(12, 16) for _ in range(assets)]
    steps = int(hours * HOUR / cadence)
    for k in range(steps):
        t = k * cadence
        for n, watch in enumerate(watches):
            values = reading(rng, t, peaks[n])
            if fault is not None and n == assets - 1:
                values = fault(t, values)
            watch.update(t, values)
    return watches


def kinds(watch: SensorWatch) -> dict[str, str]:
    return {name: f.kind for name, f in watch.faults.items()}


def hours_for(cadence: float) -> float:
    return 40.0 if cadence < 60 else 60.0


ONSET = 30 * HOUR  # after the type has learnt what its channels normally do


@pytest.mark.parametrize("cadence", CADENCES)
def test_healthy_noisy_channels_are_not_flagged(cadence: float) -> None:
    for watch in run(cadence, hours_for(cadence) + 24):
        assert watch.faults == {}


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_stuck_channel_is_flagged_with_its_onset(cadence: float) -> None:
    held: dict[str, float] = {}

    def stuck(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET:
            values["temp"] = held.setdefault("temp", values["temp"])
        return values

    *healthy, broken = run(cadence, hours_for(cadence), stuck)
    assert kinds(broken) == {"temp": "stuck"}
    fault = broken.faults["temp"]
    assert ONSET <= fault.onset <= ONSET + cadence and 0.5 <= fault.confidence <= 1.0
    assert all(w.faults == {} for w in healthy)


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_machine_that_stops_flat_lines_several_channels_and_is_no_sensor_fault(cadence: float) -> None:
    def stopped(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET:
            values.update(current=0.0, flow=0.0, vibration=0.0)
        return values

    assert run(cadence, hours_for(cadence), stopped)[-1].faults == {}


@pytest.mark.parametrize("cadence", CADENCES)
def test_recurring_spikes_are_flagged_and_a_single_one_is_not(cadence: float) -> None:
    every = max(3 * HOUR, 2 * cadence)

    def spiky(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET and (t - ONSET) % every < cadence:
            values["current"] += 40.0
        return values

    def once(t: float, values: dict[str, float]) -> dict[str, float]:
        if ONSET <= t < ONSET + cadence:
            values["current"] += 40.0
        return values

    broken = run(cadence, ONSET / HOUR + 13, spiky)[-1]
    assert kinds(broken) == {"current": "spike"}
    assert ONSET <= broken.faults["current"].onset < ONSET + cadence
    assert run(cadence, ONSET / HOUR + 13, once)[-1].faults == {}


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_channel_that_drops_out_while_others_report_is_flagged_and_clears_when_back(
    cadence: float,
) -> None:
    back = ONSET + 8 * HOUR

    def dropout(t: float, values: dict[str, float]) -> dict[str, float]:
        if ONSET <= t < back:
            del values["flow"]
        return values

    broken = run(cadence, back / HOUR - 1, dropout)[-1]
    assert kinds(broken) == {"flow": "dropout"}
    assert ONSET - cadence <= broken.faults["flow"].onset < ONSET
    assert run(cadence, back / HOUR + 4, dropout)[-1].faults == {}


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_whole_device_offline_is_no_dropout(cadence: float) -> None:
    def offline(t: float, values: dict[str, float]) -> dict[str, float]:
        return {} if ONSET <= t < ONSET + 6 * HOUR else values

    assert run(cadence, ONSET / HOUR + 10, offline)[-1].faults == {}


def drifting(channel: str, per_hour: float) -> Fault:
    def fault(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET:
            values[channel] += per_hour * (t - ONSET) / HOUR
        return values

    return fault


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_drift_its_coupled_channels_do_not_show_is_flagged_within_a_day(cadence: float) -> None:
    broken = run(cadence, ONSET / HOUR + 20, drifting("temp", 0.5))[-1]
    assert kinds(broken) == {"temp": "drift"}
    assert ONSET <= broken.faults["temp"].onset <= ONSET + 18 * HOUR


@pytest.mark.parametrize("cadence", CADENCES)
def test_a_genuine_fault_moving_coupled_channels_is_not_a_sensor_fault(cadence: float) -> None:
    def bearing(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET:  # wear: vibration first, friction heat with it, a little more current
            severity = math.expm1(3 * min((t - ONSET) / (60 * HOUR), 1.0)) / math.expm1(3)
            values["vibration"] += 9.0 * severity
            values["temp"] += 18.0 * severity
            values["current"] += 2.5 * severity
        return values

    assert run(cadence, ONSET / HOUR + 40, bearing)[-1].faults == {}


def test_a_drift_on_a_channel_coupled_to_nothing_cannot_be_judged() -> None:
    broken = run(300.0, ONSET / HOUR + 20, drifting("humidity", 4.0))[-1]
    assert "humidity" not in broken.faults


def test_a_sensor_repair_clears_the_fault_and_the_channel_is_judged_afresh() -> None:
    held: dict[str, float] = {}

    def stuck(t: float, values: dict[str, float]) -> dict[str, float]:
        if t >= ONSET:
            values["temp"] = held.setdefault("temp", values["temp"])
        return values

    broken = run(300.0, 36, stuck)[-1]
    assert broken.repaired(36 * HOUR, "temp") == ["temp"]
    assert broken.faults == {} and broken.usable({"temp": 1.0, "flow": 2.0}) == {"temp": 1.0, "flow": 2.0}


@pytest.mark.parametrize("cadence", (300.0, 3600.0))
def test_a_last_digit_that_flickers_now_and_then_is_neither_a_spike_nor_stuck(cadence: float) -> None:
    rng = random.Random(3)

    def flicker(t: float, values: dict[str, float]) -> dict[str, float]:
        values["setting"] = 21.61 if rng.random() > 0.05 else 21.60  # quantised, mostly still
        return values

    assert run(cadence, 80, flicker)[-1].faults == {}


def test_a_drift_that_began_just_before_a_machine_repair_is_still_found() -> None:
    """The repair restarts the asset's baseline; the one before judges until the new one is learnt,
    or the drift would be learnt as normal."""
    rng = random.Random(1)
    fleet = SensorFleet()
    watches = [SensorWatch(fleet) for _ in range(3)]
    drift = drifting("temp", 0.5)
    t = 0.0
    while t < ONSET + 20 * HOUR:
        for n, watch in enumerate(watches):
            values = reading(rng, t, 14.0 + n)
            watch.update(t, drift(t, values) if n == 2 else values)
        if t == ONSET + HOUR:
            watches[2].restart(t)
        t += 300.0
    assert kinds(watches[2]) == {"temp": "drift"}


def test_after_a_sensor_repair_the_channel_is_judged_on_a_baseline_learnt_again() -> None:
    """A drift went unnoticed through a machine repair's relearning (it became the baseline); once
    the technician repaired the sensor, the channel reads normal again and is not flagged."""
    rng = random.Random(2)
    fleet = SensorFleet()
    watches = [SensorWatch(fleet) for _ in range(3)]
    offset = 6.0  # a temperature sensor that read 6 °C high all its young life
    repaired_at = ONSET + 20 * HOUR
    t = 0.0
    while t < repaired_at + 40 * HOUR:
        for n, watch in enumerate(watches):
            values = reading(rng, t, 14.0 + n)
            if n == 2 and t < repaired_at:
                values["temp"] += offset
            watch.update(t, values)
        if t == repaired_at:
            watches[2].repaired(t, "temp")
        t += 300.0
    assert watches[2].faults == {}


def test_a_fault_led_by_a_weakly_coupled_channel_is_not_its_drift() -> None:
    """Vibration follows the load only loosely: its coupled partners (temperature, current) do not
    show a bearing's wear, but the oil temperature, coupled to them and not quite to vibration,
    does. The machine is changing, so the vibration's rise is no sensor drift."""
    rng = random.Random(4)
    fleet = SensorFleet()
    watches = [SensorWatch(fleet) for _ in range(3)]
    t = 0.0
    while t < ONSET + 30 * HOUR:
        for n, watch in enumerate(watches):
            load = 0.55 + 0.3 * math.cos(2 * math.pi * (t / HOUR - 13 - n) / 24.0)
            wear = 0.0 if n < 2 or t < ONSET else (t - ONSET) / (30 * HOUR)
            watch.update(
                t,
                {
                    "temp": 50 + 12 * (load - 0.5) + rng.gauss(0, 0.4),
                    "current": 30 + 12 * (load - 0.5) + rng.gauss(0, 0.5),
                    "vibration": 2 + 0.5 * (load - 0.5) + rng.gauss(0, 0.15) + 3.0 * wear,
                    "oil": 60 + 6 * (load - 0.5) + rng.gauss(0, 0.8) + 8.0 * wear,
                },
            )
        t += 300.0
    coupling = fleet.coupling()
    assert coupling is not None and "oil" not in coupling.partners["vibration"]
    assert {"temp", "current"} <= set(coupling.partners["vibration"])
    assert watches[2].faults == {}


def harder_fleet(
    kind: str, days: float, defect: SensorDefect | None = None, assets: int = 8
) -> tuple[list[SensorWatch], dict[tuple[int, str, str], float]]:
    """Healthy machines of one type in the simulator's harder world (setpoints held for hours, idle
    spells a fifth of the time, noise growing with the load, a warming season, ``load_pct``), read
    every 10 minutes; ``defect`` breaks a sensor of the last one. Returns the watches and when each
    (asset, channel, kind) was first flagged."""
    machines = [
        make_equipment(kind, f"{kind}-{i}", 4, 0.0, onset_rate_per_h=0.0, conditions=HARDER)
        for i in range(assets)
    ]
    machines[-1].sensor_defect = defect
    fleet = SensorFleet()
    watches = [SensorWatch(fleet) for _ in machines]
    flagged: dict[tuple[int, str, str], float] = {}
    for k in range(int(days * 24 * 6)):
        t = k * 600.0
        for n, (machine, watch) in enumerate(zip(machines, watches, strict=True)):
            watch.update(t, machine.read(t))
            for name, fault in watch.faults.items():
                flagged.setdefault((n, name, fault.kind), t)
    return watches, flagged


@pytest.mark.parametrize("kind", ["pump", "chiller"])
def test_healthy_machines_that_hold_setpoints_and_idle_raise_no_sensor_fault(kind: str) -> None:
    # Before, every chiller's load_pct was "stuck" at 0 while it idled (its current, following the
    # room's air, was not flat), and a pump's current "spiked" as it started after a quiet spell.
    _, flagged = harder_fleet(kind, days=6)
    assert flagged == {}


@pytest.mark.parametrize(
    ("kind", "channel", "fault"),
    [
        ("chiller", "vibration_mm_s", "stuck"),
        ("chiller", "load_pct", "stuck"),
        ("pump", "current_a", "spike"),
        ("chiller", "compressor_current_a", "dropout"),
        ("pump", "vibration_mm_s", "drift"),
    ],
)
def test_broken_sensors_in_the_harder_world_are_flagged_within_a_day(
    kind: str, channel: str, fault: str
) -> None:
    onset = 74 * HOUR  # while the last machine runs
    _, flagged = harder_fleet(kind, days=5, defect=SensorDefect(channel, fault, onset))
    found = [(key, t) for key, t in flagged.items() if key[0] == 7]
    assert [name for (_, name, _), _ in found] == [channel]
    (_, _, kind_found), at = found[0]
    # A value held while the coupled channels move with the load is also a drift from them.
    assert kind_found in ({fault, "drift"} if fault == "stuck" else {fault})
    assert onset <= at <= onset + 24 * HOUR
    assert [key for key in flagged if key[0] != 7] == []

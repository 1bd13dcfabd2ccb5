"""The harder world (``simulators.operating``): each knob does what it says, and readings stay a
function of (seed, asset, ts) with the same faults as the easy world."""

from __future__ import annotations

import itertools
import statistics

import pytest

from simulators.machines import MACHINE_TYPES
from simulators.operating import HARDER, Climate, Conditions
from simulators.physics import HOUR, Equipment, make_equipment
from simulators.world import FleetSpec, World, easy

START = 1_790_000_000.0
DAY = 24 * HOUR


def machine(conditions: Conditions, asset_type: str = "pump", seed: int = 1, **kw: object) -> Equipment:
    return make_equipment(
        asset_type, f"{asset_type}-0001", seed, START, onset_rate_per_h=0.0, conditions=conditions, **kw
    )  # type: ignore[arg-type]


def times(days: float, every_s: float = 600.0) -> list[float]:
    return [START + i * every_s for i in range(int(days * DAY / every_s))]


def test_the_easy_world_reads_as_before_and_the_harder_one_keeps_its_faults() -> None:
    """``Conditions()`` is today's world; the harder one draws the same faults and adds ``load_pct``."""
    easy_pump = make_equipment("pump", "pump-0001", 3, START, onset_rate_per_h=0.02)
    same = make_equipment("pump", "pump-0001", 3, START, onset_rate_per_h=0.02, conditions=Conditions())
    assert all(easy_pump.read(t) == same.read(t) for t in times(5))
    hard = make_equipment("pump", "pump-0001", 3, START, onset_rate_per_h=0.02, conditions=HARDER)
    easy_again = make_equipment("pump", "pump-0001", 3, START, onset_rate_per_h=0.02)
    assert (hard.onset_at, hard.next_failure_at) == (easy_again.onset_at, easy_again.next_failure_at)
    assert hard.sensors == (*MACHINE_TYPES["pump"].sensor_names, "load_pct")
    assert hard.read(START) != easy_again.read(START)


@pytest.mark.parametrize("asset_type", sorted(MACHINE_TYPES))
def test_the_harder_world_is_a_function_of_seed_asset_and_time(asset_type: str) -> None:
    """However often (and from wherever on) a machine is read, each reading is the same."""
    dense = machine(HARDER, asset_type, seed=5)
    every_minute = {t: dense.read(t) for t in times(6, every_s=60.0)}
    probes = times(6, every_s=7 * 3600.0)
    sparse = machine(HARDER, asset_type, seed=5)
    assert [sparse.read(t) for t in probes] == [every_minute[t] for t in probes]
    assert machine(HARDER, asset_type, seed=5).read(probes[-1]) == every_minute[probes[-1]]  # read once
    assert machine(HARDER, asset_type, seed=6).read(probes[-1]) != every_minute[probes[-1]]


def quick_scatter(pump: Equipment, ts: list[float], sensor: str) -> list[tuple[float, float]]:
    """(load, difference between two readings 10 s apart): the noise, the level unchanged."""
    return [(pump.load(t), pump.read(t + 10.0)[sensor] - pump.read(t)[sensor]) for t in ts]


def test_noise_grows_with_the_load() -> None:
    def spread_ratio(conditions: Conditions) -> float:
        pairs = quick_scatter(machine(conditions), times(8, every_s=1200.0), "vibration_mm_s")
        high = statistics.pstdev(d for load, d in pairs if load > 0.75)
        low = statistics.pstdev(d for load, d in pairs if load < 0.4)
        return high / low

    assert spread_ratio(Conditions(load_noise=1.0)) > 2.0  # (0.8 / 0.3) ** 1 in theory
    assert 0.75 < spread_ratio(Conditions()) < 1.3


def hour_of_day_share(values: list[tuple[float, float]]) -> float:
    """Share of the variance of ``value`` that the hour of the day explains."""
    by_hour: dict[int, list[float]] = {}
    for t, v in values:
        by_hour.setdefault(int((t / HOUR) % 24), []).append(v)
    overall = statistics.pvariance(v for _, v in values)
    within = statistics.fmean(statistics.pvariance(vs) for vs in by_hour.values())
    return 1.0 - within / overall


def test_load_cycles_follow_setpoints_held_for_hours_not_the_clock() -> None:
    def loads(conditions: Conditions) -> list[tuple[float, float]]:
        pump = machine(conditions)
        return [(t, pump.read(t)["load_pct"]) for t in times(20)]

    daily = loads(Conditions(load_channel=True))
    cycled = loads(Conditions(load_cycles=0.5, load_channel=True))
    assert hour_of_day_share(daily) > 0.95
    assert hour_of_day_share(cycled) < 0.7
    assert min(v for _, v in cycled) > 19.0 and max(v for _, v in cycled) < 91.0  # still 0.2-0.9 of rated
    # A setpoint is held for hours: within an hour the load moves far less than over a day.
    hourly_moves = [abs(b[1] - a[1]) for a, b in itertools.pairwise(cycled[::6])]
    assert statistics.median(hourly_moves) < 0.25 * (max(v for _, v in cycled) - min(v for _, v in cycled))


def test_the_season_warms_the_temperatures_and_the_climate_is_the_fleets() -> None:
    def month(conditions: Conditions, sensor: str) -> float:
        """Mean of the last five days minus that of the first five."""
        pump = machine(conditions)
        values = [pump.read(t)[sensor] for t in times(30, every_s=1800.0)]
        return statistics.fmean(values[-240:]) - statistics.fmean(values[:240])

    assert month(Conditions(ambient_c=12.0), "temp_c") > 2.0  # spring: ~5 °C of air, 0.8 of it in the pump
    assert abs(month(Conditions(ambient_c=12.0), "vibration_mm_s")) < 0.1  # no ambient gain
    assert abs(month(Conditions(), "temp_c")) < 0.3
    one, other = Climate(12.0, seed=4, start=START), Climate(12.0, seed=4, start=START)
    assert [one.ambient(t) for t in times(3)] == [other.ambient(t) for t in times(3)]
    assert Climate(0.0, seed=4, start=START).ambient(START + 90 * DAY) == 0.0


def test_idle_spells_stop_the_machine_for_hours_and_temperatures_lag() -> None:
    pump = machine(Conditions(idle_share=0.2, load_channel=True))
    readings = [(t, pump.read(t)) for t in times(40)]
    idle = [r for _, r in readings if r["load_pct"] == 0.0]
    assert 0.1 < len(idle) / len(readings) < 0.3
    assert all(r["current_a"] == 0.0 and r["flow_m3h"] == 0.0 for r in idle)
    spells = [
        len(list(g)) for stopped, g in itertools.groupby(r["load_pct"] == 0.0 for _, r in readings) if stopped
    ]
    assert len(spells) >= 5 and min(spells[1:-1]) >= 11  # 2 h and more, at 10-minute readings
    # At a restart the pump's temperature starts cold and takes its time constant (30 min) to warm up.
    starts = [k for k in range(1, len(readings) - 6) if idle_at(readings, k - 1) and not idle_at(readings, k)]
    assert len(starts) >= 5
    for k in starts:
        first, hour_on = readings[k][1]["temp_c"], readings[k + 6][1]["temp_c"]
        assert hour_on - first > 5.0


def idle_at(readings: list[tuple[float, dict[str, float]]], k: int) -> bool:
    return readings[k][1]["load_pct"] == 0.0


def test_early_faults_show_at_high_load_only_and_at_every_load_by_failure() -> None:
    def shifts(conditions: Conditions) -> tuple[float, float, float]:
        """Vibration over a healthy twin early in a bearing fault at high and low load, and near failure."""
        worn = machine(conditions, force_onset_at=START + 10 * HOUR, force_mode="bearing_wear")
        twin = machine(conditions)
        onset, failure_at = worn.onset_at or 0.0, worn.next_failure_at or 0.0
        early = [t for t in times(30) if onset < t < onset + 0.4 * (failure_at - onset)]
        high = [t for t in early if worn.load(t) > 0.8]
        low = [t for t in early if worn.load(t) < 0.35]  # the daily cycle's night: 0.3
        last_12h = [t for t in times(30) if failure_at - 12 * HOUR < t < failure_at]
        lightest = min(last_12h, key=worn.load)

        def shift(ts: list[float]) -> float:
            return statistics.fmean(
                worn.read(t)["vibration_mm_s"] - twin.read(t)["vibration_mm_s"] for t in ts
            )

        return shift(high), shift(low), shift([lightest])

    high, low, late = shifts(Conditions(fault_load_exponent=2.0))
    assert high > 4 * low
    assert late > 0.4 * 9.0 and late > 10 * low  # near failure the worn bearing rattles at light load too
    even_high, even_low, _ = shifts(Conditions())
    assert even_high == pytest.approx(even_low, rel=0.35)


def test_the_fleet_defaults_to_the_harder_world_and_refuses_knobs_out_of_range() -> None:
    assert FleetSpec().conditions == HARDER and FleetSpec().sensor_fault_share == 0.1
    world = World(easy(FleetSpec(assets=3, customers=1)), START)
    assert all(e.conditions == Conditions() for e in world.equipment.values()) and not world.sensor_defects
    for bad in ({"idle_share": 0.9}, {"load_cycles": 1.5}, {"ambient_c": -1.0}, {"fault_load_exponent": 9.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FleetSpec(**bad)  # type: ignore[arg-type]

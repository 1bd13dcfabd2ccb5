"""Machines: reproducible, healthy means flat, faults trend before failure, repairs reset."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.machines import MACHINE_TYPES
from simulators.physics import DEMO_DEGRADATION_HOURS, HOUR, Equipment, make_equipment

START = 1_790_000_000.0
DAY = 24 * HOUR
TYPES = sorted(MACHINE_TYPES)


def healthy(asset_type: str, seed: int = 1) -> Equipment:
    return make_equipment(asset_type, f"{asset_type}-0001", seed, START, onset_rate_per_h=0.0)


def forced(asset_type: str, mode: str, seed: int = 1, onset_h: float = 10.0) -> Equipment:
    return make_equipment(
        asset_type, f"{asset_type}-0001", seed, START, force_onset_at=START + onset_h * HOUR, force_mode=mode
    )


@pytest.mark.parametrize("asset_type", TYPES)
def test_same_seed_gives_identical_readings(asset_type: str) -> None:
    times = [START + i * 600.0 for i in range(2000)]
    a = make_equipment(asset_type, "x-1", 42, START, onset_rate_per_h=0.05)
    b = make_equipment(asset_type, "x-1", 42, START, onset_rate_per_h=0.05)
    assert [a.read(t) for t in times] == [b.read(t) for t in times]
    assert a.next_failure_at == b.next_failure_at
    other = make_equipment(asset_type, "x-1", 43, START, onset_rate_per_h=0.05)
    assert other.read(times[0]) != a.read(times[0])


def test_reading_does_not_depend_on_how_often_the_machine_is_read() -> None:
    dense = make_equipment("pump", "pump-0001", 5, START)
    sparse = make_equipment("pump", "pump-0001", 5, START)
    for i in range(1, 600):
        dense.read(START + i * 60.0)
    assert dense.read(START + 600 * 60.0) == sparse.read(START + 600 * 60.0)


@pytest.mark.parametrize("asset_type", TYPES)
def test_healthy_machine_stays_in_bounds_without_trend(asset_type: str) -> None:
    machine = healthy(asset_type)
    days = [[machine.read(START + d * DAY + i * 600.0) for i in range(144)] for d in range(10)]
    assert not machine.failed and machine.degradation == 0.0 and machine.fault_code is None
    for spec in MACHINE_TYPES[asset_type].sensors:
        values = [s[spec.name] for day in days for s in day]
        swing = abs(spec.load_gain) * 0.6 + 6 * spec.noise_sd + abs(spec.base) * 0.03
        assert all(abs(v - spec.base) <= swing for v in values), spec.name
        daily = [statistics.fmean(s[spec.name] for s in day) for day in days]
        first, last = statistics.fmean(daily[:5]), statistics.fmean(daily[5:])
        assert abs(last - first) < 0.25 * spec.noise_sd, f"{spec.name} drifts: {first} -> {last}"
        # The duty cycle is visible: normal is not flat.
        assert max(values) - min(values) > 0.3 * abs(spec.load_gain)


@pytest.mark.parametrize(("asset_type", "mode"), [(t, m.code) for t in TYPES for m in MACHINE_TYPES[t].modes])
def test_fault_trends_in_its_sensors_before_failure(asset_type: str, mode: str) -> None:
    machine, twin = forced(asset_type, mode), healthy(asset_type)
    failure_at = machine.next_failure_at
    low, high = MACHINE_TYPES[asset_type].mode(mode).pf_hours
    assert failure_at is not None and low * HOUR <= failure_at - (START + 10 * HOUR) <= high * HOUR
    effects = MACHINE_TYPES[asset_type].mode(mode).effects
    noise = {s.name: s.noise_sd for s in MACHINE_TYPES[asset_type].sensors}
    sensor = max(effects, key=lambda n: abs(effects[n]) / noise[n])
    sign = math.copysign(1.0, effects[sensor])
    times = [START + 10 * HOUR + k * 600.0 for k in range(int((failure_at - START - 10 * HOUR) // 600.0))]
    # The twin shares unit offsets and noise, so the difference is the fault's signature alone.
    shift = [sign * (machine.read(t)[sensor] - twin.read(t)[sensor]) for t in times]
    assert all(b >= a - 0.002 for a, b in itertools.pairwise(shift)), "not monotone"
    assert shift[-1] > 0.8 * abs(effects[sensor]) > 10 * noise[sensor]
    # Visible well before failure: at 60 % of the way the shift exceeds three noise sigmas.
    assert shift[int(len(shift) * 0.6)] > 3 * noise[sensor]
    assert machine.fault_code == mode and not machine.failed and 0 < machine.degradation < 1


def test_failure_is_reported_once_and_reads_stopped() -> None:
    machine = forced("pump", "bearing_wear")
    failure_at = machine.next_failure_at
    assert failure_at is not None
    assert machine.advance(failure_at - 1.0) == []
    events = machine.advance(failure_at + HOUR)
    assert [(e.asset_id, e.at, e.fault_code) for e in events] == [("pump-0001", failure_at, "bearing_wear")]
    assert machine.advance(failure_at + 2 * HOUR) == []
    assert machine.failed and machine.degradation == 1.0 and machine.next_failure_at is None
    reading = machine.read(failure_at + 3 * HOUR)
    assert reading["current_a"] == 0.0 and reading["flow_m3h"] == 0.0 and reading["temp_c"] < 30


def test_corrective_repair_restarts_and_resets_wear() -> None:
    machine = forced("chiller", "fouling")
    failure_at = machine.next_failure_at or 0.0
    machine.advance(failure_at + HOUR)
    report = machine.inspect_and_repair(failure_at + 3 * HOUR, corrective=True)
    assert (report.fault_found, report.fault_code, report.repaired, report.prevented) == (
        True,
        "fouling",
        True,
        False,
    )
    assert not machine.failed and machine.degradation == 0.0 and machine.fault_code is None
    assert (machine.onset_at or math.inf) > failure_at + 3 * HOUR
    reading, twin = machine.read(failure_at + 4 * HOUR), healthy("chiller").read(failure_at + 4 * HOUR)
    assert reading == twin


def test_visit_during_degradation_prevents_and_visit_when_healthy_finds_nothing() -> None:
    machine = forced("compressor", "valve_wear")
    early = machine.inspect_and_repair(START + 5 * HOUR, corrective=False)
    assert early == type(early)(fault_found=False, fault_code=None, repaired=False, prevented=False)
    failure_at = machine.next_failure_at or 0.0
    report = machine.inspect_and_repair(failure_at - HOUR, corrective=False)
    assert report.prevented and report.fault_found and report.fault_code == "valve_wear"
    assert machine.advance(failure_at + HOUR) == [] and not machine.failed


def test_default_timescales_follow_each_failure_mode() -> None:
    """About one fault per 300 h; onset to failure within the drawn mode's P-F interval."""
    machines = [make_equipment("pump", f"pump-{i:04d}", 7, START) for i in range(400)]
    onsets = [(m.onset_at or 0.0) - START for m in machines]
    assert 200 * HOUR < statistics.fmean(onsets) < 450 * HOUR
    spans: dict[str, list[float]] = {}
    for m in machines:
        m.advance(m.onset_at or START)
        spans.setdefault(m.fault_code or "", []).append((m.next_failure_at or 0.0) - (m.onset_at or 0.0))
    assert set(spans) == {mode.code for mode in MACHINE_TYPES["pump"].modes}
    for code, values in spans.items():
        low, high = MACHINE_TYPES["pump"].mode(code).pf_hours
        assert low * HOUR <= min(values) and max(values) <= high * HOUR
        assert max(values) - min(values) > 0.5 * (high - low) * HOUR  # drawn across the interval


def test_the_demo_can_compress_every_fault_to_a_few_days() -> None:
    machines = [
        make_equipment("chiller", f"c-{i}", 7, START, degradation_hours=DEMO_DEGRADATION_HOURS)
        for i in range(200)
    ]
    spans = [(m.next_failure_at or 0.0) - (m.onset_at or 0.0) for m in machines]
    assert min(spans) >= DEMO_DEGRADATION_HOURS[0] * HOUR and max(spans) <= DEMO_DEGRADATION_HOURS[1] * HOUR
    with pytest.raises(ValueError, match="degradation_hours"):
        make_equipment("pump", "p-1", 1, START, degradation_hours=(5.0, 2.0))


def test_unknown_type_and_mode_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown asset type"):
        make_equipment("boiler", "b-1", 1, START)
    with pytest.raises(ValueError, match="no failure mode"):
        make_equipment("pump", "p-1", 1, START, force_onset_at=START, force_mode="rust")


@settings(max_examples=60, deadline=None)
@given(
    asset_type=st.sampled_from(TYPES),
    seed=st.integers(min_value=0, max_value=2**63),
    steps=st.lists(st.floats(min_value=0.0, max_value=50 * HOUR, allow_nan=False), max_size=40),
    rate=st.floats(min_value=0.0, max_value=1.0),
    visits=st.lists(st.booleans(), max_size=40),
)
def test_readings_are_always_finite_and_physical(
    asset_type: str, seed: int, steps: list[float], rate: float, visits: list[bool]
) -> None:
    machine = make_equipment(asset_type, "a-1", seed, START, onset_rate_per_h=rate)
    floors = {s.name: s.low for s in MACHINE_TYPES[asset_type].sensors}
    ts = START
    for i, step in enumerate(steps):
        ts += step
        values = machine.read(ts)
        assert set(values) == set(machine.sensors)
        assert all(math.isfinite(v) and v >= floors[k] for k, v in values.items())
        assert 0.0 <= machine.degradation <= 1.0
        if i < len(visits) and visits[i]:
            machine.inspect_and_repair(ts, corrective=machine.failed)
            assert not machine.failed

"""Broken sensors in the simulated world: each kind misreads one channel from its onset, the
machine stays as it was, and a sensor check repairs the sensor (counted apart from visits)."""

from __future__ import annotations

from simulators.physics import SensorDefect, make_equipment
from simulators.world import FleetSpec, VisitRequest, World, easy

HOUR = 3600.0


def test_each_kind_misreads_only_its_channel_after_its_onset() -> None:
    healthy = make_equipment("pump", "pump-0001", seed=3, start=0.0, onset_rate_per_h=0.0)
    times = [h * 600.0 for h in range(200)]
    truth = [healthy.read(t) for t in times]
    for kind in ("stuck", "spike", "dropout", "drift"):
        machine = make_equipment("pump", "pump-0001", seed=3, start=0.0, onset_rate_per_h=0.0)
        machine.sensor_defect = SensorDefect("temp_c", kind, 10 * HOUR)
        read = [machine.read(t) for t in times]
        before = [r for r, t in zip(read, times, strict=True) if t < 10 * HOUR]
        assert before == truth[: len(before)], kind
        after = [(r, e) for r, e, t in zip(read, truth, times, strict=True) if t >= 10 * HOUR]
        assert all(
            {k: v for k, v in r.items() if k != "temp_c"} == {k: v for k, v in e.items() if k != "temp_c"}
            for r, e in after
        )
        temps = [r.get("temp_c") for r, _ in after]
        if kind == "stuck":
            assert len(set(temps)) == 1
        elif kind == "dropout":
            assert set(temps) == {None}
        elif kind == "spike":
            jumps = sum(abs(r["temp_c"] - e["temp_c"]) > 5 for r, e in after)
            assert 3 <= jumps <= len(after) // 5
        else:
            assert after[-1][0]["temp_c"] - after[-1][1]["temp_c"] > 10 * 0.4


def test_a_share_of_the_fleet_gets_each_kind_in_turn_and_a_sensor_check_repairs_it() -> None:
    world = World(FleetSpec(assets=40, customers=4, sensor_fault_share=0.1, onset_rate_per_h=0.0), 0.0)
    defects = world.sensor_defects
    assert len(defects) == 4 and sorted(d.kind for d in defects.values()) == [
        "drift",
        "dropout",
        "spike",
        "stuck",
    ]
    asset, defect = next(iter(defects.items()))
    early = world.perform_visit(VisitRequest(asset, "v0", "r0", defect.onset_at - HOUR, "sensor_check"))
    assert not early.fault_found and world.equipment[asset].sensor_defect == defect
    report = world.perform_visit(VisitRequest(asset, "v1", "r1", defect.onset_at + HOUR, "sensor_check"))
    assert report.fault_found and report.fault_code == f"sensor:{defect.channel}" and not report.prevented
    assert world.equipment[asset].sensor_defect is None
    m = world.metrics
    assert (m.sensor_checks, m.sensor_repairs, m.visits_completed, m.false_visits) == (2, 1, 0, 0)
    assert len(World(FleetSpec(assets=40, customers=4), 0.0).sensor_defects) == 4  # the default: a tenth
    assert World(easy(FleetSpec(assets=40, customers=4)), 0.0).sensor_defects == {}

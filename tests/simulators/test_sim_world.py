"""The world without I/O: layout, failures, visits and the metrics of docs/ARCHITECTURE.md."""

from __future__ import annotations

from collections import Counter

from simulators.customers import ContractEvent, Incident, Survey
from simulators.physics import DEMO_DEGRADATION_HOURS, HOUR, make_equipment
from simulators.world import FleetSpec, VisitRequest, World
from simulators.worlds import WORLDS_DIR, load_world

START = 1_790_000_000.0


def force(world: World, asset_id: str, onset_h: float) -> float:
    """Pin a fault on ``asset_id`` starting ``onset_h`` hours in; returns its failure time."""
    asset = world.asset_by_id[asset_id]
    world.equipment[asset_id] = make_equipment(
        asset.asset_type,
        asset_id,
        world.spec.seed,
        START,
        onset_rate_per_h=0.0,
        force_onset_at=START + onset_h * HOUR,
    )
    return world.equipment[asset_id].next_failure_at or 0.0


def quiet_world(**spec: object) -> World:
    return World(FleetSpec(onset_rate_per_h=0.0, **spec), START)  # type: ignore[arg-type]


def test_layout_is_seeded_and_spread() -> None:
    world = World(FleetSpec(), START)
    again = World(FleetSpec(), START)
    assert world.assets == again.assets and len(world.assets) == 50
    assert len({a.id for a in world.assets}) == 50
    assert {a.customer_id for a in world.assets} == {c.id for c in world.customers}
    assert Counter(a.asset_type for a in world.assets) == {"pump": 17, "chiller": 17, "compressor": 16}
    sites = Counter(len({a.site for a in world.assets if a.customer_id == c.id}) for c in world.customers)
    assert set(sites) <= {1, 2, 3}
    assert all(1 <= a.criticality <= 5 for a in world.assets)
    assert any(a.safety_critical for a in world.assets)
    assert world.assets[0].id == "pump-0001"


def test_default_fleet_fails_within_a_demo_run() -> None:
    """The 90-second demo (90 simulated hours, faults compressed) must see faults to prevent."""
    world = World(FleetSpec(degradation_hours=DEMO_DEGRADATION_HOURS), START)
    due = [
        e.next_failure_at for e in world.equipment.values() if (e.next_failure_at or 1e20) < START + 90 * HOUR
    ]
    assert len(due) >= 4
    world.advance(START + 90 * HOUR)
    assert world.metrics.failures_occurred == len(due)


def test_metrics_count_prevented_false_and_occurred() -> None:
    world = quiet_world(assets=6, customers=2)
    fails_at = force(world, "pump-0001", onset_h=10)
    force(world, "chiller-0001", onset_h=10)
    prevented = world.perform_visit(VisitRequest("pump-0001", "v1", "r1", fails_at - 2 * HOUR, "preventive"))
    false = world.perform_visit(
        VisitRequest("compressor-0001", "v2", "r2", fails_at - 2 * HOUR, "preventive")
    )
    failures = world.advance(START + 400 * HOUR)
    assert prevented.prevented and not false.fault_found
    assert [f.asset_id for f in failures] == ["chiller-0001"]
    corrective = world.perform_visit(
        VisitRequest("chiller-0001", "v3", None, failures[0].at + 3 * HOUR, "corrective")
    )
    assert corrective.repaired and not corrective.prevented
    m = world.metrics
    assert (m.failures_occurred, m.failures_prevented, m.false_visits, m.visits_completed) == (1, 1, 1, 2)
    assert m.corrective_visits == 1 and sum(m.by_fault.values()) == 1
    assert set(m.as_dict()) >= {
        "failures_occurred",
        "failures_prevented",
        "false_visits",
        "samples_published",
    }


def test_a_visit_after_the_failure_is_not_a_prevention() -> None:
    world = quiet_world(assets=3, customers=1)
    fails_at = force(world, "pump-0001", onset_h=5)
    report = world.perform_visit(VisitRequest("pump-0001", "v1", "r1", fails_at + HOUR, "preventive"))
    assert report.fault_found and report.repaired and not report.prevented
    assert world.metrics.failures_occurred == 1 and world.metrics.failures_prevented == 0
    assert world.advance(fails_at + 2 * HOUR) == []  # reported once, at the visit


def test_failures_stress_their_customer() -> None:
    world = quiet_world(assets=3, customers=3)
    fails_at = force(world, "pump-0001", onset_h=5)
    world.advance(fails_at + HOUR)
    owner = world.asset_by_id["pump-0001"].customer_id
    assert world.streams[owner].failures == 1
    assert world.streams[owner].disruption(fails_at + HOUR) > 0.9
    assert world.streams[owner].level(fails_at + HOUR) >= world.streams[owner].minds.failure * 0.99
    events = world.customer_events(START + 60 * 24 * HOUR)
    assert events and all(isinstance(e, Incident | Survey | ContractEvent) for e in events)


def test_the_outage_weighs_on_the_owner_until_the_machine_is_repaired() -> None:
    outages = load_world(WORLDS_DIR / "outages.toml")
    world = World(FleetSpec(assets=3, customers=3, onset_rate_per_h=0.0), START, outages)
    fails_at = force(world, "pump-0001", onset_h=5)
    world.advance(fails_at + HOUR)
    stream = world.streams[world.asset_by_id["pump-0001"].customer_id]
    down = [stream.level(fails_at + h * HOUR) for h in (1, 6, 12)]
    assert down[0] < down[1] < down[2]  # every hour down adds more than the failure's shock fades
    world.perform_visit(VisitRequest("pump-0001", "c1", None, fails_at + 12 * HOUR, "corrective"))
    assert stream.level(fails_at + 13 * HOUR) < down[2]  # repaired: it only fades
    assert world.metrics.corrective_visits == 1

"""Sensor checks in the visit policy (``planner.sensor_actions`` through ``planner.decide``): one per
faulty channel, beside failure visits and never in their way."""

from __future__ import annotations

from predictor import planner
from predictor.planner import AssetCondition, ClosedVisit, Customer, Open, OpenVisit
from predictor.sensor_faults import SensorFault

CUSTOMER = Customer("c1", "standard", "silver", 0.3)
NOW = 100_000.0
STUCK = SensorFault("temp_c", "stuck", NOW - 7200.0, 0.9)


def cond(asset: str = "p1", probability: float = 0.05, *faults: SensorFault) -> AssetCondition:
    return AssetCondition(
        asset, "s1", probability, 0.1, None, None, 3, False, 0, at=NOW, sensor_faults=tuple(faults)
    )


def opened(actions: list[planner.Action]) -> list[planner.VisitPlan]:
    return [a.plan for a in actions if isinstance(a, Open)]


def test_a_faulty_channel_opens_a_sensor_check_that_foresees_no_failure() -> None:
    [plan] = opened(planner.decide({"p1": cond("p1", 0.05, STUCK)}, [], [], CUSTOMER, 20.0, NOW))
    assert plan.kind == "sensor_check" and plan.channel == "temp_c" and plan.asset_ids == ("p1",)
    assert plan.predicted_failure_at is None and plan.confidence == 0.9
    assert plan.reason["sensor"]["channel"] == "temp_c" and plan.reason["sensor"]["fault"] == "stuck"
    assert "temp_c" in plan.reason["summary"] and "stuck" in plan.reason["summary"]
    assert plan.window_end > plan.window_start and plan.fits_sla


def test_a_sensor_check_neither_blocks_nor_raises_a_failure_visit() -> None:
    check = OpenVisit(
        "v1", ("p1",), "open", "P4", NOW - 600, NOW + 86400, kind="sensor_check", channel="temp_c"
    )
    at_risk = planner.decide({"p1": cond("p1", 0.9, STUCK)}, [check], [], CUSTOMER, 20.0, NOW)
    [failure] = opened(at_risk)
    assert failure.kind == "failure" and failure.predicted_failure_at is not None
    healthy = planner.decide({"p1": cond("p1", 0.05, STUCK)}, [check], [], CUSTOMER, 20.0, NOW)
    assert healthy == []  # no second check of the channel, and no failure visit from a sensor fault


def test_an_open_failure_visit_does_not_hold_back_a_sensor_check() -> None:
    visit = OpenVisit("v1", ("p1",), "scheduled", "P2", NOW - 600, NOW + 3600)
    [plan] = opened(planner.decide({"p1": cond("p1", 0.9, STUCK)}, [visit], [], CUSTOMER, 20.0, NOW))
    assert plan.kind == "sensor_check"


def test_a_check_is_closed_when_the_channel_behaves_again_and_a_done_one_cools_down() -> None:
    check = OpenVisit(
        "v1", ("p1",), "open", "P4", NOW - 600, NOW + 86400, kind="sensor_check", channel="temp_c"
    )
    [close] = planner.decide({"p1": cond("p1", 0.05)}, [check], [], CUSTOMER, 20.0, NOW)
    assert isinstance(close, planner.Close) and close.reason == "sensor_ok"
    done = ClosedVisit(("p1",), "completed", NOW - 3600, True, kind="sensor_check", channel="temp_c")
    assert planner.decide({"p1": cond("p1", 0.05, STUCK)}, [], [done], CUSTOMER, 20.0, NOW) == []
    later = NOW + 25 * 3600.0
    assert (
        len(opened(planner.decide({"p1": cond("p1", 0.05, STUCK)}, [], [done], CUSTOMER, 20.0, later))) == 1
    )


def test_a_completed_sensor_check_does_not_cool_down_failure_visits() -> None:
    done = ClosedVisit(("p1",), "completed", NOW - 3600, False, kind="sensor_check", channel="temp_c")
    [plan] = opened(planner.decide({"p1": cond("p1", 0.9)}, [], [done], CUSTOMER, 20.0, NOW))
    assert plan.kind == "failure"


def test_a_sensor_checks_outcome_is_a_sensor_repair_label_whatever_was_found() -> None:
    """Repaired or found sound, the sensor reads as it should now; the machine is not labelled."""
    from forestall.state.models import Event
    from predictor.service import label_of

    for found in (True, False):
        data = {"recommendation_kind": "sensor_check", "sensor": "temp_c", "fault_found": found}
        assert label_of(Event(kind="outcome", data=data)) == "sensor_repair:temp_c"
    assert label_of(Event(kind="outcome", data={"fault_found": False})) == "no_fault"
    assert label_of(Event(kind="maintenance", data={"kind": "sensor_repair"})) == "sensor_repair"

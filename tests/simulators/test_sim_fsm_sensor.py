"""The FSM simulator sends a sensor-check technician for a ``sensor_check`` recommendation and
reports what they found as the recommendation's outcome."""

from __future__ import annotations

import pytest

from simulators.fsm import FsmSimulator
from tests.simulators.sim_fakeapi import FakeApi
from tests.simulators.test_sim_fsm import WorldSide, post, recommendation, rig, signed, wait_for

__all__ = ["rig"]  # the fixture, shared with the FSM tests

pytestmark = pytest.mark.integration


def test_a_sensor_check_sends_a_technician_to_check_the_sensor(
    rig: tuple[FsmSimulator, WorldSide, FakeApi],
) -> None:
    fsm, world, api = rig
    check = recommendation("rec-s", ["pump-0001"])
    check["data"] |= {"kind": "sensor_check", "predicted_failure_at": None, "priority": "P4"}
    assert post(fsm, *signed(check, "msg-s")) == 204
    asset, visit = world.next_visit()
    assert (asset, visit["recommendation_id"], visit["kind"]) == ("pump-0001", "rec-s", "sensor_check")
    assert fsm.stats.sensor_checks_dispatched == 1 and fsm.stats.corrective_dispatched == 0
    report = {"visit_id": visit["visit_id"], "recommendation_id": "rec-s", "at": visit["at"]}
    world.channel.publish(asset, "report", {**report, "fault_found": True, "fault_code": "sensor:temp_c",
                                            "repaired": True, "prevented": False})  # fmt: skip
    wait_for(lambda: api.find("POST", "/v1/recommendations/rec-s/outcome"))
    [outcome] = api.find("POST", "/v1/recommendations/rec-s/outcome")
    assert outcome.body["fault_found"] is True and outcome.body["fault_code"] == "sensor:temp_c"

"""The FSM simulator with few technicians, on its real HTTP server and a real broker: requests
queue, technicians keep working hours and travel, breakdowns go first, cancelled visits drop."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from forestall.contract import format_ts, parse_ts
from forestall.workhours import WeeklyHours
from simulators.crew import HOUR, Crew, Technician, Travel
from simulators.fsm import FsmSimulator
from tests.simulators.sim_fakeapi import FakeApi
from tests.simulators.test_sim_fsm import SECRET, WorldSide, post, recommendation, signed

pytestmark = pytest.mark.integration

MONDAY = 1_805_673_600.0  # 2027-03-22T00:00:00Z
WEEKDAYS = WeeklyHours.parse({d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}, "UTC")


class ManualClock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def one_technician(plan: str = "forestall") -> Crew:
    technician = Technician("tech-1", "Ada", (), ("region-1",), WEEKDAYS, "region-1")
    travel = Travel(seed=1, regions=1, within=(1.0, 1.0), between=(1.0, 1.0))
    return Crew([technician], travel, plan, service_hours=(2.0, 2.0), repair_hours=(3.0, 3.0))


@pytest.fixture
def rig(mqtt_url: str, fake_api: FakeApi) -> Iterator[tuple[FsmSimulator, WorldSide, FakeApi, ManualClock]]:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    clock = ManualClock(MONDAY + 7 * HOUR)
    fsm = FsmSimulator(fake_api.url, "fsm-key", mqtt_url, tenant, SECRET, crew=one_technician(), clock=clock)
    fsm.start()
    world = WorldSide(mqtt_url, tenant)
    yield fsm, world, fake_api, clock
    world.channel.stop()
    fsm.stop()


def at(fsm: FsmSimulator, clock: ManualClock, hours: float) -> None:
    clock.t = MONDAY + hours * HOUR
    assert fsm.wait_idle()


def arrivals(world: WorldSide) -> list[tuple[str, float, str | None]]:
    out = []
    while True:
        try:
            asset, visit = world.visits.get(timeout=0.5)
        except queue.Empty:
            return out
        out.append((asset, (visit["at"] - MONDAY) / HOUR, visit["recommendation_id"]))


def scheduled(api: FakeApi) -> dict[str, float]:
    return {
        call.path.split("/")[3]: (parse_ts(call.body["scheduled_for"]) - MONDAY) / HOUR
        for call in api.find("POST", "/schedule")
    }


def test_requests_wait_for_the_one_technician_in_working_hours(
    rig: tuple[FsmSimulator, WorldSide, FakeApi, ManualClock],
) -> None:
    fsm, world, api, clock = rig
    start = MONDAY + 7 * HOUR  # before the working day
    post(fsm, *signed(recommendation("rec-a", ["pump-0001"], start=start, hours=48), "m-a"))
    post(fsm, *signed(recommendation("rec-b", ["pump-0002"], start=start + 60, hours=48), "m-b"))
    at(fsm, clock, 7.5)
    assert len(api.find("POST", "/accept")) == 2 and not api.find("POST", "/schedule")
    assert fsm.stats.jobs_queued == 2 and fsm.stats.jobs_waiting == 2
    at(fsm, clock, 8.5)  # 08:00: the technician leaves for the first; an hour on the road
    assert arrivals(world) == [("pump-0001", 9.0, "rec-a")] and scheduled(api) == {"rec-a": 9.0}
    at(fsm, clock, 10.9)  # busy until 11:00
    assert arrivals(world) == [] and fsm.stats.jobs_waiting == 1
    at(fsm, clock, 11.5)
    assert arrivals(world) == [("pump-0002", 12.0, "rec-b")] and scheduled(api)["rec-b"] == 12.0
    assert fsm.stats.wait_hours == pytest.approx((9.0 - 7.0) + (12.0 - 7.0 - 60 / 3600), abs=1e-6)


def test_a_breakdown_at_night_is_repaired_in_the_morning_before_waiting_visits(
    rig: tuple[FsmSimulator, WorldSide, FakeApi, ManualClock],
) -> None:
    fsm, world, api, clock = rig
    clock.t = MONDAY + 18 * HOUR
    post(fsm, *signed(recommendation("rec-c", ["chiller-0001"], start=MONDAY + 18 * HOUR, hours=72), "m-c"))
    world.channel.publish(
        "compressor-0003", "failure", {"at": MONDAY + 20 * HOUR, "fault_code": "overheating"}
    )
    at(fsm, clock, 23.0)
    assert arrivals(world) == [] and fsm.stats.jobs_waiting == 2  # nobody works at night
    outage = api.find("POST", "/v1/incidents")
    assert outage and outage[0].body["opened_at"] == format_ts(MONDAY + 20 * HOUR)
    at(fsm, clock, 24 + 12.0)  # Tuesday: the repair (3 h) first, then the visit
    assert arrivals(world) == [("compressor-0003", 24 + 9.0, None), ("chiller-0001", 24 + 13.0, "rec-c")]


def test_a_visit_cancelled_while_waiting_is_never_made(
    rig: tuple[FsmSimulator, WorldSide, FakeApi, ManualClock],
) -> None:
    fsm, world, api, clock = rig
    created = recommendation("rec-d", ["pump-0009"], start=MONDAY + 19 * HOUR, hours=48)
    post(fsm, *signed(created, "m-d"))
    at(fsm, clock, 19.5)
    cancelled: dict[str, Any] = {**created, "type": "visit.cancelled"}
    cancelled["data"] = {**created["data"], "status": "cancelled"}
    post(fsm, *signed(cancelled, "m-d2"))
    at(fsm, clock, 24 + 12.0)
    assert arrivals(world) == [] and not api.find("POST", "/schedule")
    assert fsm.stats.jobs_cancelled == 1 and fsm.stats.jobs_waiting == 0

"""The simulators against the real API: registration, and the webhook -> visit -> outcome loop."""

from __future__ import annotations

import queue
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.server import ApiServer
from forestall.broker import EmbeddedBroker, free_port
from forestall.contract import format_ts, parse_ts
from forestall.settings import LOOPBACK, ApiSettings, Settings, StoreSettings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.keys import create_key
from forestall.state.repo import advance_clock
from forestall.workhours import WEEKDAYS, WeeklyHours
from simulators.apiclient import ApiClient, ApiError
from simulators.crew import Crew, Technician, Travel
from simulators.fleet import Fleet
from simulators.fsm import FsmSimulator, register_technicians
from simulators.simchannel import SimChannel
from simulators.world import FleetSpec

NOW = 1_790_000_000.0
HOUR = 3600.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
pytestmark = pytest.mark.integration


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


class RealApi:
    def __init__(self, db_url: str, tmp_path: Path) -> None:
        api = ApiSettings(
            host="127.0.0.1",
            port=free_port(),
            webhook_backoff_s=0.05,
            webhook_timeout_s=2.0,
            webhook_allowed_networks=[LOOPBACK],
        )
        self.server = ApiServer(
            Settings(database_url=db_url, api=api, store=StoreSettings(path=tmp_path / "ts.db"))
        )
        self.server.start()
        self.tenant = f"t{secrets.token_hex(4)}"
        engine = make_engine(db_url)
        with make_sessionmaker(engine).begin() as session:
            self.keys = {role: create_key(session, self.tenant, role) for role in ("admin", "fsm")}
            advance_clock(session, self.tenant, NOW)
        engine.dispose()
        self.http = httpx.Client(
            base_url=self.server.url, headers={"authorization": f"Bearer {self.keys['admin']}"}, timeout=20
        )

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def real_api(state_db_url: str, tmp_path: Path) -> Iterator[RealApi]:
    api = RealApi(state_db_url, tmp_path)
    yield api
    api.close()


class Clock:
    t = NOW

    def now(self) -> float:
        return self.t


def test_registration_and_customer_events_are_accepted(
    real_api: RealApi, amqtt_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    spec = FleetSpec(tenant=real_api.tenant, assets=4, customers=2, onset_rate_per_h=0.0)
    fleet = Fleet(
        spec,
        Clock(),
        api_url=real_api.server.url,
        api_key=real_api.keys["admin"],
        mqtt_url=amqtt_broker.url,
        data_dir=tmp_path / "agents",
        start=NOW,
    )
    fleet.register()
    fleet.register()  # idempotent: PUT creates or replaces
    assets = {a["id"]: a for a in real_api.get("/v1/assets")["items"]}
    assert set(assets) == {a.id for a in fleet.world.assets}
    assert assets["pump-0001"]["customer_id"] == fleet.world.asset_by_id["pump-0001"].customer_id
    for event in fleet.world.customer_events(NOW + 30 * 24 * HOUR):
        fleet._post_customer_event(event)
    fleet._flush_outbox()
    assert fleet.api_dropped == 0 and not fleet._outbox
    assert real_api.get("/v1/incidents")["items"] and real_api.get("/v1/feedback")["items"]
    customer = fleet.world.assets[0].customer_id
    fleet.api.post_contract_event(customer, "downgraded", NOW + HOUR, reason="price")
    [contract] = real_api.get("/v1/contract-events")["items"]
    assert (contract["customer_id"], contract["kind"], contract["reason"]) == (
        customer,
        "downgraded",
        "price",
    )
    fleet.api.close()


def test_technicians_are_registered_and_replaced(real_api: RealApi) -> None:
    client = ApiClient(real_api.server.url, real_api.keys["admin"])
    week = WeeklyHours.parse({"mon": [["13:00", "17:00"], ["08:00", "12:00"]], "fri": []}, "Europe/Madrid")
    client.upsert_technician("tech-1", "Ana Ruiz", ["pump", "valve"], ["site-1"], week)
    client.upsert_technician("crew-2", "Night crew", ["pump"], ["site-1", "north"], week, active=False)
    [crew, ana] = real_api.get("/v1/technicians")["items"]  # by id
    assert (ana["skills"], ana["regions"], ana["timezone"], ana["active"]) == (
        ["pump", "valve"],
        ["site-1"],
        "Europe/Madrid",
        True,
    )
    assert WeeklyHours.parse(ana["hours"], ana["timezone"]) == week
    assert (crew["name"], crew["active"]) == ("Night crew", False)

    client.upsert_technician("tech-1", "Ana Ruiz", ["crane"], ["site-2"], week)  # PUT replaces
    assert real_api.get("/v1/technicians/tech-1")["skills"] == ["crane"]
    with pytest.raises(ApiError) as refused:
        client.upsert_technician("tech-1", "Ana Ruiz", [], ["site-2"], week)
    assert refused.value.status == 422 and not refused.value.retryable
    assert "at least one skill" in str(refused.value)
    assert real_api.get("/v1/technicians/tech-1")["skills"] == ["crane"]
    client.close()


@dataclass
class Loop:
    admin: ApiClient
    fsm: FsmSimulator
    world: SimChannel
    visits: queue.Queue[tuple[str, dict[str, Any]]]


@pytest.fixture
def loop(real_api: RealApi, amqtt_broker: EmbeddedBroker) -> Iterator[Loop]:
    """The FSM simulator on the real API, plus the world's end of the sim channel."""
    admin = ApiClient(real_api.server.url, real_api.keys["admin"])
    admin.upsert_customer("cust-001", "Acme", "key", "gold", 0.3)
    admin.upsert_asset("pump-0001", "cust-001", "pump", "site-1", 4, True)
    fsm = FsmSimulator(real_api.server.url, real_api.keys["fsm"], amqtt_broker.url, real_api.tenant, SECRET)
    fsm.start()
    visits: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    world = SimChannel(amqtt_broker.url, real_api.tenant, "w", ("visit",), lambda a, k, p: visits.put((a, p)))
    world.start()
    yield Loop(admin, fsm, world, visits)
    world.stop()
    fsm.stop()
    admin.close()


def test_webhook_to_visit_to_outcome_through_the_real_api(real_api: RealApi, loop: Loop) -> None:
    loop.admin.create_webhook(loop.fsm.url, SECRET)
    window = {"window_start": format_ts(NOW + HOUR), "window_end": format_ts(NOW + 9 * HOUR)}
    rec = loop.admin.request("POST", "/v1/recommendations", {"asset_ids": ["pump-0001"], **window})
    asset, visit = loop.visits.get(timeout=30)
    assert asset == "pump-0001" and visit["recommendation_id"] == rec["id"]
    assert NOW + 2 * HOUR <= visit["at"] <= NOW + 3 * HOUR
    assert wait_for(lambda: real_api.get(f"/v1/recommendations/{rec['id']}")["status"] == "scheduled")
    found = {"fault_found": True, "fault_code": "bearing_wear", "repaired": True, "prevented": True}
    loop.world.publish(asset, "report", {**visit, **found})
    done = wait_for(
        lambda: (r := real_api.get(f"/v1/recommendations/{rec['id']}"))["status"] == "completed" and r
    )
    assert done["outcome"]["fault_found"] is True
    assert loop.fsm.stats.webhooks_rejected == 0 and loop.fsm.stats.api_errors == 0


def test_failure_and_repair_are_recorded_through_the_real_api(real_api: RealApi, loop: Loop) -> None:
    loop.world.publish("pump-0001", "failure", {"at": NOW, "fault_code": "seal_leak"})
    _, corrective = loop.visits.get(timeout=30)
    assert corrective["kind"] == "corrective" and corrective["recommendation_id"] is None
    found = {"fault_found": True, "fault_code": "seal_leak", "repaired": True, "prevented": False}
    loop.world.publish("pump-0001", "report", {**corrective, **found})
    wait_for(lambda: len(real_api.get("/v1/incidents")["items"]) == 2)
    kinds = sorted(e["kind"] for e in real_api.get("/v1/maintenance-events")["items"])
    assert kinds == ["failure", "repair"]
    incidents = real_api.get("/v1/incidents")["items"]
    assert {i["kind"] for i in incidents} == {"outage"} and any(i["resolved_at"] for i in incidents)
    assert loop.fsm.stats.api_errors == 0


def test_a_short_crew_is_registered_and_its_queue_schedules_through_the_real_api(
    real_api: RealApi, amqtt_broker: EmbeddedBroker
) -> None:
    admin = ApiClient(real_api.server.url, real_api.keys["admin"])
    admin.upsert_customer("cust-001", "Acme", "key", "gold", 0.3)
    admin.upsert_asset("pump-0001", "cust-001", "pump", "site-1", 4, True)
    always = WeeklyHours.parse({d: [["00:00", "24:00"]] for d in WEEKDAYS}, "UTC")
    technician = Technician("tech-1", "Ada", ("pump",), ("region-1",), always, "region-1")
    crew = Crew([technician], Travel(1, 1, (1.0, 1.0), (1.0, 1.0)), "fifo", service_hours=(2.0, 2.0))
    register_technicians(admin, crew, ["site-1"])
    [registered] = real_api.get("/v1/technicians")["items"]
    assert (registered["id"], registered["skills"], registered["regions"]) == ("tech-1", ["pump"], ["site-1"])
    clock = Clock()
    fsm = FsmSimulator(
        real_api.server.url,
        real_api.keys["fsm"],
        amqtt_broker.url,
        real_api.tenant,
        SECRET,
        crew=crew,
        clock=clock,
    )
    fsm.start()
    visits: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    world = SimChannel(amqtt_broker.url, real_api.tenant, "w", ("visit",), lambda a, k, p: visits.put((a, p)))
    world.start()
    try:
        admin.create_webhook(fsm.url, SECRET)
        window = {"window_start": format_ts(NOW + HOUR), "window_end": format_ts(NOW + 9 * HOUR)}
        rec = admin.request("POST", "/v1/recommendations", {"asset_ids": ["pump-0001"], **window})
        wait_for(lambda: fsm.stats.jobs_queued == 1)
        assert real_api.get(f"/v1/recommendations/{rec['id']}")["scheduled_for"] is None  # nobody yet
        clock.t = NOW + 10 * HOUR  # the technician was free all along: left at the window's start
        scheduled = wait_for(lambda: real_api.get(f"/v1/recommendations/{rec['id']}")["scheduled_for"])
        assert parse_ts(scheduled) == NOW + 2 * HOUR  # from home, an hour on the road
        _, visit = visits.get(timeout=30)
        assert visit["recommendation_id"] == rec["id"] and visit["at"] == NOW + 2 * HOUR
        assert fsm.stats.api_errors == 0 and fsm.stats.wait_hours == pytest.approx(1.0)
    finally:
        world.stop()
        fsm.stop()
        admin.close()

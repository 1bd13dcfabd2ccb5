"""The FSM simulator against a real broker and a real HTTP API peer, fed signed webhooks."""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from forestall.contract import format_ts, parse_ts
from simulators.fsm import FsmSimulator
from simulators.simchannel import SimChannel
from tests.simulators.sim_fakeapi import FakeApi

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_790_000_000.0
HOUR = 3600.0

pytestmark = pytest.mark.integration


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


def signed(payload: dict[str, Any], msg_id: str, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload)
    stamp = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, stamp, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body.encode(), headers


def recommendation(rec_id: str, assets: list[str], start: float = NOW, hours: float = 12.0) -> dict[str, Any]:
    return {
        "type": "visit.recommended",
        "timestamp": format_ts(start),
        "data": {
            "id": rec_id,
            "tenant": "t",
            "customer_id": "cust-001",
            "asset_ids": assets,
            "status": "open",
            "priority": "P2",
            "window_start": format_ts(start),
            "window_end": format_ts(start + hours * HOUR),
        },
    }


class WorldSide:
    """The world's end of the sim channel: collects visit requests, sends reports and failures."""

    def __init__(self, mqtt_url: str, tenant: str) -> None:
        self.visits: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.channel = SimChannel(
            mqtt_url, tenant, f"test-world-{tenant}", ("visit",), lambda a, k, p: self.visits.put((a, p))
        )
        self.channel.start()

    def next_visit(self, timeout: float = 15.0) -> tuple[str, dict[str, Any]]:
        return self.visits.get(timeout=timeout)


@pytest.fixture
def rig(mqtt_url: str, fake_api: FakeApi) -> Iterator[tuple[FsmSimulator, WorldSide, FakeApi]]:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    fsm = FsmSimulator(fake_api.url, "fsm-key", mqtt_url, tenant, SECRET)
    fsm.start()
    world = WorldSide(mqtt_url, tenant)
    yield fsm, world, fake_api
    world.channel.stop()
    fsm.stop()


def post(fsm: FsmSimulator, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(fsm.url, content=body, headers=headers, timeout=10).status_code


def test_recommendation_is_accepted_scheduled_and_dispatched(
    rig: tuple[FsmSimulator, WorldSide, FakeApi],
) -> None:
    fsm, world, api = rig
    assert post(fsm, *signed(recommendation("rec-1", ["pump-0001"]), "msg-1")) == 204
    asset, visit = world.next_visit()
    assert asset == "pump-0001" and visit["recommendation_id"] == "rec-1" and visit["kind"] == "preventive"
    assert NOW + HOUR <= visit["at"] <= NOW + 2 * HOUR
    accepted = api.find("POST", "/v1/recommendations/rec-1/accept")
    scheduled = api.find("POST", "/v1/recommendations/rec-1/schedule")
    assert len(accepted) == 1 and len(scheduled) == 1
    assert parse_ts(scheduled[0].body["scheduled_for"]) == pytest.approx(visit["at"], abs=0.001)
    assert api.calls.index(accepted[0]) < api.calls.index(scheduled[0])
    assert set(api.auth) == {"Bearer fsm-key"}

    report = {"visit_id": visit["visit_id"], "recommendation_id": "rec-1", "at": visit["at"]}
    found = {"fault_found": True, "fault_code": "bearing_wear", "repaired": True, "prevented": True}
    for _ in range(2):  # QoS 1 may deliver twice
        world.channel.publish(asset, "report", {**report, **found})
    wait_for(lambda: fsm.stats.reports == 2)
    assert fsm.wait_idle()
    outcome = api.find("POST", "/v1/recommendations/rec-1/outcome")
    assert len(outcome) == 1
    assert outcome[0].body["fault_found"] is True and outcome[0].body["fault_code"] == "bearing_wear"
    assert parse_ts(outcome[0].body["repaired_at"]) == pytest.approx(visit["at"], abs=0.001)


def test_bad_signature_is_rejected_and_duplicates_processed_once(
    rig: tuple[FsmSimulator, WorldSide, FakeApi],
) -> None:
    fsm, world, api = rig
    body, headers = signed(recommendation("rec-2", ["chiller-0001"]), "msg-2", secret="whsec_" + "A" * 32)
    assert post(fsm, body, headers) == 400
    body, headers = signed(recommendation("rec-2", ["chiller-0001"]), "msg-2")
    assert post(fsm, body, {**headers, "webhook-signature": "v1,Zm9vYmFy"}) == 400
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 600)}
    assert post(fsm, body, stale) == 400
    assert fsm.stats.webhooks_rejected == 3 and not api.calls
    assert post(fsm, body, headers) == 204
    assert post(fsm, body, headers) == 204  # a retry of the same delivery
    world.next_visit()
    assert fsm.wait_idle()
    assert len(api.find("POST", "/accept")) == 1 and fsm.stats.webhooks_duplicate == 1
    with pytest.raises(queue.Empty):
        world.visits.get(timeout=0.3)


def test_bundle_waits_for_every_report_and_update_is_not_rescheduled(
    rig: tuple[FsmSimulator, WorldSide, FakeApi],
) -> None:
    fsm, world, api = rig
    post(fsm, *signed(recommendation("rec-3", ["pump-0001", "pump-0002"], hours=1.5), "msg-3"))
    visits = dict(world.next_visit() for _ in range(2))
    assert all(v["at"] <= NOW + 1.5 * HOUR for v in visits.values())  # never after the window
    updated = {**recommendation("rec-3", ["pump-0001", "pump-0002"]), "type": "visit.updated"}
    post(fsm, *signed(updated, "msg-3b"))
    for asset, visit in visits.items():
        found = asset == "pump-0002"
        world.channel.publish(
            asset,
            "report",
            {
                "visit_id": visit["visit_id"],
                "recommendation_id": "rec-3",
                "at": visit["at"],
                "fault_found": found,
                "fault_code": "seal_leak" if found else None,
                "repaired": found,
                "prevented": found,
            },
        )
        if not found:
            assert fsm.wait_idle() and not api.find("POST", "/outcome")
    outcome = wait_for(lambda: api.find("POST", "/v1/recommendations/rec-3/outcome"))
    assert outcome[0].body["fault_found"] is True and outcome[0].body["fault_code"] == "seal_leak"
    assert len(api.find("POST", "/schedule")) == 1


def test_failure_records_outage_and_sends_a_corrective_visit(
    rig: tuple[FsmSimulator, WorldSide, FakeApi],
) -> None:
    fsm, world, api = rig
    api.fail_next = 2  # the API hiccups: the FSM retries
    world.channel.publish("compressor-0003", "failure", {"at": NOW, "fault_code": "overheating"})
    asset, visit = world.next_visit()
    assert asset == "compressor-0003" and visit["kind"] == "corrective" and visit["recommendation_id"] is None
    assert NOW + 2 * HOUR <= visit["at"] <= NOW + 4 * HOUR
    failure = api.find("POST", "/v1/maintenance-events")
    assert failure[0].body == {
        "asset_id": "compressor-0003",
        "kind": "failure",
        "occurred_at": format_ts(NOW),
        "fault_code": "overheating",
    }
    outage = api.find("POST", "/v1/incidents")
    assert outage[0].body == {"customer_id": "cust-001", "kind": "outage", "opened_at": format_ts(NOW)}
    world.channel.publish(
        asset,
        "report",
        {
            "visit_id": visit["visit_id"],
            "recommendation_id": None,
            "at": visit["at"],
            "fault_found": True,
            "fault_code": "overheating",
            "repaired": True,
            "prevented": False,
        },
    )
    wait_for(lambda: len(api.find("POST", "/v1/incidents")) == 2)
    repair = api.find("POST", "/v1/maintenance-events")[1].body
    assert repair["kind"] == "repair" and repair["fault_code"] == "overheating"
    resolved = api.find("POST", "/v1/incidents")[1].body
    assert parse_ts(resolved["resolved_at"]) == pytest.approx(visit["at"], abs=0.001)
    assert resolved["duration_min"] == pytest.approx((visit["at"] - NOW) / 60, abs=0.1)
    assert fsm.stats.api_errors == 0


def test_api_down_is_logged_not_fatal(rig: tuple[FsmSimulator, WorldSide, FakeApi]) -> None:
    fsm, world, api = rig
    api.fail_next = 100
    post(fsm, *signed(recommendation("rec-4", ["pump-0009"]), "msg-4"))
    wait_for(lambda: fsm.stats.api_errors >= 1, timeout=30)
    api.fail_next = 0
    post(fsm, *signed(recommendation("rec-5", ["pump-0010"]), "msg-5"))
    asset, _ = world.next_visit(timeout=30)
    assert asset == "pump-0010"


def test_scheduled_elsewhere_is_just_dispatched(rig: tuple[FsmSimulator, WorldSide, FakeApi]) -> None:
    fsm, world, api = rig
    update = recommendation("rec-6", ["chiller-0004"])
    update["type"] = "visit.updated"
    update["data"].update(status="scheduled", scheduled_for=format_ts(NOW + 5 * HOUR))
    post(fsm, *signed(update, "msg-6"))
    asset, visit = world.next_visit()
    assert asset == "chiller-0004" and visit["at"] == NOW + 5 * HOUR
    assert not api.find("POST", "/accept") and not api.find("POST", "/schedule")
    cancelled = {**update, "type": "visit.cancelled"}
    cancelled["data"] = {**update["data"], "status": "cancelled"}
    post(fsm, *signed(cancelled, "msg-6b"))
    assert fsm.wait_idle() and fsm.stats.visits_dispatched == 1

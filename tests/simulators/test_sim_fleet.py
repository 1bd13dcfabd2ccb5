"""The fleet end to end: real edge agents publish to a real broker; visits close the loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from forestall.broker import EmbeddedBroker
from forestall.contract import parse_telemetry, parse_topic
from forestall.mqtturl import parse_mqtt_url
from simulators.fleet import Fleet
from simulators.fsm import FsmSimulator
from simulators.physics import HOUR, make_equipment
from simulators.world import FleetSpec
from tests.simulators.sim_fakeapi import FakeApi
from tests.simulators.test_sim_fsm import SECRET, post, recommendation, signed

NOW = 1_790_000_000.0
pytestmark = pytest.mark.integration


class ManualClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


class TelemetrySink:
    """Subscribes to ``forestall/v1/{tenant}/+/telemetry`` and keeps every sample by asset."""

    def __init__(self, url: str, tenant: str) -> None:
        self.samples: dict[str, dict[float, dict[str, float]]] = {}
        self.lock = threading.Lock()
        ready = threading.Event()
        endpoint = parse_mqtt_url(url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"sink-{tenant}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe(f"forestall/v1/{tenant}/+/telemetry", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        asset = parse_topic(message.topic).asset
        batch = parse_telemetry(message.payload, asset=asset)
        with self.lock:
            for sample in batch.samples:
                self.samples.setdefault(asset, {})[sample.ts] = sample.values

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.samples.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def sink(amqtt_broker: EmbeddedBroker) -> Iterator[TelemetrySink]:
    telemetry = TelemetrySink(amqtt_broker.url, "demo")
    yield telemetry
    telemetry.close()


def make_fleet(
    spec: FleetSpec, broker: EmbeddedBroker, api: FakeApi, tmp_path: Path
) -> tuple[Fleet, ManualClock]:
    clock = ManualClock(NOW)
    fleet = Fleet(
        spec, clock, api_url=api.url, api_key="k", mqtt_url=broker.url, data_dir=tmp_path, start=NOW
    )
    return fleet, clock


def run(fleet: Fleet, clock: ManualClock, hours: float, step_s: float = 600.0) -> None:
    for _ in range(int(hours * HOUR / step_s)):
        clock.t += step_s
        fleet.step()


def test_fleet_registers_and_publishes_telemetry_through_edge_agents(
    amqtt_broker: EmbeddedBroker, fake_api: FakeApi, sink: TelemetrySink, tmp_path: Path
) -> None:
    spec = FleetSpec(assets=6, customers=2, onset_rate_per_h=0.0)
    fleet, clock = make_fleet(spec, amqtt_broker, fake_api, tmp_path)
    fleet.start()
    try:
        run(fleet, clock, hours=12)
        wait_for(lambda: fleet.metrics.samples_published >= 6 * 60)
    finally:
        fleet.stop()
    assert len(fake_api.find("PUT", "/v1/customers/")) == 2 and len(fake_api.find("PUT", "/v1/assets/")) == 6
    first = fake_api.find("PUT", "/v1/assets/")[0]
    assert first.path == "/v1/assets/pump-0001" and first.body["customer_id"].startswith("cust-")
    published = fleet.metrics.samples_published  # stop() flushed the last batches
    assert published >= 6 * 71
    wait_for(lambda: sink.count() >= published)
    assert set(sink.samples) == {a.id for a in fleet.world.assets}
    pump = sink.samples["pump-0001"]
    assert set(next(iter(pump.values()))) == {
        "temp_c",
        "vibration_mm_s",
        "pressure_bar",
        "current_a",
        "flow_m3h",
        "load_pct",  # the harder world's machines report their operating point
    }
    twin = make_equipment(
        "pump", "pump-0001", spec.seed, NOW, onset_rate_per_h=0.0, conditions=spec.conditions
    )
    assert all(twin.read(ts) == values for ts, values in sorted(pump.items()))


def test_failure_goes_out_and_a_visit_is_performed_and_reported(
    amqtt_broker: EmbeddedBroker, fake_api: FakeApi, sink: TelemetrySink, tmp_path: Path
) -> None:
    spec = FleetSpec(assets=3, customers=1, onset_rate_per_h=0.0)
    fleet, clock = make_fleet(spec, amqtt_broker, fake_api, tmp_path)
    machine = make_equipment(
        "chiller", "chiller-0001", 7, NOW, force_onset_at=NOW + HOUR, degradation_hours=(2, 3)
    )
    fleet.world.equipment["chiller-0001"] = machine
    failure_at = machine.next_failure_at or 0.0
    fsm = FsmSimulator(fake_api.url, "k", amqtt_broker.url, "demo", SECRET, corrective_delay_hours=(1.0, 1.0))
    fsm.start()
    fleet.start()
    try:
        run(fleet, clock, hours=6)
        wait_for(lambda: fsm.stats.failures == 1)
        # The technician's visit reaches the world: pending, or already done if it arrived while
        # the clock was still running past its time (the FSM answers over MQTT and HTTP).
        wait_for(lambda: fleet.pending_visits == 1 or fleet.metrics.corrective_visits == 1)
        run(fleet, clock, hours=2)
        wait_for(lambda: len(fake_api.find("POST", "/v1/incidents")) >= 2)
    finally:
        fleet.stop()
        fsm.stop()
    m = fleet.metrics
    assert (m.failures_occurred, m.corrective_visits, m.failures_prevented) == (1, 1, 0)
    kinds = [c.body["kind"] for c in fake_api.find("POST", "/v1/maintenance-events")]
    assert kinds == ["failure", "repair"]
    stopped = [v for ts, v in sink.samples["chiller-0001"].items() if failure_at < ts < failure_at + HOUR]
    assert stopped and all(v["compressor_current_a"] == 0.0 for v in stopped)
    assert not machine.failed


def test_recommended_visit_prevents_the_failure(
    amqtt_broker: EmbeddedBroker, fake_api: FakeApi, tmp_path: Path
) -> None:
    spec = FleetSpec(assets=3, customers=1, onset_rate_per_h=0.0)
    fleet, clock = make_fleet(spec, amqtt_broker, fake_api, tmp_path)
    machine = make_equipment("pump", "pump-0001", 7, NOW, force_onset_at=NOW + HOUR, force_mode="seal_leak")
    fleet.world.equipment["pump-0001"] = machine
    fsm = FsmSimulator(fake_api.url, "k", amqtt_broker.url, "demo", SECRET)
    fsm.start()
    fleet.start()
    try:
        run(fleet, clock, hours=6)
        rec = recommendation("rec-9", ["pump-0001"], start=NOW + 6 * HOUR)
        assert post(fsm, *signed(rec, "msg-9")) == 204
        wait_for(lambda: fleet.pending_visits == 1)
        run(fleet, clock, hours=3)
        outcome = wait_for(lambda: fake_api.find("POST", "/v1/recommendations/rec-9/outcome"))
    finally:
        fleet.stop()
        fsm.stop()
    assert outcome[0].body["fault_found"] is True and outcome[0].body["fault_code"] == "seal_leak"
    m = fleet.metrics
    assert (m.failures_prevented, m.visits_completed, m.false_visits, m.failures_occurred) == (1, 1, 0, 0)
    assert json.loads(json.dumps(m.as_dict()))["failures_prevented"] == 1

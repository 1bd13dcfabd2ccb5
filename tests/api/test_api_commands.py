"""Device commands: the API publishes ``cmd`` on a real Mosquitto, a device stand-in answers
with ``ack`` (the edge agent's own command handler), the real ingest worker records it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api.commands import CommandPublisher, CommandPublishError
from edge_agent.commands import handle_command
from forestall.broker import free_port
from forestall.contract import Command, ack_payload
from forestall.settings import MqttSettings, Settings
from ingest.worker import Worker
from tests.api.conftest import Tenant, wait_until
from tests.conftest import Mosquitto


class FakeDevice:
    """Subscribes to one asset's ``cmd`` topic and answers like the edge agent would."""

    def __init__(self, broker: Mosquitto, tenant: str, asset: str) -> None:
        self.received: list[dict[str, Any]] = []
        self.interval: float | None = None
        self.enabled: dict[str, bool] = {}
        self.prefix = f"forestall/v1/{tenant}/{asset}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{tenant}-{asset}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(f"{self.prefix}/cmd", qos=1)
        self.client.loop_start()

    # The edge agent's CommandTarget.
    def names(self) -> list[str]:
        return ["temp_c", "vibration_mm_s"]

    def set_sample_interval(self, seconds: float) -> None:
        self.interval = seconds

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.enabled[name] = enabled

    def _on_message(self, client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received.append(json.loads(msg.payload))
        ack = handle_command(bytes(msg.payload), self)
        assert ack is not None, "the edge agent answers every command it can read"
        client.publish(f"{self.prefix}/ack", ack_payload(ack), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def worker(settings: Settings, broker: Mosquitto, tmp_path: Path) -> Iterator[Worker]:
    """The real ingest worker on the API's state DB (it turns ``ack`` into command status)."""
    worker_settings = settings.model_copy(
        update={
            "mqtt": MqttSettings(url=broker.url, client_id=f"api-test-worker-{free_port()}"),
            "store": settings.store.model_copy(update={"path": tmp_path / "worker-tsdb.sqlite"}),
            "worker": settings.worker.model_copy(update={"checkpoint_dir": tmp_path / "checkpoints"}),
        }
    )
    worker = Worker(worker_settings, predictor_enabled=False)
    worker.start()
    wait_until(lambda: worker.connected, what="the worker to connect")
    yield worker
    worker.stop()


@pytest.fixture
def device(tenant: Tenant, broker: Mosquitto, seed: Any) -> Iterator[FakeDevice]:
    seed.asset(tenant.client(), "pump-1", None, asset_type="pump")
    fake = FakeDevice(broker, tenant.name, "pump-1")
    yield fake
    fake.close()


def command_status(tenant: Tenant, command_id: str) -> Callable[[], dict[str, Any] | None]:
    client = tenant.client("dispatcher")

    def answered() -> dict[str, Any] | None:
        body = client.get(f"/v1/assets/pump-1/commands/{command_id}").json()
        return dict(body) if body["status"] != "sent" else None

    return answered


def test_a_ping_reaches_the_device_and_its_ack_is_tracked(
    tenant: Tenant, device: FakeDevice, worker: Worker
) -> None:
    dispatcher = tenant.client("dispatcher")
    sent = dispatcher.post("/v1/assets/pump-1/commands", json={"op": "ping"})
    assert sent.status_code == 202, sent.text
    command = sent.json()
    assert command["status"] in ("sent", "acked") and command["op"] == "ping"

    acked = wait_until(command_status(tenant, command["id"]), what="the ack")
    assert acked["status"] == "acked" and acked["error"] is None and acked["acked_at"]
    assert device.received == [{"schema": "forestall.cmd/1", "id": command["id"], "op": "ping"}]

    listed = dispatcher.get("/v1/assets/pump-1/commands").json()
    assert [c["id"] for c in listed["items"]] == [command["id"]]


def test_set_config_is_applied_and_a_refused_command_is_marked_failed(
    tenant: Tenant, device: FakeDevice, worker: Worker
) -> None:
    admin = tenant.client("admin")
    ok = admin.post(
        "/v1/assets/pump-1/commands",
        json={
            "op": "set_config",
            "args": {"sample_interval_s": 5, "sensors": {"temp_c": {"enabled": False}}},
        },
    ).json()
    refused = admin.post(
        "/v1/assets/pump-1/commands",
        json={"op": "set_config", "args": {"sensors": {"pressure_bar": {"enabled": True}}}},
    ).json()

    assert wait_until(command_status(tenant, ok["id"]))["status"] == "acked"
    failed = wait_until(command_status(tenant, refused["id"]))
    assert failed["status"] == "failed" and "pressure_bar" in failed["error"]
    assert device.interval == 5.0 and device.enabled == {"temp_c": False}
    assert [c["id"] for c in admin.get("/v1/assets/pump-1/commands?status=failed").json()["items"]] == [
        refused["id"]
    ]


def test_commands_are_checked_and_kept_to_roles_and_the_tenant(
    tenant: Tenant, other_tenant: Tenant, seed: Any
) -> None:
    seed.asset(tenant.client(), "pump-1", None)
    seed.asset(other_tenant.client(), "pump-9", None)
    for role in ("fsm", "viewer"):
        if role in tenant.keys:
            response = tenant.client(role).post("/v1/assets/pump-1/commands", json={"op": "ping"})
            assert response.status_code == 403, (role, response.text)
            assert tenant.client(role).get("/v1/assets/pump-1/commands").status_code == 403
    admin = tenant.client()
    assert admin.post("/v1/assets/pump-9/commands", json={"op": "ping"}).status_code == 404
    assert admin.get("/v1/assets/pump-9/commands").status_code == 404
    for bad in (
        {"op": "reboot"},
        {"op": "ping", "args": {"sample_interval_s": 5}},
        {"op": "set_config"},
        {"op": "set_config", "args": {"sample_interval_s": -1}},
        {"op": "set_config", "args": {"sensors": {"Bad Name": {"enabled": True}}}},
    ):
        assert admin.post("/v1/assets/pump-1/commands", json=bad).status_code == 422, bad
    assert admin.get("/v1/assets/pump-1/commands").json()["items"] == []


def test_the_publisher_reports_an_unreachable_broker() -> None:
    publisher = CommandPublisher(MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}"), timeout_s=0.5)
    try:
        with pytest.raises(CommandPublishError, match="unreachable"):
            publisher.publish("t", "a", Command("cmd_1", "ping", {}))
    finally:
        publisher.close()

"""Asset liveness on a real Mosquitto: the agent's will on a dropped connection, and silence."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from forestall.contract import Status, status_payload
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.models import Asset, OutboxEvent
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.ingest.test_worker import wait_for

AGENT = """
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from forestall.contract import Status, status_payload
port, topic = int(sys.argv[1]), sys.argv[2]
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-lwt")
client.will_set(topic, status_payload(Status("offline", None, "test/1")), qos=1, retain=True)
client.connect("127.0.0.1", port, keepalive=60)
client.loop_start()
online = status_payload(Status("online", time.time(), "test/1"))
client.publish(topic, online, qos=1, retain=True).wait_for_publish(30)
print("ready", flush=True)
time.sleep(600)
"""


def worker_settings(tmp_path: Path, url: str, offline_after_s: float | None) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        mqtt={"url": url},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        worker={"checkpoint_dir": str(tmp_path / "ckpt"), "offline_after_s": offline_after_s},
    )
    upgrade(settings.database_url)
    return settings


def asset_state(settings: Settings, asset_id: str) -> tuple[bool | None, list[OutboxEvent]]:
    with make_sessionmaker(make_engine(settings.database_url))() as session:
        asset = session.get(Asset, ("acme", asset_id))
        events = [
            e
            for e in session.scalars(select(OutboxEvent).where(OutboxEvent.type == "asset.offline"))
            if e.data.get("asset_id") == asset_id
        ]
        return (asset.online if asset else None), events


def test_an_agent_that_dies_is_marked_offline_by_its_will(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = worker_settings(tmp_path, mosquitto.url, offline_after_s=None)
    worker = Worker(settings, predictor_enabled=False)
    worker.start()
    topic = "forestall/v1/acme/pump-lwt/status"
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(mosquitto.port), topic],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == b"ready"
        assert wait_for(lambda: asset_state(settings, "pump-lwt")[0] is True, timeout=60)
        assert asset_state(settings, "pump-lwt")[1] == []
        agent.kill()  # no DISCONNECT: the broker publishes the will
        agent.wait(30)
        assert wait_for(lambda: asset_state(settings, "pump-lwt")[0] is False, timeout=60)
        [event] = asset_state(settings, "pump-lwt")[1]
        assert event.data["since"] and event.tenant == "acme"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(30)
        worker.stop()


def test_an_asset_that_stops_heartbeating_goes_offline(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = worker_settings(tmp_path, mosquitto.url, offline_after_s=4.0)
    worker = Worker(settings, predictor_enabled=False)
    worker.start()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="heartbeats")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    stop = threading.Event()

    def heartbeat(asset: str, every: float | None) -> None:
        while True:
            payload = status_payload(Status("online", time.time(), "test/1"))
            client.publish(f"forestall/v1/acme/{asset}/status", payload, qos=1, retain=True)
            if every is None or stop.wait(every):
                return

    beating = threading.Thread(target=heartbeat, args=("pump-alive", 0.2), daemon=True)
    try:
        assert wait_for(lambda: worker.connected, timeout=60)
        time.sleep(0.5)
        heartbeat("pump-silent", None)  # one status, then silence
        beating.start()
        assert wait_for(lambda: asset_state(settings, "pump-silent")[0] is True, timeout=60)
        assert wait_for(lambda: asset_state(settings, "pump-silent")[0] is False, timeout=90)
        assert len(asset_state(settings, "pump-silent")[1]) == 1
        online, events = asset_state(settings, "pump-alive")
        assert online is True and events == []
    finally:
        stop.set()
        if beating.is_alive():
            beating.join(10)
        client.loop_stop()
        client.disconnect()
        worker.stop()

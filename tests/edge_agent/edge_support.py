"""Helpers for the edge agent tests: a fake signal source, an MQTT collector on a real
broker and agent configs. (A uniquely named module: ``import conftest`` is ambiguous.)"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import AgentConfig, AgentSettings, MqttSettings

DEADLINE_S = 30.0


def wait_until(condition: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail after a generous deadline (never a timed assertion)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class RampSource:
    """A deterministic SignalSource: values are functions of the tick time."""

    sensors = ("temp_c", "vibration_mm_s")

    def read(self, ts: float) -> dict[str, float]:
        return {"temp_c": 20.0 + (ts % 100) / 10, "vibration_mm_s": 1.0 + (ts % 7) / 10}


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Collector:
    """A real MQTT subscriber with a persistent session, so it survives broker restarts."""

    def __init__(self, url: str, topics: list[str]) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:12]}", clean_session=False
        )
        self.client.reconnect_delay_set(1, 1)
        self.topics = topics
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect(host, int(port))
        self.client.loop_start()
        wait_until(self._subscribed.is_set, what="the test subscriber")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain)))

    def on(self, suffix: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith("/" + suffix)]

    def telemetry(self) -> list[dict[str, Any]]:
        return [m.json() for m in self.on("telemetry")]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def unique_by_seq(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First occurrence of every seq, in arrival order (ingest's dedupe)."""
    seen: set[int] = set()
    out = []
    for batch in batches:
        if batch["seq"] not in seen:
            seen.add(batch["seq"])
            out.append(batch)
    return out


def agent_config(url: str, tmp_path: Path, asset: str = "pump-0042", **agent: Any) -> AgentConfig:
    """A config built in code (as the demo does), with quick reconnects for the tests."""
    return AgentConfig(
        mqtt=MqttSettings(
            url=url, reconnect_min_s=0.2, reconnect_max_s=0.5, client_id=f"edge-{uuid.uuid4().hex[:8]}"
        ),
        agent=AgentSettings(tenant="acme", asset=asset, buffer_path=str(tmp_path / f"{asset}.db"), **agent),
        base_dir=str(tmp_path),
    )


def make_tls_files(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "san")
    }
    files["san"].write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        files["ca.key"],
        "-out",
        files["ca.pem"],
        "-days",
        "1",
        "-subj",
        "/CN=forestall-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        files["server.key"],
        "-out",
        files["server.csr"],
        "-subj",
        "/CN=127.0.0.1",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        files["server.csr"],
        "-CA",
        files["ca.pem"],
        "-CAkey",
        files["ca.key"],
        "-CAcreateserial",
        "-out",
        files["server.pem"],
        "-days",
        "1",
        "-extfile",
        files["san"],
    )
    return files

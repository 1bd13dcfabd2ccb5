"""Helpers for the edge agent tests: a fake signal source, an MQTT collector on a real
broker and agent configs. (A uniquely named module: ``import conftest`` is ambiguous.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
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

from edge_agent.agent import EdgeAgent
from edge_agent.config import AgentConfig, AgentSettings, MqttSettings
from forestall.contract import parse_telemetry

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


def received_stamps(sub: Collector) -> list[float]:
    """Sample times at the subscriber after dedupe by seq, checking that batches come in seq order."""
    batches = unique_by_seq(sub.telemetry())
    seqs = [b["seq"] for b in batches]
    assert seqs == sorted(seqs), "after dedupe by seq, batches arrive in seq order"
    return [s.ts for b in batches for s in parse_telemetry(json.dumps(b).encode(), asset="pump-0042").samples]


def flush(agent: EdgeAgent, now: float) -> None:
    """Keep stepping (as the demo's loop would) until the broker acknowledged everything."""

    def drained() -> bool:
        agent.step(now)
        return agent.stats.pending_samples == 0

    wait_until(drained, what="every batch to be acknowledged")


def agent_config(url: str, tmp_path: Path, asset: str = "pump-0042", **agent: Any) -> AgentConfig:
    """A config built in code (as the demo does), with quick reconnects for the tests."""
    return AgentConfig(
        mqtt=MqttSettings(
            url=url, reconnect_min_s=0.2, reconnect_max_s=0.5, client_id=f"edge-{uuid.uuid4().hex[:8]}"
        ),
        agent=AgentSettings(tenant="acme", asset=asset, buffer_path=str(tmp_path / f"{asset}.db"), **agent),
        base_dir=str(tmp_path),
    )


def make_tls_files(folder: Path, *, client: bool = False) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI;
    ``client``: also a client certificate (``client.pem``/``client.key``) for mutual TLS."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "san")
    names += ("client.key", "client.csr", "client.pem") if client else ()
    files = {name: folder / name for name in names}
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
    if client:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", files["client.key"], "-out",
                files["client.csr"], "-subj", "/CN=pump-0042")  # fmt: skip
        openssl("x509", "-req", "-in", files["client.csr"], "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
                "-CAcreateserial", "-out", files["client.pem"], "-days", "1")  # fmt: skip
    return files


class TcpProxy:
    """A TCP proxy on a free loopback port whose ``cut()`` drops every connection and refuses
    new ones until ``restore()``: a network cut between the agent and the broker."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._cut = False
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                if self._cut or self._closed:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._open += [client, upstream]
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        with self._lock:
            self._closed = True
        self._server.close()


class ModbusDevice:
    """pymodbus's own TCP server in a thread: unit ``unit`` with holding and input registers
    0…99 holding ``holding`` / ``inputs`` (padded with zeros)."""

    def __init__(self, holding: list[int], inputs: list[int], *, unit: int = 1, port: int = 0) -> None:
        from forestall.broker import free_port

        self.port = port or free_port()
        self.unit = unit
        self.holding, self.inputs = holding, inputs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        def block(values: list[int]) -> list[SimData]:
            padded = values + [0] * (100 - len(values))
            return [SimData(0, values=padded, datatype=DataType.REGISTERS)]

        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        device = SimDevice(id=self.unit, simdata=(bits, bits, block(self.holding), block(self.inputs)))
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            ready.set()
            await self._server.serve_forever()

        self._loop = loop
        self._thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        ready.wait(10)
        wait_until(lambda: _port_open(self.port), what="the Modbus server")

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), loop).result(10)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


T0 = 1_795_456_800.0  # the tests' event-time start
BASE = "forestall/v1/acme/pump-0042"  # topic prefix of the tests' asset
MakeCollector = Callable[[str, list[str]], Collector]

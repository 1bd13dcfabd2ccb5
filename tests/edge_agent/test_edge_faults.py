"""Fault tests on a real Mosquitto: network cuts, a long outage past the buffer cap, mutual
TLS, and drivers that misbehave (bad values, a failing program) next to good ones."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent import EdgeAgent
from edge_agent.config import AgentConfig, SensorSettings
from edge_agent.windows import FeatureSpec
from forestall.broker import free_port
from tests.edge_agent.edge_support import (
    BASE,
    T0,
    MakeCollector,
    TcpProxy,
    agent_config,
    flush,
    make_tls_files,
    received_stamps,
    unique_by_seq,
    wait_until,
)

pytestmark = pytest.mark.integration

CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # MQTT 3.1.1 CONNECT, empty client id


@pytest.fixture
def agents() -> Iterator[list[EdgeAgent]]:
    started: list[EdgeAgent] = []
    yield started
    for agent in started:
        agent.stop(timeout=1.0)


def replaying(config: AgentConfig, tmp_path: Path, rows: int) -> AgentConfig:
    (tmp_path / "samples.csv").write_text(
        "ts,temp_c\n" + "".join(f"{T0 + i},{20 + i / 100}\n" for i in range(1, rows + 1))
    )
    return dataclasses.replace(
        config, sensors=(SensorSettings(driver="replay", options={"path": "samples.csv"}),)
    )


def start(config: AgentConfig, agents: list[EdgeAgent]) -> EdgeAgent:
    agent = EdgeAgent(config)
    agent.start()
    agents.append(agent)
    return agent


def test_network_cuts_lose_nothing_and_duplicate_nothing_after_dedupe(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    proxy = TcpProxy(mosquitto.port)
    try:
        sub = collector(mosquitto.url, [f"{BASE}/telemetry"])
        config = agent_config(proxy.url, tmp_path, batch_max_samples=5, batch_max_age_s=0.0)
        agent = start(replaying(config, tmp_path, 400), agents)
        wait_until(lambda: agent.stats.connected, what="the agent through the proxy")
        for i in range(1, 401):
            agent.step(T0 + i)
            if i in (100, 300):
                proxy.cut()  # mid-stream: batches in flight lose their PUBACK
            if i in (200, 350):
                assert agent.stats.pending_samples > 0, "samples wait in the buffer during the cut"
                proxy.restore()
                wait_until(lambda: agent.stats.connected, what="a reconnect through the proxy")
        flush(agent, T0 + 500)
        wait_until(lambda: len(received_stamps(sub)) >= 400, what="all 400 samples after the cuts")
        assert received_stamps(sub) == [T0 + i for i in range(1, 401)]  # exactly once, in order
        assert proxy.connections >= 3
    finally:
        proxy.close()


def test_a_long_outage_past_the_buffer_cap_drops_the_oldest_counts_and_reports(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry", f"{BASE}/status"])
    mosquitto.stop()
    config = agent_config(
        mosquitto.url, tmp_path, batch_max_samples=10, batch_max_age_s=0.0, buffer_max_samples=50
    )
    agent = start(replaying(config, tmp_path, 200), agents)
    for i in range(1, 201):
        agent.step(T0 + i)
    stats = agent.stats
    assert (stats.connected, stats.pending_samples, stats.dropped) == (False, 50, 150)
    mosquitto.start()
    flush(agent, T0 + 300)
    wait_until(lambda: len(received_stamps(sub)) >= 50, what="the 50 newest samples")
    assert received_stamps(sub) == [T0 + i for i in range(151, 201)]  # the oldest went first

    def reported() -> bool:
        agent.step(T0 + 300)
        return any(m.json().get("buffer", {}).get("dropped") == 150 for m in sub.on("status"))

    wait_until(reported, what="a status reporting 150 dropped samples")


def tls_broker(mosquitto: Any, tmp_path: Path, files: dict[str, Path]) -> tuple[Any, int]:
    port = free_port()
    broker = type(mosquitto)(
        tmp_path / "mtls-broker",
        extra_conf=f"listener {port} 127.0.0.1\ncafile {files['ca.pem']}\ncertfile {files['server.pem']}\n"
        f"keyfile {files['server.key']}\nrequire_certificate true\n",
    )
    return broker, port


def raw_connect(port: int, files: dict[str, Path], *, with_cert: bool) -> bytes:
    """CONNECT over TLS by hand; the CONNACK bytes, or b"" if the broker hung up."""
    context = ssl.create_default_context(cafile=str(files["ca.pem"]))
    if with_cert:
        context.load_cert_chain(str(files["client.pem"]), str(files["client.key"]))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(CONNECT)
                return tls.recv(4)
        except (ssl.SSLError, ConnectionError):
            return b""


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_mutual_tls(
    protocol: str, mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    files = make_tls_files(tmp_path / "tls", client=True)
    broker, port = tls_broker(mosquitto, tmp_path, files)
    try:
        wait_until(lambda: raw_connect(port, files, with_cert=True) == b"\x20\x02\x00\x00", what="mTLS")
        assert raw_connect(port, files, with_cert=False) == b"", "no client certificate: refused"
        sub = collector(broker.url, [f"{BASE}/telemetry"])
        config = agent_config(f"mqtts://127.0.0.1:{port}", tmp_path)
        mqtt = dataclasses.replace(
            config.mqtt,
            protocol=protocol,
            ca_file=str(files["ca.pem"]),
            cert_file=str(files["client.pem"]),
            key_file=str(files["client.key"]),
        )
        agent = start(replaying(dataclasses.replace(config, mqtt=mqtt), tmp_path, 10), agents)
        wait_until(lambda: agent.stats.connected, what="the agent over mutual TLS")
        for i in range(1, 11):
            agent.step(T0 + i)
        flush(agent, T0 + 20)
        wait_until(lambda: len(received_stamps(sub)) >= 10)
        assert received_stamps(sub) == [T0 + i for i in range(1, 11)]
    finally:
        for agent in agents:
            agent.stop(timeout=1.0)
        agents.clear()
        broker.stop()


GOOD_AND_BAD = r"""
import json, math, sys, time
print("garbage"); print('{"temp_c": "hot", "flow_l_min": 3}'); print('{"temp_c": NaN}')
t0 = time.time()
for i in range(400):  # 200 Hz vibration for 2 s, the temperature once a second
    values = {"vibration_g": math.sin(2 * math.pi * 25 * i / 200)}
    if i % 200 == 0:
        values["temp_c"] = 61.5
    print(json.dumps({"ts": t0 + i / 200, "values": values}))
sys.stdout.flush()
time.sleep(600)
"""


def test_bad_values_and_a_failing_driver_do_not_stop_the_good_ones(
    mosquitto: Any, tmp_path: Path, collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry", f"{BASE}/status"])
    vibration = FeatureSpec("vibration_g", window=200, rate_hz=200.0, bands_hz=((0.0, 20.0), (20.0, 100.0)))
    sensors = (
        SensorSettings(
            driver="command",
            name="accel",
            options={"argv": [sys.executable, "-c", GOOD_AND_BAD]},
            features=(vibration,),
        ),
        SensorSettings(
            driver="command",
            name="broken",
            options={"argv": [sys.executable, "-c", "import sys; sys.exit('bus error')"], "mode": "interval"},
        ),
    )
    config = agent_config(mosquitto.url, tmp_path, heartbeat_s=0.3, batch_max_age_s=0.2)
    agent = EdgeAgent(dataclasses.replace(config, sensors=sensors))
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:

        def samples() -> list[dict[str, float]]:
            batches = unique_by_seq(sub.telemetry())
            return [s["values"] for b in batches for s in b["samples"]]

        wait_until(lambda: sum("vibration_g_rms" in v for v in samples()) >= 2, what="two feature windows")
        wait_until(
            lambda: (
                (sub.on("status")[-1].json()["drivers"] if sub.on("status") else {}).get("accel") == "ok"
                and "bus error" in sub.on("status")[-1].json()["drivers"]["broken"]
            ),
            what="a status with the broken driver's error",
        )
    finally:
        stop.set()
        thread.join()
        agent.stop()
    got = samples()
    features = [v for v in got if "vibration_g_rms" in v]
    assert all("vibration_g" not in v for v in got), "raw vibration is not published by default"
    assert features[0]["vibration_g_rms"] == pytest.approx(2**-0.5, rel=1e-6)
    assert features[0]["vibration_g_band_20_100hz"] == pytest.approx(0.5, rel=1e-6)
    assert features[0]["vibration_g_band_0_20hz"] == pytest.approx(0.0, abs=1e-9)
    assert {"flow_l_min": 3.0} in got and [v["temp_c"] for v in got if "temp_c" in v] == [61.5, 61.5]
    assert agent.driver_status()["broken"].startswith("error: ")

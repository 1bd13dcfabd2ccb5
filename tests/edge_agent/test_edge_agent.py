"""The agent against real brokers (Mosquitto, amqtt), driven in-process like the demo does."""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent import EdgeAgent
from edge_agent.config import SensorSettings
from edge_agent.drivers.base import ConfigError
from edge_agent.drivers.simulated import SimulatedDriver
from forestall.broker import free_port
from forestall.contract import parse_status
from tests.edge_agent.edge_support import (
    BASE,
    T0,
    Collector,
    MakeCollector,
    RampSource,
    agent_config,
    flush,
    make_tls_files,
    received_stamps,
    wait_until,
)

pytestmark = pytest.mark.integration


def wait_port(port: int, timeout: float) -> bool:
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def agents() -> Iterator[list[EdgeAgent]]:
    started: list[EdgeAgent] = []
    yield started
    for agent in started:
        agent.stop(timeout=1.0)


def replay_agent(
    url: str, tmp_path: Path, agents: list[EdgeAgent], rows: int, protocol: str = "3.1.1", **agent: Any
) -> EdgeAgent:
    """An agent replaying ``rows`` CSV rows stamped T0+1 … T0+rows, one per event second."""
    (tmp_path / "samples.csv").write_text(
        "ts,temp_c\n" + "".join(f"{T0 + i},{20 + i / 100}\n" for i in range(1, rows + 1))
    )
    config = agent_config(url, tmp_path, **agent)
    config = dataclasses.replace(
        config,
        mqtt=dataclasses.replace(config.mqtt, protocol=protocol),
        sensors=(SensorSettings(driver="replay", options={"path": "samples.csv"}),),
    )
    edge = EdgeAgent(config)
    edge.start()
    agents.append(edge)
    return edge


def test_every_sample_arrives(
    mqtt_url: str, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mqtt_url, [f"{BASE}/telemetry"])
    agent = replay_agent(mqtt_url, tmp_path, agents, rows=300, batch_max_samples=40, batch_max_age_s=5.0)
    for i in range(1, 301):
        agent.step(T0 + i)
    flush(agent, T0 + 400)
    wait_until(lambda: len(received_stamps(sub)) >= 300, what="300 samples at the subscriber")
    assert received_stamps(sub) == [T0 + i for i in range(1, 301)]
    stats = agent.stats
    assert (stats.samples_buffered, stats.samples_acked, stats.dropped) == (300, 300, 0)


def test_mqtt5_session(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry"])
    agent = replay_agent(mosquitto.url, tmp_path, agents, rows=20, protocol="5")
    for i in range(1, 21):
        agent.step(T0 + i)
    flush(agent, T0 + 30)
    wait_until(lambda: len(received_stamps(sub)) >= 20)
    assert received_stamps(sub) == [T0 + i for i in range(1, 21)]


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry"])
    agent = replay_agent(mosquitto.url, tmp_path, agents, rows=400, batch_max_samples=5, batch_max_age_s=0.0)
    wait_until(lambda: agent.stats.connected)
    for i in range(1, 401):
        agent.step(T0 + i)
        time.sleep(0.002)
        if i == 150:
            mosquitto.stop()
        if i == 300:
            assert agent.stats.pending_samples > 0  # buffered while the broker was away
            mosquitto.start()
    flush(agent, T0 + 500)
    wait_until(lambda: len(received_stamps(sub)) >= 400, what="all 400 samples after the restart")
    assert received_stamps(sub) == [T0 + i for i in range(1, 401)]  # exactly once, in order


def test_batches_stay_buffered_until_the_broker_acknowledges(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry"])
    agent = replay_agent(mosquitto.url, tmp_path, agents, rows=100, batch_max_samples=10, batch_max_age_s=0.0)
    wait_until(lambda: agent.stats.connected)
    mosquitto.proc.send_signal(signal.SIGSTOP)  # connected, but nobody answers: no PUBACK
    try:
        for i in range(1, 101):
            agent.step(T0 + i)
        stats = agent.stats
        assert (stats.samples_acked, stats.pending_samples) == (0, 100)
    finally:
        mosquitto.proc.send_signal(signal.SIGCONT)
    flush(agent, T0 + 200)
    wait_until(lambda: len(received_stamps(sub)) >= 100)
    assert received_stamps(sub) == [T0 + i for i in range(1, 101)]


def test_a_broker_that_is_down_at_start_is_waited_for(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry"])
    mosquitto.stop()
    agent = replay_agent(
        mosquitto.url, tmp_path, agents, rows=50, batch_max_age_s=0.0
    )  # start() must not fail
    for i in range(1, 51):
        agent.step(T0 + i)
    assert (agent.stats.connected, agent.stats.pending_samples) == (False, 50)
    mosquitto.start()
    flush(agent, T0 + 60)
    wait_until(lambda: len(received_stamps(sub)) >= 50)
    assert received_stamps(sub) == [T0 + i for i in range(1, 51)]


@pytest.fixture
def running(mosquitto: Any, tmp_path: Path) -> Iterator[EdgeAgent]:
    """An agent in its own run() loop on the wall clock, as under the CLI."""
    config = agent_config(mosquitto.url, tmp_path, heartbeat_s=0.3, batch_max_age_s=0.2)
    agent = EdgeAgent(config, drivers=[SimulatedDriver("sim", RampSource(), interval_s=0.1)])
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    yield agent
    stop.set()
    thread.join()
    agent.stop()


def command(op: str, cmd_id: str, **args: Any) -> bytes:
    return json.dumps({"schema": "forestall.cmd/1", "id": cmd_id, "op": op, "args": args}).encode()


def acks(sub: Collector) -> dict[str, dict[str, Any]]:
    return {m.json()["id"]: m.json() for m in sub.on("ack")}


def ping_until_subscribed(sub: Collector, cmd_id: str) -> None:
    """Commands sent before the agent's SUBSCRIBE reached the broker are not for anyone: retry."""

    def answered() -> bool:
        if cmd_id not in acks(sub):
            sub.publish(f"{BASE}/cmd", command("ping", cmd_id))
            time.sleep(0.3)
        return cmd_id in acks(sub)

    wait_until(answered, what=f"an ack for ping {cmd_id}")


def test_commands_get_acks_and_bad_ones_do_not_hurt(
    mosquitto: Any, running: EdgeAgent, collector: MakeCollector
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/ack", f"{BASE}/telemetry"])
    ping_until_subscribed(sub, "p-1")
    assert acks(sub)["p-1"] == {"schema": "forestall.ack/1", "id": "p-1", "ok": True}
    sub.publish(f"{BASE}/cmd", b'{"id": "bad-1", "op": "ping"}')
    sub.publish(f"{BASE}/cmd", b"\x00 not json at all")
    sub.publish(f"{BASE}/cmd", command("reboot", "bad-2"))
    sub.publish(f"{BASE}/cmd", command("set_config", "bad-3", sample_interval_s=-1))
    sub.publish(f"{BASE}/cmd", command("ping", "p-2"))
    wait_until(lambda: {"bad-1", "bad-2", "bad-3", "p-2"} <= set(acks(sub)), what="all acks")
    got = acks(sub)
    assert [got[i]["ok"] for i in ("bad-1", "bad-2", "bad-3", "p-2")] == [False, False, False, True]
    assert got["bad-1"]["error"].startswith("malformed command")
    before = len(sub.telemetry())
    wait_until(lambda: len(sub.telemetry()) > before + 2, what="telemetry to keep flowing")


def test_status_is_retained_online_with_buffer_counts_and_follows_set_config(
    mosquitto: Any, running: EdgeAgent, collector: MakeCollector
) -> None:
    early = collector(mosquitto.url, [f"{BASE}/status"])
    wait_until(lambda: bool(early.on("status")), what="a first status")
    late = collector(mosquitto.url, [f"{BASE}/status", f"{BASE}/ack"])  # subscribes after it was published
    wait_until(lambda: any(m.retain for m in late.on("status")), what="the retained status")
    retained = next(m for m in late.on("status") if m.retain)
    doc = retained.json()
    assert (doc["state"], doc["agent"], doc["drivers"]) == ("online", "0.1.0", {"sim": "ok"})
    assert isinstance(doc["buffer"]["pending"], int) and doc["buffer"]["dropped"] == 0
    parse_status(retained.payload)
    ping_until_subscribed(late, "p-0")
    late.publish(f"{BASE}/cmd", command("set_config", "off-1", sensors={"sim": {"enabled": False}}))
    wait_until(
        lambda: "off-1" in acks(late) and late.on("status")[-1].json()["drivers"] == {"sim": "disabled"},
        what="a status with the sensor disabled",
    )
    assert acks(late)["off-1"]["ok"] is True


def test_stop_leaves_a_retained_offline_status(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    agent = replay_agent(mosquitto.url, tmp_path, agents, rows=5)
    wait_until(lambda: agent.stats.connected)
    agent.step(T0 + 1)
    agent.stop()
    late = collector(mosquitto.url, [f"{BASE}/status"])
    wait_until(lambda: bool(late.on("status")))
    assert late.on("status")[-1].json() == {
        "schema": "forestall.status/1",
        "state": "offline",
        "agent": "0.1.0",
    }


def test_an_unusable_buffer_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    config = agent_config("mqtt://127.0.0.1:1", tmp_path)
    config = dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, buffer_path=str(tmp_path / "taken"))
    )
    agent = EdgeAgent(config, drivers=[])
    with pytest.raises(ConfigError, match=r"^agent\.buffer_path: cannot open"):
        agent.start()
    with pytest.raises(RuntimeError, match="start"):
        agent.step()


def test_tls_and_password(
    mosquitto: Any, tmp_path: Path, agents: list[EdgeAgent], collector: MakeCollector
) -> None:
    files = make_tls_files(tmp_path / "tls")
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(tmp_path / "tls" / "passwords"), "edge", "s3cret"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    tls_port = free_port()
    broker = type(mosquitto)(  # the conftest Mosquitto, plus a TLS listener that checks passwords
        tmp_path / "tls-broker",
        extra_conf=f"password_file {tmp_path / 'tls' / 'passwords'}\nlistener {tls_port} 127.0.0.1\n"
        f"cafile {files['ca.pem']}\ncertfile {files['server.pem']}\nkeyfile {files['server.key']}\n",
    )
    try:
        wait_until(lambda: wait_port(tls_port, timeout=0.5), what="the TLS listener")
        sub = collector(broker.url, [f"{BASE}/telemetry"])
        config = agent_config(f"mqtts://edge:s3cret@127.0.0.1:{tls_port}", tmp_path)
        config = dataclasses.replace(
            config, mqtt=dataclasses.replace(config.mqtt, ca_file=str(files["ca.pem"]))
        )
        agent = EdgeAgent(config, drivers=[SimulatedDriver("sim", RampSource(), interval_s=1.0)])
        agent.start()
        agents.append(agent)
        wait_until(lambda: agent.stats.connected, what="a TLS connection with a password")
        for i in range(1, 11):
            agent.step(T0 + i)
        wait_until(lambda: len(received_stamps(sub)) >= 10)
        assert received_stamps(sub) == [T0 + i for i in range(1, 11)]
    finally:
        for agent in agents:
            agent.stop(timeout=1.0)
        agents.clear()
        broker.stop()

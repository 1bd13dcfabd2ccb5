"""The shipped ``ingest/mosquitto.conf`` with device credentials, against a real Mosquitto.

The config file is the one docker-compose mounts, with only its paths and ports replaced; the
credentials are made by ``forestall devices`` through the dynamic security plugin, as an
operator would: a device publishes its own telemetry over TLS and reads its own commands, and
its credential can do nothing for another asset or tenant.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from forestall.broker import free_port
from forestall.contract import Sample, telemetry_payload
from forestall.devices import DynSec, DynSecError, change_commands
from forestall.mqttclient import make_client
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import IngestSequence, Rejection
from ingest.worker import Worker
from programs.cli import main
from tests.conftest import wait_port
from tests.edge_agent.edge_support import make_tls_files
from tests.support import dynsec_mosquitto, wait_for

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-test-password"


@dataclass
class Broker:
    plain_port: int
    tls_port: int
    ca: Path
    dir: Path

    @property
    def admin_url(self) -> str:
        return f"mqtt://admin:{ADMIN_PASSWORD}@127.0.0.1:{self.plain_port}"


def _shipped_config(folder: Path, tls: dict[str, Path], plugin: str, plain_port: int, tls_port: int) -> str:
    text = (REPO / "ingest" / "mosquitto.conf").read_text()
    replacements = {
        r"^listener 1883$": f"listener {plain_port} 127.0.0.1",
        r"^listener 8883$": f"listener {tls_port} 127.0.0.1",
        r"^plugin .*$": f"plugin {plugin}",
        r"/mosquitto/data/": f"{folder}/",
        r"/mosquitto/certs/ca.crt": str(tls["ca.pem"]),
        r"/mosquitto/certs/server.crt": str(tls["server.pem"]),
        r"/mosquitto/certs/server.key": str(tls["server.key"]),
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"the shipped mosquitto.conf no longer has {pattern!r}"
    return ("user root\n" if os.geteuid() == 0 else "") + text


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    binary, ctrl, plugin = dynsec_mosquitto()
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    tls_files = make_tls_files(folder / "tls")
    subprocess.run(
        [ctrl, "dynsec", "init", str(folder / "dynamic-security.json"), "admin", ADMIN_PASSWORD],
        check=True,
        capture_output=True,
    )
    plain, tls = free_port(), free_port()
    (folder / "mosquitto.conf").write_text(_shipped_config(folder, tls_files, plugin, plain, tls))
    log = open(folder / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([binary, "-c", str(folder / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        if not (wait_port(plain) and wait_port(tls)):
            pytest.fail(f"mosquitto did not start: {(folder / 'mosquitto.log').read_text()[-800:]}")
        yield Broker(plain, tls, tls_files["ca.pem"], folder)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


class Peer:
    """One MQTT client with a credential; records what it receives and how its requests went."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        ca: Path | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: str | None = None
        self.granted: list[int] = []
        self.subscribed = threading.Event()
        self.dropped = threading.Event()
        self.client = make_client(url, client_id, ca_file=ca, username=username, password=password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.dropped.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.on_subscribe = self._on_subscribe  # type: ignore[assignment]
        host, port = url.split("//")[1].split("@")[-1].split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object = None) -> None:
        if getattr(reason, "is_failure", False):
            self.refused = str(reason)
        else:
            self.connected.set()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, codes: list[object], _p: object = None
    ) -> None:
        self.granted = [int(getattr(code, "value", code)) for code in codes]  # type: ignore[call-overload]
        self.subscribed.set()

    def subscribe(self, topic: str) -> list[int]:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)
        return self.granted

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _provision(
    broker: Broker, capsys: pytest.CaptureFixture[str], tenant: str, asset: str, *extra: str
) -> str:
    """``forestall devices provision`` as an operator runs it; the edge.toml it prints."""
    args = ("devices", "provision", "--tenant", tenant, "--asset", asset, "--broker", broker.admin_url)
    return _cli(*args, *extra, capsys=capsys)


def _cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_a_provisioned_device_reaches_only_its_own_topics(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):  # a second run sets the same passwords and does not fail
        services = _cli(
            "devices",
            "services",
            "--broker",
            broker.admin_url,
            "--worker-password",
            "w-pass",
            "--api-password",
            "a-pass",
            capsys=capsys,
        )
        # a given password is never printed (it may be in the environment's logs); a made one is
        assert "w-pass" not in services and "a-pass" not in services
        assert any(line.startswith("GUARD_MQTT_PASSWORD=") for line in services.splitlines())
    pump_1 = ("--tenant", "acme", "--asset", "pump-1")
    edge_url = f"mqtts://127.0.0.1:{broker.tls_port}"
    toml = _provision(
        broker, capsys, "acme", "pump-1", "--edge-url", edge_url, "--edge-ca-file", str(broker.ca)
    )
    _provision(broker, capsys, "globex", "pump-1")
    from edge_agent.config import parse_config

    device_conf = parse_config(tomllib.loads(toml))  # a ready edge.toml
    mqtt_conf = device_conf.mqtt
    assert (device_conf.agent.tenant, device_conf.agent.asset) == ("acme", "pump-1")
    assert mqtt_conf.username and mqtt_conf.password and mqtt_conf.client_id

    plain = f"mqtt://127.0.0.1:{broker.plain_port}"
    worker = Peer(plain, "worker-1", username="forestall-worker", password="w-pass")
    api = Peer(plain, "api-1", username="forestall-api", password="a-pass")

    def as_device(client_id: str | None = mqtt_conf.client_id) -> Peer:
        """A client with the provisioned device's credential, over TLS as its edge.toml says."""
        assert client_id is not None
        return Peer(
            mqtt_conf.url, client_id, ca=broker.ca, username=mqtt_conf.username, password=mqtt_conf.password
        )

    device = as_device()
    try:
        for peer in (worker, api, device):
            assert peer.connected.wait(5), peer.refused
        assert worker.subscribe("forestall/v1/#") == [1]
        assert device.subscribe("forestall/v1/acme/pump-1/cmd") == [1]
        assert device.subscribe("forestall/v1/acme/pump-2/cmd")[0] >= 128  # another asset's commands
        assert device.subscribe("forestall/v1/globex/pump-1/cmd")[0] >= 128  # another tenant's
        assert device.subscribe("forestall/v1/#")[0] >= 128

        for kind in ("telemetry", "status", "ack"):
            device.publish(f"forestall/v1/acme/pump-1/{kind}", b"mine")
        device.publish("forestall/v1/acme/pump-2/telemetry", b"not mine")
        device.publish("forestall/v1/globex/pump-1/telemetry", b"not my tenant")
        device.publish("forestall/v1/acme/pump-1/cmd", b"not a device's to send")
        assert wait_for(lambda: len(worker.messages) >= 3)
        time.sleep(0.5)  # what the broker refused would have come by now
        assert sorted(t for t, _ in worker.messages) == [
            "forestall/v1/acme/pump-1/ack",
            "forestall/v1/acme/pump-1/status",
            "forestall/v1/acme/pump-1/telemetry",
        ]

        api.publish("forestall/v1/acme/pump-2/cmd", b"for pump-2")
        api.publish("forestall/v1/acme/pump-1/cmd", b"for pump-1")
        api.publish("forestall/v1/acme/pump-1/telemetry", b"the API speaks for no device")
        assert wait_for(lambda: any(p == b"for pump-1" for _, p in device.messages))
        time.sleep(0.3)
        assert [p for _, p in device.messages] == [b"for pump-1"]
        assert b"the API speaks for no device" not in [p for _, p in worker.messages]

        # the credential is bound to the device's client id, and nobody gets in anonymously
        other_id = as_device("someone-else")
        anonymous = Peer(plain, "anonymous")
        wrong = Peer(plain, "guess", username=mqtt_conf.username, password="guess")
        for peer in (other_id, anonymous, wrong):
            assert wait_for(lambda p=peer: p.refused is not None), "connected without a valid credential"
            peer.stop()

        # disable: the device is cut off at once and cannot come back until enabled
        assert not device.dropped.is_set()
        _cli("devices", "disable", *pump_1, "--broker", broker.admin_url, capsys=capsys)
        assert wait_for(lambda: device.dropped.is_set())
        again = as_device()
        assert wait_for(lambda: again.refused is not None)
        again.stop()
        _cli("devices", "revoke", *pump_1, "--broker", broker.admin_url, capsys=capsys)
    finally:
        for peer in (worker, api, device):
            peer.stop()


def test_provisioning_without_the_admin_credential_is_refused(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"mqtt://admin:wrong@127.0.0.1:{broker.plain_port}"
    assert main(["devices", "provision", "--tenant", "acme", "--asset", "pump-1", "--broker", url]) == 2
    assert "refused the admin connection" in capsys.readouterr().err
    assert (
        main(
            ["devices", "provision", "--tenant", "acme", "--asset", "bad/asset", "--broker", broker.admin_url]
        )
        == 2
    )
    assert "asset: must match" in capsys.readouterr().err


def test_the_worker_disables_a_device_that_goes_on_flooding(
    broker: Broker, tmp_path: Path, state_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker's guard disables, through the broker, a device its rate limit keeps refusing: the
    device is cut off and cannot come back; another device of the tenant goes on being stored."""
    passwords = ("--worker-password", "w-pass", "--api-password", "a-pass", "--guard-password", "g-pass")
    _cli("devices", "services", "--broker", broker.admin_url, *passwords, capsys=capsys)
    devices = {}
    for asset in ("flood", "calm"):
        toml = _provision(broker, capsys, "acme", asset)
        devices[asset] = tomllib.loads(toml)["mqtt"]
    plain = f"127.0.0.1:{broker.plain_port}"
    settings = Settings(
        database_url=state_db_url,
        mqtt={"url": f"mqtt://forestall-worker:w-pass@{plain}"},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        worker={
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "device_rate_per_s": 5.0,
            "device_burst": 5,
            "device_disable_after": 100,
            "guard_url": f"mqtt://forestall-guard:g-pass@{plain}",
        },
    )
    worker = Worker(settings, predictor_enabled=False)
    worker.start()

    def as_device(asset: str) -> Peer:
        conf = devices[asset]
        url = f"mqtt://{plain}"
        return Peer(url, conf["client_id"], username=conf["username"], password=conf["password"])

    flood, calm = as_device("flood"), as_device("calm")
    try:
        assert wait_for(lambda: worker.subscribed.is_set(), 10)
        for peer in (flood, calm):
            assert peer.connected.wait(5), peer.refused
        for seq in range(1, 400):
            flood.client.publish("forestall/v1/acme/flood/telemetry", _batch("flood", seq), qos=1)
        assert wait_for(lambda: flood.dropped.is_set(), 20), "the flooding device is still connected"
        disabled = worker.metrics.devices_disabled
        # the broker cuts the device off before it answers the guard, which counts then
        assert wait_for(lambda: disabled.labels(outcome="disabled")._value.get() == 1, 10)
        assert disabled.labels(outcome="failed")._value.get() == 0
        again = as_device("flood")
        assert wait_for(lambda: again.refused is not None), "a disabled device connected again"
        again.stop()

        calm.publish("forestall/v1/acme/calm/telemetry", _batch("calm", 1))
        sessions = make_sessionmaker(make_engine(state_db_url))

        def calm_stored() -> bool:
            with sessions() as session:
                query = select(IngestSequence.high_water).where(IngestSequence.asset_id == "calm")
                return session.scalar(query) == 1

        assert wait_for(calm_stored, 20)
        with sessions() as session:
            details = session.scalars(
                select(Rejection.detail).where(
                    Rejection.reason == "rate_limited", Rejection.asset_id == "flood"
                )
            ).all()
        assert any("disabling the device at the broker" in d for d in details), details
    finally:
        for peer in (flood, calm):
            peer.stop()
        worker.stop()


def test_only_the_guard_credential_may_command_the_broker(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    passwords = ("--worker-password", "w-pass", "--api-password", "a-pass", "--guard-password", "g-pass")
    _cli("devices", "services", "--broker", broker.admin_url, *passwords, capsys=capsys)
    toml = _provision(broker, capsys, "acme", "pump-1")
    conf = tomllib.loads(toml)["mqtt"]
    base = f"127.0.0.1:{broker.plain_port}"

    def device_gets_in() -> bool:
        device = Peer(
            f"mqtt://{base}", conf["client_id"], username=conf["username"], password=conf["password"]
        )
        wait_for(lambda: device.connected.is_set() or device.refused is not None)
        device.stop()
        return device.connected.is_set()

    for user, password in (("forestall-worker", "w-pass"), ("forestall-api", "a-pass")):
        with pytest.raises(DynSecError), DynSec(f"mqtt://{user}:{password}@{base}", timeout_s=2) as dynsec:
            dynsec.run(change_commands("disable", "acme", "pump-1"))
    assert device_gets_in()  # neither could disable it
    with DynSec(f"mqtt://forestall-guard:g-pass@{base}") as dynsec:
        dynsec.run(change_commands("disable", "acme", "pump-1"))
        assert not device_gets_in()
        dynsec.run(change_commands("enable", "acme", "pump-1"))
    assert device_gets_in()


def _batch(asset: str, seq: int) -> bytes:
    return telemetry_payload(asset, seq, [Sample(time.time(), {"temp_c": 20.0 + seq % 7})])


def test_the_demo_simulator_credential_speaks_for_the_demo_tenant_only(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    passwords = ("--worker-password", "w-pass", "--api-password", "a-pass", "--simulator-password", "s-pass")
    out = _cli("devices", "services", "--broker", broker.admin_url, *passwords, capsys=capsys)
    assert "s-pass" not in out
    plain = f"mqtt://127.0.0.1:{broker.plain_port}"
    worker = Peer(plain, "worker-1", username="forestall-worker", password="w-pass")
    simulator = Peer(plain, "sim-1", username="forestall-simulator", password="s-pass")
    try:
        for peer in (worker, simulator):
            assert peer.connected.wait(5), peer.refused
        assert worker.subscribe("forestall/v1/#") == [1]
        assert simulator.subscribe("forestall-sim/v1/#") == [1]
        assert simulator.subscribe("forestall/v1/demo/+/cmd") == [1]
        assert simulator.subscribe("forestall/v1/acme/+/cmd")[0] >= 128
        simulator.publish("forestall/v1/demo/pump-1/telemetry", b"demo")
        simulator.publish("forestall/v1/acme/pump-1/telemetry", b"another tenant")
        simulator.publish("forestall-sim/v1/demo/pump-1/visit", b"world")
        assert wait_for(lambda: any(p == b"world" for _, p in simulator.messages))
        assert wait_for(lambda: len(worker.messages) >= 1)
        time.sleep(0.5)
        assert [p for _, p in worker.messages] == [b"demo"]
    finally:
        for peer in (worker, simulator):
            peer.stop()


def test_service_credentials_from_files_work_whatever_their_characters(
    broker: Broker, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As docker-compose.yml runs it: the admin's and the worker's passwords are Docker secrets
    (files), apart from the URLs; a password with ``/@#:`` still gets the worker in."""
    awkward = "w/@#:%?x"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "admin").write_text(ADMIN_PASSWORD + "\n")
    (secrets_dir / "worker").write_text(awkward + "\n")
    plain = f"mqtt://127.0.0.1:{broker.plain_port}"
    monkeypatch.setenv("FORESTALL_BROKER_ADMIN_URL", f"mqtt://admin@127.0.0.1:{broker.plain_port}")
    monkeypatch.setenv("FORESTALL_BROKER_ADMIN_PASSWORD_FILE", str(secrets_dir / "admin"))
    monkeypatch.setenv("WORKER_MQTT_PASSWORD_FILE", str(secrets_dir / "worker"))
    out = _cli("devices", "services", "--only", "worker", capsys=capsys)
    assert out == ""  # the given password is not printed, and nothing else was made
    monkeypatch.setenv("FORESTALL_MQTT__URL", f"mqtt://forestall-worker@127.0.0.1:{broker.plain_port}")
    monkeypatch.setenv("FORESTALL_MQTT__PASSWORD_FILE", str(secrets_dir / "worker"))
    worker = Peer(Settings().mqtt.url, "worker-files")
    wrong = Peer(plain, "worker-guess", username="forestall-worker", password="w")
    try:
        assert worker.connected.wait(5), worker.refused
        assert worker.subscribe("forestall/v1/#") == [1]
        assert wait_for(lambda: wrong.refused is not None), "connected with a wrong password"
    finally:
        worker.stop()
        wrong.stop()

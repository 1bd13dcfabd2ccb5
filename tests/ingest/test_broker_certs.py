"""``ingest/broker-certs.sh``, the broker certificates as docs/OPERATIONS.md makes them: the shipped
``ingest/mosquitto.conf`` loads them into a real Mosquitto, and a device that holds only ``ca.crt``
connects over TLS to each name the certificate lists (its host name checked), and to no other;
making the server certificate again keeps the CA, so devices need nothing new."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from forestall.broker import free_port
from forestall.mqttclient import make_client
from tests.conftest import wait_port
from tests.ingest.test_broker_acl import ADMIN_PASSWORD, _shipped_config
from tests.support import dynsec_mosquitto

SCRIPT = Path(__file__).resolve().parents[2] / "ingest" / "broker-certs.sh"


def _make(ca_dir: Path, certs_dir: Path, *sans: str) -> None:
    done = subprocess.run(
        ["sh", str(SCRIPT), str(ca_dir), str(certs_dir), *sans], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary, ctrl, plugin = dynsec_mosquitto()
    certs = tmp_path / "certs"
    _make(tmp_path / "ca", certs, "DNS:localhost", "IP:127.0.0.1")
    ca_before = (certs / "ca.crt").read_bytes()
    _make(tmp_path / "ca", certs, "DNS:localhost", "IP:127.0.0.1")  # renewed: the same CA
    assert (certs / "ca.crt").read_bytes() == ca_before
    assert (certs / "server.key").stat().st_mode & 0o077 == 0  # the key is for the broker alone
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    subprocess.run(
        [ctrl, "dynsec", "init", str(folder / "dynamic-security.json"), "admin", ADMIN_PASSWORD],
        check=True,
        capture_output=True,
    )
    files = {
        "ca.pem": certs / "ca.crt",
        "server.pem": certs / "server.crt",
        "server.key": certs / "server.key",
    }
    plain, tls = free_port(), free_port()
    (folder / "mosquitto.conf").write_text(_shipped_config(folder, files, plugin, plain, tls))
    log = open(folder / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([binary, "-c", str(folder / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        if not wait_port(tls):
            pytest.fail(f"mosquitto did not start: {(folder / 'mosquitto.log').read_text()[-800:]}")
        yield tls, certs / "ca.crt"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _connects(host: str, port: int, ca: Path) -> bool:
    connected = threading.Event()
    client = make_client(f"mqtts://admin:{ADMIN_PASSWORD}@{host}:{port}", "certs-check", ca_file=ca)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object = None) -> None:
        if not getattr(reason, "is_failure", False):
            connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port)
    except ssl.SSLCertVerificationError:
        return False
    client.loop_start()
    try:
        return connected.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_device_with_ca_crt_reaches_the_broker_by_each_listed_name(tls_broker: tuple[int, Path]) -> None:
    port, ca = tls_broker
    assert _connects("localhost", port, ca)
    assert _connects("127.0.0.1", port, ca)


def test_another_name_or_another_ca_is_refused(tls_broker: tuple[int, Path], tmp_path: Path) -> None:
    port, ca = tls_broker
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="mismatch"),
    ):
        context.wrap_socket(raw, server_hostname="elsewhere.example.com")  # not a listed name
    other = tmp_path / "other"
    _make(other / "ca", other / "certs", "DNS:localhost")  # another CA: its ca.crt does not vouch
    assert not _connects("localhost", port, other / "certs" / "ca.crt")

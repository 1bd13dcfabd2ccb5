"""Fixtures that start real services on free loopback ports (docs/ARCHITECTURE.md, tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from forestall.broker import EmbeddedBroker, free_port
from tests.support import migrated_state_db


def wait_port(port: int, timeout: float = 20.0) -> bool:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class Mosquitto:
    """A real Mosquitto process with on-disk persistence; stop()/start() keep its sessions."""

    def __init__(self, workdir: Path, extra_conf: str = "", port: int | None = None) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary):
            pytest.fail("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"{user}listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.dir}/\nautosave_interval 1\nmax_queued_messages 1000000\n"
            f"max_inflight_messages 100\n{extra_conf}"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.dir / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        if not wait_port(self.port):
            raise RuntimeError(f"mosquitto did not start: {(self.dir / 'mosquitto.log').read_text()[-500:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    yield broker
    broker.stop()


@pytest.fixture
def amqtt_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(params=["mosquitto", "amqtt"])
def mqtt_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real broker URL: Mosquitto (Debian package) and the embedded amqtt broker."""
    if request.param == "mosquitto":
        mosq = Mosquitto(tmp_path / "mosquitto")
        yield mosq.url
        mosq.stop()
    else:
        amqtt = EmbeddedBroker()
        amqtt.start()
        yield amqtt.url
        amqtt.stop()


class WebhookReceiver:
    """A real HTTP server that verifies every delivery with the standardwebhooks library."""

    def __init__(self, secret: str, fail_first: int = 0) -> None:
        from standardwebhooks.webhooks import Webhook

        self.verifier = Webhook(secret)
        self.verified: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.rejected = 0
        self.fail_first = fail_first
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests += 1
                    if receiver.requests <= receiver.fail_first:
                        self.send_response(503)
                        self.end_headers()
                        return
                    try:
                        payload = receiver.verifier.verify(body, dict(self.headers))
                    except Exception:
                        receiver.rejected += 1
                        self.send_response(400)
                        self.end_headers()
                        return
                    receiver.verified.append(payload if isinstance(payload, dict) else json.loads(body))
                    receiver.ids.append(self.headers.get("webhook-id", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.verified if p.get("type") == type_]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    yield receiver
    receiver.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_state_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated state DB, once on SQLite and once on a throw-away PostgreSQL database."""
    with migrated_state_db(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def state_db_url(tmp_path: Path) -> str:
    from forestall.state.db import upgrade

    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    return url

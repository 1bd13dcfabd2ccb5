"""Fixtures for the API suite: a real API (uvicorn in a thread) on SQLite and on PostgreSQL.

Every test gets a tenant of its own (fresh name, one key per role), so tests share one
server and one database per backend without seeing each other's data.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.server import ApiServer
from forestall.broker import free_port
from forestall.settings import LOOPBACK, ApiSettings, MqttSettings, Settings, StoreSettings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.keys import ROLES, create_key
from forestall.state.models import WebhookDelivery
from forestall.state.repo import advance_clock
from tests.conftest import Mosquitto
from tests.support import migrated_state_db

# Event time of the tests' tenants: 2027-01-15T08:00:00Z.
EVENT_NOW = 1_800_000_000.0
GRAFANA_TOKEN = "grafana-test-token"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_state_db(request.param, tmp_path_factory.mktemp("state")) as url:
        yield url


@pytest.fixture(scope="session")
def spare_db_url(  # a second DB of the same backend: dispatcher tests own its rows
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with migrated_state_db(backend, tmp_path_factory.mktemp("spare")) as url:
        yield url


@pytest.fixture
def spare(spare_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(spare_db_url)
    sessions = make_sessionmaker(engine)
    yield sessions
    with sessions.begin() as session:  # leave nothing due for the next test
        for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "pending")):
            delivery.status = "dead"
    engine.dispose()


@pytest.fixture(scope="session")
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Direct access to the same state DB, to arrange and inspect what the API cannot."""
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One Mosquitto for the suite: the API publishes device commands on it."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield mosquitto
    mosquitto.stop()


def api_settings(db_url: str, store_path: Path, mqtt_url: str = "mqtt://127.0.0.1:1", **api: Any) -> Settings:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "webhook_max_attempts": 3,
        "webhook_backoff_s": 0.05,
        "webhook_timeout_s": 2.0,
        "webhook_allowed_networks": [LOOPBACK],  # the tests' receivers listen on loopback
        **api,
    }
    return Settings(
        database_url=db_url,
        api=ApiSettings(**options),
        store=StoreSettings(path=store_path),
        mqtt=MqttSettings(url=mqtt_url),
    )


@pytest.fixture(scope="session")
def settings(db_url: str, broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return api_settings(
        db_url, tmp_path_factory.mktemp("tsdb") / "tsdb.sqlite", broker.url, grafana_token=GRAFANA_TOKEN
    )


@pytest.fixture(scope="session")
def api_server(settings: Settings) -> Iterator[ApiServer]:
    server = ApiServer(settings)
    server.start()
    yield server
    server.stop()


@dataclass
class Tenant:
    """A tenant of its own on the shared server, with one key per role."""

    name: str
    url: str
    keys: dict[str, str]
    db: sessionmaker[Session]
    now: float = EVENT_NOW  # the tenant's event clock
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: str = "admin") -> httpx.Client:
        headers = {"authorization": f"Bearer {self.keys[role]}"} if role != "anonymous" else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=20.0)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def make_tenant(server: ApiServer, db: sessionmaker[Session]) -> Tenant:
    name = f"t{secrets.token_hex(5)}"
    with db.begin() as session:
        keys = {role: create_key(session, name, role) for role in ROLES}
        advance_clock(session, name, EVENT_NOW)
    return Tenant(name, server.url, keys, db)


def tenant_on(server: ApiServer, db: sessionmaker[Session]) -> Iterator[Tenant]:
    """A fresh tenant on ``server`` for one test (``yield from`` it in a fixture), closed after."""
    t = make_tenant(server, db)
    yield t
    t.close()


@pytest.fixture
def tenant(api_server: ApiServer, db: sessionmaker[Session]) -> Iterator[Tenant]:
    yield from tenant_on(api_server, db)


@pytest.fixture
def other_tenant(api_server: ApiServer, db: sessionmaker[Session]) -> Iterator[Tenant]:
    yield from tenant_on(api_server, db)


@pytest.fixture
def admin(tenant: Tenant) -> httpx.Client:
    return tenant.client("admin")


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_until


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int


class ScriptedReceiver:
    """A real HTTP webhook receiver that answers with scripted statuses (then ``default``)
    and records every request, verifying each with ``standardwebhooks`` on arrival."""

    def __init__(self, secret: str, script: list[int] | None = None, default: int = 204) -> None:
        from standardwebhooks.webhooks import Webhook

        self.verifier = Webhook(secret)
        self.script = list(script or [])
        self.default = default
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.verifier.verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                with receiver.lock:
                    code = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.requests.append(Received(headers, body, verified, code))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def payloads(self, status: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.body) for r in self.requests if status is None or r.status == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted_receiver() -> Iterator[Callable[..., ScriptedReceiver]]:
    made: list[ScriptedReceiver] = []

    def make(secret: str, script: list[int] | None = None, default: int = 204) -> ScriptedReceiver:
        receiver = ScriptedReceiver(secret, script, default)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def seed_customer(client: httpx.Client, customer_id: str = "c1", **fields: Any) -> dict[str, Any]:
    body = {
        "id": customer_id,
        "name": f"Customer {customer_id}",
        "segment": "standard",
        "sla_tier": "gold",
        **fields,
    }
    response = client.post("/v1/customers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def seed_asset(client: httpx.Client, asset_id: str, customer_id: str | None, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/assets", json={"id": asset_id, "customer_id": customer_id, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def seed_recommendation(client: httpx.Client, asset_ids: list[str], **fields: Any) -> dict[str, Any]:
    body = {
        "asset_ids": asset_ids,
        "priority": "P2",
        "window_start": EVENT_NOW + 3600,
        "window_end": EVENT_NOW + 7200,
        **fields,
    }
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def seed() -> Any:
    """Helpers to create objects over the API: ``seed.customer(client, "c1")`` etc."""

    class Seed:
        customer = staticmethod(seed_customer)
        asset = staticmethod(seed_asset)
        recommendation = staticmethod(seed_recommendation)

    return Seed

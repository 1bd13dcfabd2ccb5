"""What one client may cost the API (issue #13): bodies over ``api.max_body_bytes`` get 413 before
they are read, whether declared by Content-Length or chunked; each API key has its own request
budget (``api.rate_per_s`` after a burst of ``api.rate_burst``), spent ones get 429 with
Retry-After, and neither another key nor requests without a valid key touch it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.limits import DRAIN_FACTOR
from api.server import ApiServer
from tests.api.conftest import GRAFANA_TOKEN, Tenant, api_settings, tenant_on

MIB = 1024 * 1024
TEN_MB = b'{"id":"c2","name":"' + b"x" * 10_000_000 + b'","segment":"standard","sla_tier":"gold"}'
JSON = {"content-type": "application/json"}


def test_a_complete_10_mb_body_is_413(admin: httpx.Client) -> None:
    response = admin.post("/v1/customers", content=TEN_MB, headers=JSON)
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body over {MIB} bytes"}
    assert admin.get("/v1/customers").json()["items"] == []


def test_a_chunked_body_over_the_limit_is_413(admin: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        yield TEN_MB[: MIB // 2]
        yield TEN_MB[MIB // 2 : 2 * MIB]
        yield TEN_MB[2 * MIB :]

    response = admin.post("/v1/customers", content=chunks(), headers=JSON)
    assert response.status_code == 413 and response.json()["detail"].startswith("request body over")
    assert admin.get("/v1/customers").json()["items"] == []


def test_a_body_under_the_limit_is_read(admin: httpx.Client) -> None:
    # Padding JSON may carry: the limit is on bytes, whatever they hold.
    body = b'{"id": "c3", "name": "Three"' + b" " * (MIB - 100) + b"}"
    assert admin.post("/v1/customers", content=body, headers=JSON).status_code == 201


def test_a_huge_declared_length_is_answered_before_the_body(tenant: Tenant) -> None:
    # Beyond what the API drains for the client's sake it does not wait for a byte of the body.
    host, port = tenant.url.removeprefix("http://").split(":")
    declared = DRAIN_FACTOR * MIB + 1
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/customers HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {tenant.keys['admin']}\r\ncontent-length: {declared}\r\n\r\n".encode()
            + b'{"id": "c4", "name": "'
        )
        reply = b""
        while b"request body over" not in reply and (chunk := conn.recv(4096)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ") and b'{"detail":"request body over' in reply


@pytest.fixture(scope="module")
def strict_server(
    db: sessionmaker[Session], db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """An API whose keys may make 3 requests at once and one more every 10 s."""
    store = tmp_path_factory.mktemp("strict") / "tsdb.sqlite"
    settings = api_settings(db_url, Path(store), rate_per_s=0.1, rate_burst=3, grafana_token=GRAFANA_TOKEN)
    server = ApiServer(settings, deliver_webhooks=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def strict(strict_server: ApiServer, db: sessionmaker[Session]) -> Iterator[Tenant]:
    yield from tenant_on(strict_server, db)


def _spend(client: httpx.Client, path: str = "/v1/customers") -> list[int]:
    return [client.get(path).status_code for _ in range(3)]


def test_a_key_over_its_budget_gets_429_and_other_keys_do_not(strict: Tenant, other: Any) -> None:
    dispatcher = strict.client("dispatcher")
    assert _spend(dispatcher) == [200, 200, 200]
    refused = dispatcher.get("/v1/recommendations")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"
    assert "retry in 10 s" in refused.json()["detail"]
    # Another key of the same tenant, and a key of another tenant, have budgets of their own.
    assert _spend(strict.client("admin")) == [200, 200, 200]
    assert _spend(other.client("fsm")) == [200, 200, 200]
    assert dispatcher.get("/v1/customers").status_code == 429


@pytest.fixture
def other(strict_server: ApiServer, db: sessionmaker[Session]) -> Iterator[Tenant]:
    yield from tenant_on(strict_server, db)


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer fs_{key_id}_not-the-secret"])
def test_requests_without_a_valid_key_do_not_spend_a_real_keys_budget(
    strict: Tenant, header: str | None
) -> None:
    key = strict.keys["admin"]
    headers = {"authorization": header.format(key_id=key.split("_")[1])} if header else {}
    for _ in range(10):
        assert httpx.get(f"{strict.url}/v1/customers", headers=headers).status_code == 401
    assert _spend(strict.client("admin")) == [200, 200, 200]


def test_the_grafana_token_has_a_budget_per_tenant(strict: Tenant, other: Tenant) -> None:
    grafana = httpx.Client(base_url=strict.url, headers={"authorization": f"Bearer {GRAFANA_TOKEN}"})
    with grafana:
        alerts: dict[str, Any] = {"alerts": []}
        statuses = [
            grafana.post(f"/v1/integrations/grafana?tenant={strict.name}", json=alerts) for _ in range(4)
        ]
        assert [r.status_code for r in statuses] == [202, 202, 202, 429]
        assert statuses[-1].headers["retry-after"] == "10"
        assert grafana.post(f"/v1/integrations/grafana?tenant={other.name}", json=alerts).status_code == 202


def test_the_limits_are_documented(tenant: Tenant) -> None:
    paths = tenant.client().get("/openapi.json").json()["paths"]
    post = paths["/v1/customers"]["post"]["responses"]
    assert {"401", "403", "409", "413", "422", "429"} <= set(post)
    assert post["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    # Every role may read a customer's risk: no 403 there.
    assert "403" not in paths["/v1/customers/{customer_id}/risk"]["get"]["responses"]

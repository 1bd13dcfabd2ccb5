"""Authentication, roles (docs/ARCHITECTURE.md, HTTP API) and tenant isolation, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ALL = ("admin", "dispatcher", "fsm", "grafana")


def test_open_endpoints_need_no_key(tenant: Any) -> None:
    anonymous = tenant.client("anonymous")
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/docs").status_code == 200
    assert "/v1/recommendations/{rec_id}/accept" in anonymous.get("/openapi.json").json()["paths"]
    board = anonymous.get("/")
    assert board.status_code == 200 and "dispatcher board" in board.text
    assert "forestall_api_requests_total" in anonymous.get("/metrics").text


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer fs_0000000000000000_xyz", "Basic abc"])
def test_missing_or_bad_key_is_401(tenant: Any, header: str | None) -> None:
    headers = {"authorization": header} if header else {}
    response = httpx.get(f"{tenant.url}/v1/customers", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_key_is_401(tenant: Any) -> None:
    from forestall.state.models import ApiKey

    client = tenant.client("dispatcher")
    assert client.get("/v1/customers").status_code == 200
    with tenant.db.begin() as session:
        session.get(ApiKey, tenant.keys["dispatcher"].split("_")[1]).revoked = True
    assert client.get("/v1/customers").status_code == 401


# (method, path, body, roles allowed) — docs/ARCHITECTURE.md, HTTP API. Bodies are valid, so an allowed
# role gets past authorisation (any status but 401/403).
MATRIX: list[tuple[str, str, dict[str, Any] | None, tuple[str, ...]]] = [
    ("GET", "/v1/customers", None, ("admin", "dispatcher", "fsm")),
    ("POST", "/v1/customers", {"id": "new", "name": "New"}, ("admin",)),
    ("PATCH", "/v1/customers/c1", {"name": "Renamed"}, ("admin",)),
    ("GET", "/v1/assets", None, ("admin", "dispatcher", "fsm")),
    ("POST", "/v1/assets", {"id": "a-new"}, ("admin",)),
    ("GET", "/v1/customers/c1/risk", None, ALL),
    ("GET", "/v1/assets/a1/health", None, ALL),
    ("GET", "/v1/recommendations", None, ALL),
    (
        "POST",
        "/v1/recommendations",
        {"asset_ids": ["a2"], "window_start": 1, "window_end": 2},
        ("admin", "dispatcher"),
    ),
    ("POST", "/v1/recommendations/REC/accept", None, ("admin", "dispatcher", "fsm")),
    ("POST", "/v1/recommendations/REC/outcome", {"fault_found": True}, ("admin", "fsm")),
    ("GET", "/v1/maintenance-events", None, ("admin", "fsm")),
    (
        "POST",
        "/v1/maintenance-events",
        {"asset_id": "a1", "kind": "inspection", "occurred_at": 1},
        ("admin", "fsm"),
    ),
    ("GET", "/v1/incidents", None, ("admin", "dispatcher", "fsm")),
    (
        "POST",
        "/v1/feedback",
        {"customer_id": "c1", "kind": "nps", "score": 9, "at": 1},
        ("admin", "dispatcher", "fsm"),
    ),
    ("GET", "/v1/settings/risk-weights", None, ("admin",)),
    ("GET", "/v1/webhooks", None, ("admin",)),
    ("GET", "/v1/ingest/rejections", None, ("admin",)),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_roles(
    tenant: Any, seed: Any, method: str, path: str, body: dict[str, Any] | None, allowed: tuple[str, ...]
) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    seed.asset(admin, "a2", "c1")
    rec = seed.recommendation(admin, ["a1"])
    path = path.replace("REC", rec["id"])
    for role in ALL:
        response = tenant.client(role).request(method, path, json=body)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert role in response.json()["detail"]


def test_a_key_never_sees_or_changes_another_tenants_data(tenant: Any, other_tenant: Any, seed: Any) -> None:
    mine = tenant.client("admin")
    seed.customer(mine, "shared-id", name="Acme Water Works")
    seed.asset(mine, "pump-1", "shared-id")
    rec = seed.recommendation(mine, ["pump-1"])
    hook = mine.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()

    theirs = other_tenant.client("admin")
    assert theirs.get("/v1/customers").json()["items"] == []
    assert theirs.get("/v1/assets").json()["items"] == []
    assert theirs.get("/v1/recommendations").json()["items"] == []
    assert theirs.get("/v1/webhooks").json()["items"] == []
    for method, path, body in [
        ("GET", "/v1/customers/shared-id", None),
        ("PATCH", "/v1/customers/shared-id", {"name": "Hijacked"}),
        ("DELETE", "/v1/customers/shared-id", None),
        ("GET", "/v1/customers/shared-id/risk", None),
        ("GET", "/v1/assets/pump-1", None),
        ("PATCH", "/v1/assets/pump-1", {"criticality": 1}),
        ("GET", "/v1/assets/pump-1/health", None),
        ("GET", "/v1/assets/pump-1/telemetry", None),
        ("GET", f"/v1/recommendations/{rec['id']}", None),
        ("POST", f"/v1/recommendations/{rec['id']}/dismiss", None),
        ("POST", f"/v1/recommendations/{rec['id']}/outcome", {"fault_found": True}),
        ("POST", "/v1/assets", {"id": "x", "customer_id": "shared-id"}),
        ("POST", "/v1/incidents", {"customer_id": "shared-id", "kind": "outage", "opened_at": 1}),
        ("POST", "/v1/maintenance-events", {"asset_id": "pump-1", "kind": "failure", "occurred_at": 1}),
        ("POST", "/v1/recommendations", {"asset_ids": ["pump-1"], "window_start": 1, "window_end": 2}),
        ("GET", f"/v1/webhooks/{hook['id']}", None),
        ("GET", f"/v1/webhooks/{hook['id']}/deliveries", None),
        ("DELETE", f"/v1/webhooks/{hook['id']}", None),
    ]:
        response = theirs.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)

    # The same client-chosen id is free in the other tenant, and stays separate.
    seed.customer(theirs, "shared-id", name="Globex")
    assert mine.get("/v1/customers/shared-id").json()["name"] == "Acme Water Works"
    assert mine.get(f"/v1/recommendations/{rec['id']}").json()["status"] == "open"
    assert mine.get(f"/v1/webhooks/{hook['id']}").status_code == 200

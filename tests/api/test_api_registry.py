"""Customers and assets: CRUD, validation, assignment events, health, pagination."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from forestall.state.models import AssetHealth, Event


def test_customer_crud(admin: Any) -> None:
    body = {
        "id": "c-1",
        "name": "Acme Water Works",
        "segment": "key",
        "sla_tier": "gold",
        "visit_sensitivity": 0.4,
    }
    created = admin.post("/v1/customers", json=body)
    assert created.status_code == 201
    customer = created.json()
    assert {k: customer[k] for k in body} == body
    assert customer["created_at"].endswith("Z")
    assert customer["risk"] is not None and 0 <= customer["risk"]["risk_index"] <= 100

    duplicate = admin.post("/v1/customers", json=body)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]

    patched = admin.patch("/v1/customers/c-1", json={"sla_tier": "platinum"}).json()
    assert patched["sla_tier"] == "platinum" and patched["name"] == "Acme Water Works"

    replaced = admin.put("/v1/customers/c-1", json={"name": "Acme Ltd"}).json()
    assert (replaced["name"], replaced["segment"], replaced["sla_tier"]) == ("Acme Ltd", "standard", "silver")
    upserted = admin.put("/v1/customers/c-2", json={"name": "Globex"})
    assert upserted.status_code == 200 and upserted.json()["id"] == "c-2"

    assert admin.get("/v1/customers/c-1").json()["name"] == "Acme Ltd"
    assert admin.delete("/v1/customers/c-1").status_code == 204
    assert admin.get("/v1/customers/c-1").status_code == 404
    assert [c["id"] for c in admin.get("/v1/customers").json()["items"]] == ["c-2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "c", "name": "X", "visit_sensitivity": 1.5}, "visit_sensitivity"),
        ({"id": "c", "name": "X", "segment": "vip"}, "segment"),
        ({"id": "c", "name": "X", "sla_tier": "tin"}, "sla_tier"),
        ({"id": "bad id!", "name": "X"}, "id"),
        ({"id": "c", "name": ""}, "name"),
        ({"id": "c", "name": "X", "colour": "red"}, "colour"),
    ],
)
def test_customer_validation_is_422(admin: Any, body: dict[str, Any], field: str) -> None:
    response = admin.post("/v1/customers", json=body)
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


def test_patch_refuses_null_for_required_fields(admin: Any, seed: Any) -> None:
    seed.customer(admin, "c1")
    response = admin.patch("/v1/customers/c1", json={"name": None})
    assert response.status_code == 422 and "name may not be null" in response.text


def test_customer_with_assets_cannot_be_deleted(admin: Any, seed: Any) -> None:
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    response = admin.delete("/v1/customers/c1")
    assert response.status_code == 409 and "1 assets" in response.json()["detail"]


def _assignments(tenant: Any, asset_id: str) -> list[tuple[str | None, str | None]]:
    with tenant.db() as session:
        events = session.scalars(
            select(Event)
            .where(Event.tenant == tenant.name, Event.kind == "asset_assigned", Event.asset_id == asset_id)
            .order_by(Event.id)
        )
        return [(e.data["previous_customer_id"], e.data["customer_id"]) for e in events]


def test_assigning_an_asset_appends_asset_assigned_events(tenant: Any, admin: Any, seed: Any) -> None:
    seed.customer(admin, "c1")
    seed.customer(admin, "c2")
    asset = seed.asset(
        admin, "pump-1", "c1", asset_type="pump", site="north", criticality=5, safety_critical=True
    )
    assert (asset["customer_id"], asset["criticality"], asset["online"], asset["health"]) == (
        "c1",
        5,
        None,
        None,
    )

    assert admin.patch("/v1/assets/pump-1", json={"customer_id": "c2"}).json()["customer_id"] == "c2"
    assert admin.patch("/v1/assets/pump-1", json={"site": "south"}).json()["customer_id"] == "c2"
    assert admin.patch("/v1/assets/pump-1", json={"customer_id": None}).json()["customer_id"] is None
    assert admin.put("/v1/assets/pump-1", json={"customer_id": "c1"}).json()["customer_id"] == "c1"
    assert _assignments(tenant, "pump-1") == [(None, "c1"), ("c1", "c2"), ("c2", None), (None, "c1")]

    unknown = admin.patch("/v1/assets/pump-1", json={"customer_id": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["detail"]
    assert admin.post("/v1/assets", json={"id": "pump-1"}).status_code == 409
    assert admin.post("/v1/assets", json={"id": "pump-2", "criticality": 9}).status_code == 422


def test_unassigned_asset_needs_no_event(tenant: Any, admin: Any, seed: Any) -> None:
    seed.asset(admin, "loose-1", None)
    assert _assignments(tenant, "loose-1") == []
    assert admin.delete("/v1/assets/loose-1").status_code == 204
    assert admin.get("/v1/assets/loose-1").status_code == 404


def test_asset_health(tenant: Any, admin: Any, seed: Any) -> None:
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1")
    missing = admin.get("/v1/assets/pump-1/health")
    assert missing.status_code == 404 and "no health" in missing.json()["detail"]
    with tenant.db.begin() as session:
        session.add(
            AssetHealth(
                tenant=tenant.name,
                asset_id="pump-1",
                at=1_800_000_000.0,
                anomaly_score=0.7,
                failure_probability=0.42,
                ttf_hours=30.0,
                ttf_low_hours=20.0,
                ttf_high_hours=50.0,
                model_version="hst-1",
                top_sensors=["vibration_mm_s"],
                drift=False,
            )
        )
    health = tenant.client("grafana").get("/v1/assets/pump-1/health").json()
    assert health["failure_probability"] == 0.42 and health["at"] == "2027-01-15T08:00:00.000Z"
    listed = admin.get("/v1/assets").json()["items"][0]
    assert listed["health"]["top_sensors"] == ["vibration_mm_s"]


def test_cursor_pagination_walks_every_item_once(admin: Any, seed: Any) -> None:
    ids = [f"cust-{i:02d}" for i in range(7)]
    for customer_id in reversed(ids):
        seed.customer(admin, customer_id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/v1/customers", params=params).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3

    assert admin.get("/v1/customers", params={"cursor": "garbage!"}).status_code == 422
    assert admin.get("/v1/customers", params={"limit": 0}).status_code == 422


def test_asset_filters(admin: Any, seed: Any) -> None:
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1", site="north")
    seed.asset(admin, "a2", "c1", site="south")
    seed.asset(admin, "a3", None, site="north")
    ids = lambda **params: [a["id"] for a in admin.get("/v1/assets", params=params).json()["items"]]  # noqa: E731
    assert ids(customer="c1") == ["a1", "a2"]
    assert ids(site="north") == ["a1", "a3"]

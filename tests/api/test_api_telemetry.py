"""``GET /v1/assets/{id}/telemetry`` reads the telemetry store: one item per stored sample."""

from __future__ import annotations

from typing import Any

from forestall.contract import Sample
from forestall.settings import Settings


def _write(settings: Settings, tenant: str, asset: str, samples: list[Sample]) -> None:
    from forestall.series import SeriesTags
    from ingest.store import open_store

    store = open_store(settings)
    try:
        store.write_samples(SeriesTags(tenant=tenant, asset=asset), samples)
    finally:
        store.close()


def test_telemetry_items_sensors_and_paging(tenant: Any, seed: Any, settings: Settings) -> None:
    admin = tenant.client("admin")
    seed.asset(admin, "pump-1", None)
    start = tenant.now - 3600
    _write(
        settings,
        tenant.name,
        "pump-1",
        [Sample(start + i, {"temp_c": 60.0 + i, "vibration_mm_s": 2.0}) for i in range(101)],
    )

    window = {"from": "2027-01-15T06:59:00Z", "to": "2027-01-15T08:00:00Z"}
    body = tenant.client("fsm").get("/v1/assets/pump-1/telemetry", params=window).json()
    assert len(body["items"]) == 101 and body["next_cursor"] is None
    assert body["items"][0] == {
        "ts": "2027-01-15T07:00:00.000Z",
        "values": {"temp_c": 60.0, "vibration_mm_s": 2.0},
    }

    only_temp = admin.get("/v1/assets/pump-1/telemetry", params={**window, "sensor": "temp_c"}).json()
    assert only_temp["items"][-1]["values"] == {"temp_c": 160.0}

    # Default window: the last day of event time.
    assert len(admin.get("/v1/assets/pump-1/telemetry").json()["items"]) == 101

    seen: list[str] = []
    cursor = None
    while True:
        page = admin.get(
            "/v1/assets/pump-1/telemetry",
            params={**window, "limit": 40, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [item["ts"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 101 and len(set(seen)) == 101 and seen == sorted(seen)

    assert admin.get("/v1/assets/ghost/telemetry").status_code == 404
    assert admin.get("/v1/assets/pump-1/telemetry", params={"from": "soon"}).status_code == 422
    # A window that ends before it starts is empty: the schema cannot say "to ≥ from".
    reversed_window = admin.get("/v1/assets/pump-1/telemetry", params={"from": tenant.now, "to": start + 50})
    assert reversed_window.status_code == 200 and reversed_window.json() == {"items": [], "next_cursor": None}

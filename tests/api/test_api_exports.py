"""CSV exports and the Grafana alert integration."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy import select

from forestall.state.models import Event
from tests.api.conftest import EVENT_NOW, GRAFANA_TOKEN, Tenant


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_risk_export_ranks_customers_with_their_contributions(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "calm")
    seed.customer(admin, "angry", name="=HYPERLINK(1)")
    seed.customer(admin, "unscored")
    for customer in ("calm", "angry"):
        assert admin.get(f"/v1/customers/{customer}/risk").status_code == 200
    for i in range(3):
        incident = {
            "customer_id": "angry",
            "kind": "outage",
            "opened_at": EVENT_NOW - 3600 * (i + 1),
            "duration_min": 240,
        }
        assert admin.post("/v1/incidents", json=incident).status_code == 201
    assert (
        admin.post(
            "/v1/feedback", json={"customer_id": "angry", "kind": "csat", "score": 1, "at": EVENT_NOW}
        ).status_code
        == 201
    )

    rows = rows_of(tenant.client("dispatcher").get("/v1/exports/risk.csv"))
    assert [r["customer_id"] for r in rows] == ["angry", "calm", "unscored"]
    angry = rows[0]
    assert angry["name"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
    contributions = {k: float(v) for k, v in angry.items() if k.startswith("contribution_")}
    assert contributions and abs(sum(contributions.values()) - float(angry["risk_index"])) < 0.05
    assert float(angry["risk_index"]) > float(rows[1]["risk_index"])


def test_recommendation_export_filters_and_stays_in_the_tenant(
    tenant: Tenant, other_tenant: Tenant, seed: Any
) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    for asset in ("a1", "a2"):
        seed.asset(admin, asset, "c1")
    first = seed.recommendation(admin, ["a1"], priority="P1")
    second = seed.recommendation(admin, ["a2"])
    assert admin.post(f"/v1/recommendations/{second['id']}/dismiss").status_code == 200
    seed.customer(other_tenant.client(), "c1")
    seed.asset(other_tenant.client(), "a9", "c1")
    seed.recommendation(other_tenant.client(), ["a9"])

    rows = rows_of(admin.get("/v1/exports/recommendations.csv"))
    assert {r["id"] for r in rows} == {first["id"], second["id"]}
    open_rows = rows_of(admin.get("/v1/exports/recommendations.csv?status=open"))
    assert [(r["id"], r["priority"], r["asset_ids"], r["customer_id"]) for r in open_rows] == [
        (first["id"], "P1", "a1", "c1")
    ]
    assert open_rows[0]["sla_due_at"] == first["sla_due_at"]
    assert admin.get("/v1/exports/recommendations.csv?status=bogus").status_code == 422
    assert tenant.client("fsm").get("/v1/exports/recommendations.csv").status_code == 403
    assert tenant.client("fsm").get("/v1/exports/risk.csv").status_code == 403


GRAFANA_BODY = {
    "receiver": "forestall",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighVibration", "asset": "pump-7"},
            "annotations": {"summary": "vibration above 7 mm/s"},
            "startsAt": "2027-01-15T07:55:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc123",
            "valueString": "[ var='A' value=7.4 ]",
        },
        {"status": "resolved", "labels": {"alertname": "Other"}, "startsAt": "0001-01-01T00:00:00Z"},
    ],
    "groupLabels": {},
    "version": "1",
}


def test_grafana_alerts_are_recorded_as_events_of_the_tenant(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-7", "c1")
    url = f"{tenant.url}/v1/integrations/grafana"
    with httpx.Client(headers={"authorization": f"Bearer {GRAFANA_TOKEN}"}) as grafana:
        response = grafana.post(url, params={"tenant": tenant.name}, json=GRAFANA_BODY)
        assert response.status_code == 202, response.text
        assert response.json()["recorded"] == 2
        assert grafana.post(url, json=GRAFANA_BODY).status_code == 422  # which tenant?
    with httpx.Client(headers={"authorization": f"Bearer {tenant.keys['grafana']}"}) as keyed:
        assert keyed.post(url, json={"alerts": []}).json() == {
            "recorded": 0,
            "event_ids": [],
            "ignored_other_tenant": 0,
        }
        other = {"alerts": [{"status": "firing", "labels": {"alertname": "X", "tenant": "someone-else"}}]}
        assert keyed.post(url, json=other).json()["ignored_other_tenant"] == 1
    assert httpx.post(url, params={"tenant": tenant.name}, json=GRAFANA_BODY).status_code == 401
    wrong = httpx.post(
        url, params={"tenant": tenant.name}, json=GRAFANA_BODY, headers={"authorization": "Bearer x"}
    )
    assert wrong.status_code == 401
    assert tenant.client("fsm").post(url, json=GRAFANA_BODY).status_code == 403

    with tenant.db() as session:
        events = list(
            session.scalars(select(Event).where(Event.tenant == tenant.name, Event.kind == "grafana_alert"))
        )
    by_name = {e.data["alertname"]: e for e in events}
    assert set(by_name) == {"HighVibration", "Other"}
    firing = by_name["HighVibration"]
    assert (firing.asset_id, firing.customer_id) == ("pump-7", "c1")
    assert firing.occurred_at == EVENT_NOW - 300
    assert firing.data["annotations"] == {"summary": "vibration above 7 mm/s"}
    assert by_name["Other"].asset_id is None and by_name["Other"].occurred_at == EVENT_NOW

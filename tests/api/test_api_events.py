"""Maintenance events, incidents and feedback: validation, events for the worker, risk at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from forestall.state.models import Event


def _events(tenant: Any, kind: str) -> list[Event]:
    with tenant.db() as session:
        return list(session.scalars(select(Event).where(Event.tenant == tenant.name, Event.kind == kind)))


def test_maintenance_events(tenant: Any, seed: Any) -> None:
    admin, fsm = tenant.client("admin"), tenant.client("fsm")
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1")
    body = {
        "asset_id": "pump-1",
        "kind": "failure",
        "occurred_at": "2027-01-14T10:00:00Z",
        "fault_code": "SEAL",
    }
    created = fsm.post("/v1/maintenance-events", json=body)
    assert created.status_code == 201
    event = created.json()
    assert (event["asset_id"], event["customer_id"], event["kind"], event["fault_code"]) == (
        "pump-1",
        "c1",
        "failure",
        "SEAL",
    )
    assert event["occurred_at"] == "2027-01-14T10:00:00.000Z"
    fsm.post("/v1/maintenance-events", json={**body, "kind": "repair", "occurred_at": "2027-01-14T12:00:00Z"})

    stored = _events(tenant, "maintenance")
    assert [(e.asset_id, e.data["kind"]) for e in stored] == [("pump-1", "failure"), ("pump-1", "repair")]
    listed = fsm.get("/v1/maintenance-events", params={"asset": "pump-1"}).json()["items"]
    assert [e["kind"] for e in listed] == ["repair", "failure"]  # newest first
    assert [
        e["kind"] for e in fsm.get("/v1/maintenance-events", params={"kind": "failure"}).json()["items"]
    ] == ["failure"]

    assert fsm.post("/v1/maintenance-events", json={**body, "asset_id": "ghost"}).status_code == 404
    assert fsm.post("/v1/maintenance-events", json={**body, "kind": "explosion"}).status_code == 422


def test_incident_validation(tenant: Any, seed: Any) -> None:
    client = tenant.client("dispatcher")
    seed.customer(tenant.client("admin"), "c1")
    base = {"customer_id": "c1", "kind": "outage", "opened_at": "2027-01-15T06:00:00Z"}
    early = client.post("/v1/incidents", json={**base, "resolved_at": "2027-01-15T05:00:00Z"})
    assert early.status_code == 422 and "resolved_at must not be before opened_at" in early.text
    assert client.post("/v1/incidents", json={**base, "kind": "flood"}).status_code == 422
    assert client.post("/v1/incidents", json={**base, "duration_min": -1}).status_code == 422
    assert client.post("/v1/incidents", json={**base, "customer_id": "ghost"}).status_code == 404


@pytest.mark.parametrize(
    ("kind", "score", "message"),
    [
        ("csat", 0, "csat score must be between 1 and 5, got 0"),
        ("csat", 6, "csat score must be between 1 and 5, got 6"),
        ("nps", -1, "nps score must be between 0 and 10, got -1"),
        ("nps", 11, "nps score must be between 0 and 10, got 11"),
        ("ces", 0, "ces score must be between 1 and 7, got 0"),
        ("ces", 8, "ces score must be between 1 and 7, got 8"),
    ],
)
def test_feedback_scores_out_of_range_are_422(
    tenant: Any, seed: Any, kind: str, score: float, message: str
) -> None:
    seed.customer(tenant.client("admin"), "c1")
    response = tenant.client("fsm").post(
        "/v1/feedback", json={"customer_id": "c1", "kind": kind, "score": score, "at": 1_800_000_000}
    )
    assert response.status_code == 422
    assert message in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("kind", "score"), [("csat", 1), ("csat", 5), ("nps", 0), ("nps", 10), ("ces", 1), ("ces", 7)]
)
def test_feedback_scores_at_the_bounds_are_accepted(tenant: Any, seed: Any, kind: str, score: float) -> None:
    seed.customer(tenant.client("admin"), "c1")
    response = tenant.client("fsm").post(
        "/v1/feedback", json={"customer_id": "c1", "kind": kind, "score": score, "at": "2027-01-15T07:00:00Z"}
    )
    assert response.status_code == 201, response.text
    assert (response.json()["kind"], response.json()["score"]) == (kind, score)


def _risk(client: Any, customer_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/customers/{customer_id}/risk")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_incidents_and_feedback_change_risk_at_once(tenant: Any, seed: Any) -> None:
    admin, dispatcher = tenant.client("admin"), tenant.client("dispatcher")
    seed.customer(admin, "c1", segment="key")
    before = _risk(dispatcher, "c1")
    assert before["contributions"]["outages"] == 0 and before["contributions"]["csat"] == 0

    outage = {
        "customer_id": "c1",
        "kind": "outage",
        "opened_at": "2027-01-15T06:00:00Z",
        "resolved_at": "2027-01-15T07:30:00Z",
    }
    assert dispatcher.post("/v1/incidents", json=outage).status_code == 201
    after_outage = _risk(dispatcher, "c1")
    assert after_outage["contributions"]["outages"] > 0
    assert after_outage["risk_index"] > before["risk_index"]

    csat = {
        "customer_id": "c1",
        "kind": "csat",
        "score": 1,
        "at": "2027-01-15T07:45:00Z",
        "comment": "late again",
    }
    assert dispatcher.post("/v1/feedback", json=csat).status_code == 201
    after_csat = _risk(dispatcher, "c1")
    assert after_csat["contributions"]["csat"] > 0
    assert after_csat["risk_index"] > after_outage["risk_index"]

    incidents = dispatcher.get("/v1/incidents", params={"customer": "c1"}).json()["items"]
    assert [(i["kind"], i["resolved_at"]) for i in incidents] == [("outage", "2027-01-15T07:30:00.000Z")]
    feedback = dispatcher.get("/v1/feedback", params={"kind": "csat"}).json()["items"]
    assert [(f["score"], f["comment"]) for f in feedback] == [(1, "late again")]
    stored = _events(tenant, "incident")
    assert stored[0].data["resolved_at"] == 1_800_000_000.0 - 1800  # epoch seconds for the predictor


def test_risk_is_computed_when_missing(tenant: Any, seed: Any) -> None:
    from forestall.state.models import CustomerRisk

    seed.customer(tenant.client("admin"), "c1")
    with tenant.db.begin() as session:
        session.query(CustomerRisk).filter_by(tenant=tenant.name).delete()
    risk = _risk(tenant.client("fsm"), "c1")
    assert risk["customer_id"] == "c1" and risk["at"] == "2027-01-15T08:00:00.000Z"
    assert abs(sum(risk["contributions"].values()) - risk["risk_index"]) < 0.05
    assert tenant.client("fsm").get("/v1/customers/ghost/risk").status_code == 404


def test_event_lists_page_newest_first(tenant: Any, seed: Any) -> None:
    client = tenant.client("fsm")
    seed.customer(tenant.client("admin"), "c1")
    for score in range(11):
        client.post(
            "/v1/feedback", json={"customer_id": "c1", "kind": "nps", "score": score, "at": 1_800_000_000}
        )
    scores: list[float] = []
    cursor = None
    while True:
        page = client.get(
            "/v1/feedback", params={"limit": 4, **({"cursor": cursor} if cursor else {})}
        ).json()
        scores += [f["score"] for f in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert scores == list(range(10, -1, -1))

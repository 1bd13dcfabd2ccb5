"""Recommendations: listing with filters and paging, manual ones, the lifecycle and outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from forestall.state.models import Event, OutboxEvent, Recommendation

EVENT_NOW = 1_800_000_000.0  # the tenants' event clock (2027-01-15T08:00:00Z), see conftest


def _outbox(tenant: Any, type_: str) -> list[dict[str, Any]]:
    with tenant.db() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.tenant == tenant.name, OutboxEvent.type == type_)
            .order_by(OutboxEvent.id)
        )
        return [row.data for row in rows]


def _insert(tenant: Any, rec_id: str, asset_ids: list[str], **fields: Any) -> None:
    values: dict[str, Any] = {
        "id": f"{tenant.name}-{rec_id}",
        "tenant": tenant.name,
        "customer_id": "c1",
        "site": None,
        "asset_ids": asset_ids,
        "status": "open",
        "priority": "P2",
        "priority_score": 0.5,
        "reason": {"signals": ["trend"]},
        "predicted_failure_at": EVENT_NOW + 86400,
        "confidence": 0.8,
        "window_start": EVENT_NOW,
        "window_end": EVENT_NOW + 3600,
        "sla_due_at": EVENT_NOW + 7200,
        "fits_sla": True,
        "risk_index": 30.0,
        "created_at": EVENT_NOW,
        "updated_at": EVENT_NOW,
        **fields,
    }
    with tenant.db.begin() as session:
        session.add(Recommendation(**values))


def test_manual_recommendation(tenant: Any, seed: Any) -> None:
    admin, dispatcher = tenant.client("admin"), tenant.client("dispatcher")
    seed.customer(admin, "c1", sla_tier="platinum")
    seed.asset(admin, "pump-1", "c1", site="north")
    rec = seed.recommendation(dispatcher, ["pump-1"], priority="P1", notes="customer called")
    assert (rec["status"], rec["priority"], rec["customer_id"], rec["site"], rec["source"]) == (
        "open",
        "P1",
        "c1",
        "north",
        "manual",
    )
    assert rec["id"].startswith("rec_") and rec["created_at"] == "2027-01-15T08:00:00.000Z"
    # Platinum answers within 4 h of event time; the window opens after 1 h.
    assert rec["sla_due_at"] == "2027-01-15T12:00:00.000Z" and rec["fits_sla"] is True
    assert _outbox(tenant, "visit.recommended") == [rec]

    again = dispatcher.post(
        "/v1/recommendations", json={"asset_ids": ["pump-1"], "window_start": 1, "window_end": 2}
    )
    assert again.status_code == 409 and rec["id"] in again.json()["detail"]
    bad_window = dispatcher.post(
        "/v1/recommendations", json={"asset_ids": ["pump-1"], "window_start": 5, "window_end": 2}
    )
    assert bad_window.status_code == 422 and "window_end" in bad_window.text
    unknown = dispatcher.post(
        "/v1/recommendations", json={"asset_ids": ["nope"], "window_start": 1, "window_end": 2}
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]


def test_lifecycle_transitions(tenant: Any, seed: Any) -> None:
    admin, fsm = tenant.client("admin"), tenant.client("fsm")
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1")
    rec_id = seed.recommendation(admin, ["pump-1"])["id"]
    path = f"/v1/recommendations/{rec_id}"

    accepted = fsm.post(f"{path}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = fsm.post(f"{path}/accept")
    assert again.status_code == 409
    assert again.json()["detail"] == "cannot accept a recommendation that is 'accepted' (allowed from: open)"

    scheduled = fsm.post(f"{path}/schedule", json={"scheduled_for": "2027-01-15T10:30:00+01:00"}).json()
    assert (scheduled["status"], scheduled["scheduled_for"]) == ("scheduled", "2027-01-15T09:30:00.000Z")
    rescheduled = fsm.post(f"{path}/schedule", json={"scheduled_for": EVENT_NOW + 7200}).json()
    assert rescheduled["scheduled_for"] == "2027-01-15T10:00:00.000Z"
    assert fsm.post(f"{path}/schedule", json={}).status_code == 422
    assert fsm.post(f"{path}/schedule", json={"scheduled_for": "tomorrow"}).status_code == 422

    dismissed = fsm.post(f"{path}/dismiss", json={"reason": "customer declined"}).json()
    assert (dismissed["status"], dismissed["close_reason"]) == ("dismissed", "customer declined")
    assert dismissed["closed_at"] == "2027-01-15T08:00:00.000Z"
    for action in ("accept", "dismiss", "complete"):
        refused = fsm.post(f"{path}/{action}")
        assert refused.status_code == 409 and "'dismissed'" in refused.json()["detail"]
    assert fsm.post(f"{path}/outcome", json={"fault_found": True}).status_code == 409

    updated = _outbox(tenant, "visit.updated")
    assert [u["status"] for u in updated] == ["accepted", "scheduled", "scheduled"]
    cancelled = _outbox(tenant, "visit.cancelled")
    assert len(cancelled) == 1 and cancelled[0]["reason"] == "customer declined"
    assert cancelled[0]["id"] == rec_id and cancelled[0]["status"] == "dismissed"


def test_dismiss_without_body_and_complete(tenant: Any, seed: Any) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    seed.asset(admin, "a2", "c1")
    first = seed.recommendation(admin, ["a1"])["id"]
    second = seed.recommendation(admin, ["a2"])["id"]
    assert admin.post(f"/v1/recommendations/{first}/dismiss").json()["close_reason"] == "dismissed"
    completed = admin.post(f"/v1/recommendations/{second}/complete").json()
    assert (completed["status"], completed["outcome"]) == ("completed", None)
    assert admin.post(f"/v1/recommendations/{second}/complete").status_code == 409
    assert admin.post("/v1/recommendations/rec_missing/accept").status_code == 404


def test_outcome_completes_appends_events_and_emits_visit_completed(tenant: Any, seed: Any) -> None:
    admin, fsm = tenant.client("admin"), tenant.client("fsm")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1", site="s")
    seed.asset(admin, "a2", "c1", site="s")
    rec_id = seed.recommendation(admin, ["a1", "a2"])["id"]
    body = {
        "fault_found": True,
        "fault_code": "BRG-12",
        "repaired_at": "2027-01-15T09:00:00Z",
        "notes": "bearing",
    }
    response = fsm.post(f"/v1/recommendations/{rec_id}/outcome", json=body)
    assert response.status_code == 200
    rec = response.json()
    assert rec["status"] == "completed"
    assert rec["outcome"] == {
        "fault_found": True,
        "fault_code": "BRG-12",
        "repaired_at": "2027-01-15T09:00:00.000Z",
        "notes": "bearing",
        "recorded_at": "2027-01-15T08:00:00.000Z",
    }
    with tenant.db() as session:
        events = list(
            session.scalars(select(Event).where(Event.tenant == tenant.name, Event.kind == "outcome"))
        )
    assert sorted(e.asset_id for e in events) == ["a1", "a2"]
    assert {
        (e.customer_id, e.occurred_at, e.data["fault_found"], e.data["recommendation_id"]) for e in events
    } == {("c1", EVENT_NOW + 3600, True, rec_id)}
    assert _outbox(tenant, "visit.completed") == [rec]

    twice = fsm.post(f"/v1/recommendations/{rec_id}/outcome", json={"fault_found": False})
    assert twice.status_code == 409 and "already recorded" in twice.json()["detail"]
    assert fsm.post(f"/v1/recommendations/{rec_id}/outcome", json={}).status_code == 422


def test_outcome_after_complete_is_allowed_once(tenant: Any, seed: Any) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    rec_id = seed.recommendation(admin, ["a1"])["id"]
    admin.post(f"/v1/recommendations/{rec_id}/complete")
    rec = admin.post(f"/v1/recommendations/{rec_id}/outcome", json={"fault_found": False}).json()
    assert rec["status"] == "completed" and rec["outcome"]["fault_found"] is False


def test_list_filters_and_paging(tenant: Any, seed: Any) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    seed.customer(admin, "c2")
    _insert(tenant, "r1", ["pump_1"], created_at=EVENT_NOW - 300, priority="P1")
    _insert(tenant, "r2", ["pumpX1"], created_at=EVENT_NOW - 200, status="accepted")
    _insert(
        tenant, "r3", ["pump_1", "pump-9"], created_at=EVENT_NOW - 100, status="completed", customer_id="c2"
    )
    _insert(tenant, "r4", ["a4"], created_at=EVENT_NOW - 100, status="dismissed", priority="P4")
    _insert(tenant, "r5", ["a5"], created_at=EVENT_NOW, priority="P1")

    def ids(**params: Any) -> list[str]:
        response = admin.get("/v1/recommendations", params=params)
        assert response.status_code == 200, response.text
        return [r["id"].removeprefix(f"{tenant.name}-") for r in response.json()["items"]]

    assert ids() == ["r5", "r4", "r3", "r2", "r1"]
    assert ids(status="open,accepted") == ["r5", "r2", "r1"]
    assert ids(status=["open", "completed"]) == ["r5", "r3", "r1"]
    assert ids(priority="P1") == ["r5", "r1"]
    assert ids(customer="c2") == ["r3"]
    assert ids(asset="pump_1") == ["r3", "r1"]  # "_" is literal, pumpX1 does not match
    assert ids(**{"from": "2027-01-15T07:56:00Z", "to": EVENT_NOW}) == ["r4", "r3", "r2"]
    assert admin.get("/v1/recommendations", params={"status": "lost"}).status_code == 422
    assert admin.get("/v1/recommendations", params={"from": "yesterday"}).status_code == 422

    walked: list[str] = []
    cursor = None
    while True:
        page = admin.get(
            "/v1/recommendations", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        walked += [r["id"].removeprefix(f"{tenant.name}-") for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert walked == ["r5", "r4", "r3", "r2", "r1"]
    one = admin.get(f"/v1/recommendations/{tenant.name}-r3").json()
    assert one["asset_ids"] == ["pump_1", "pump-9"] and one["reason"] == {"signals": ["trend"]}


@pytest.mark.parametrize("status", ["expired", "cancelled", "completed"])
def test_closed_recommendations_refuse_every_action(tenant: Any, status: str) -> None:
    _insert(tenant, "closed", ["a1"], status=status)
    client = tenant.client("dispatcher")
    for action in ("accept", "dismiss", "complete"):
        response = client.post(f"/v1/recommendations/{tenant.name}-closed/{action}")
        assert response.status_code == 409 and f"'{status}'" in response.json()["detail"]

"""Recommendations of kind ``sensor_check``: the field, the ``?kind=`` filter, webhooks, outcomes
that repair a sensor (not the machine), and sensor checks that block no failure visit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from forestall.state.models import Event
from predictor.service import label_of
from tests.api.test_api_recommendations import EVENT_NOW, _insert, _outbox

SENSOR = {"channel": "temp_c", "fault": "stuck", "onset": EVENT_NOW - 7200, "confidence": 0.9}


def _sensor_check(tenant: Any, rec_id: str, asset: str, **fields: Any) -> None:
    reason = {"summary": "sensor check: temp_c stuck", "sensor": SENSOR, "top_sensors": ["temp_c"]}
    _insert(
        tenant, rec_id, [asset], kind="sensor_check", predicted_failure_at=None, priority="P4",
        confidence=0.9, reason=reason, **fields,
    )  # fmt: skip


def test_the_kind_is_in_every_recommendation_and_filters_the_list(tenant: Any, seed: Any) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    _insert(tenant, "f1", ["a1"], created_at=EVENT_NOW - 100)
    _sensor_check(tenant, "s1", "a1")

    def listed(**params: Any) -> list[tuple[str, str]]:
        response = admin.get("/v1/recommendations", params=params)
        assert response.status_code == 200, response.text
        return [(r["id"].removeprefix(f"{tenant.name}-"), r["kind"]) for r in response.json()["items"]]

    assert listed() == [("s1", "sensor_check"), ("f1", "failure")]
    assert listed(kind="sensor_check") == [("s1", "sensor_check")]
    assert listed(kind="failure") == [("f1", "failure")]
    assert listed(kind="failure,sensor_check") == [("s1", "sensor_check"), ("f1", "failure")]
    refused = admin.get("/v1/recommendations", params={"kind": "hunch"})
    assert refused.status_code == 422 and "sensor_check" in refused.text
    one = admin.get(f"/v1/recommendations/{tenant.name}-s1").json()
    assert one["predicted_failure_at"] is None and one["reason"]["sensor"]["channel"] == "temp_c"
    csv = admin.get("/v1/exports/recommendations.csv", params={"kind": "sensor_check"}).text.splitlines()
    assert csv[0].endswith(",kind") and len(csv) == 2 and csv[1].endswith(",sensor_check")


def test_a_manual_failure_visit_is_not_blocked_by_an_open_sensor_check(tenant: Any, seed: Any) -> None:
    admin, dispatcher = tenant.client("admin"), tenant.client("dispatcher")
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1")
    _sensor_check(tenant, "s1", "pump-1")
    rec = seed.recommendation(dispatcher, ["pump-1"])
    assert rec["kind"] == "failure" and _outbox(tenant, "visit.recommended") == [rec]


def test_a_sensor_checks_outcome_repairs_the_sensor_not_the_machine(tenant: Any, seed: Any) -> None:
    admin, fsm = tenant.client("admin"), tenant.client("fsm")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    _sensor_check(tenant, "s1", "a1")
    rec_id = f"{tenant.name}-s1"
    done = fsm.post(f"/v1/recommendations/{rec_id}/outcome", json={"fault_found": True})
    assert done.status_code == 200 and done.json()["kind"] == "sensor_check"
    assert [w["kind"] for w in _outbox(tenant, "visit.completed")] == ["sensor_check"]
    with tenant.db() as session:
        [event] = session.scalars(select(Event).where(Event.tenant == tenant.name, Event.kind == "outcome"))
    assert event.data["recommendation_kind"] == "sensor_check" and event.data["sensor"] == "temp_c"
    assert label_of(event) == "sensor_repair:temp_c"  # never "fault": the machine was not the problem


def test_a_sensor_repair_can_be_reported_as_maintenance(tenant: Any, seed: Any) -> None:
    admin, fsm = tenant.client("admin"), tenant.client("fsm")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    body = {"asset_id": "a1", "kind": "sensor_repair", "occurred_at": EVENT_NOW, "sensor": "flow_m3h"}
    response = fsm.post("/v1/maintenance-events", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["sensor"] == "flow_m3h"
    with tenant.db() as session:
        [event] = session.scalars(
            select(Event).where(Event.tenant == tenant.name, Event.kind == "maintenance")
        )
    assert label_of(event) == "sensor_repair:flow_m3h"

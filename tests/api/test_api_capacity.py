"""Technician capacity at the worker's edge and in the API: the worker's plan (``Visits.schedule``)
books the most harmful visit into a technician's working time, marks the one nothing fits before
its failure ``overbooked`` with the earliest slot that would, tells the FSM once, holds an accepted
visit's slot, and withdraws the plan when no technician is left; ``?overbooked=`` lists them."""

from __future__ import annotations

import time
from typing import Any

from forestall.state.models import Recommendation, Technician
from predictor.engine import Predictor
from predictor.planner import PlannerPolicy
from predictor.visits import Visits
from tests.api.test_api_recommendations import EVENT_NOW, _insert, _outbox

HOUR = 3600.0
DAY = 24 * HOUR
# EVENT_NOW is Friday 2027-01-15 08:00 UTC; the technician works Fridays 08:00-12:00 UTC only.
FRIDAY_MORNINGS = {"fri": [["08:00", "12:00"]]}


def _plan(tenant: Any, now: float = EVENT_NOW) -> None:
    with tenant.db.begin() as session:
        Visits(Predictor(), PlannerPolicy()).schedule(session, tenant.name, now)


def test_scarce_time_goes_to_the_most_harmful_visit_and_the_rest_is_overbooked(
    tenant: Any, seed: Any
) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1", segment="key", sla_tier="gold")
    seed.asset(admin, "pump-1", "c1", asset_type="pump", site="north", criticality=5)
    seed.asset(admin, "pump-2", "c1", asset_type="pump", site="north", criticality=1)
    with tenant.db.begin() as session:
        session.add(
            Technician(tenant=tenant.name, id="tech-1", name="Ana", skills=["pump"], regions=["north"],
                       timezone="UTC", hours=FRIDAY_MORNINGS, active=True, created_at=time.time())
        )  # fmt: skip
    # the less harmful one came first: first come, first served would give it the morning
    _insert(tenant, "low", ["pump-2"], site="north", confidence=0.75, created_at=EVENT_NOW - HOUR,
            predicted_failure_at=EVENT_NOW + 5 * HOUR, window_end=EVENT_NOW + 3 * HOUR)  # fmt: skip
    _insert(tenant, "high", ["pump-1"], site="north", confidence=0.9,
            predicted_failure_at=EVENT_NOW + 4 * HOUR, window_end=EVENT_NOW + 2 * HOUR)  # fmt: skip
    _plan(tenant)

    def get(rec: str) -> dict[str, Any]:
        response = admin.get(f"/v1/recommendations/{tenant.name}-{rec}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    high, low = get("high"), get("low")
    assert high["overbooked"] is False and low["overbooked"] is True
    assert high["capacity"]["rank"] == 1 and low["capacity"]["rank"] == 2
    assert high["capacity"]["technician_id"] == "tech-1"
    # travel and two hours of work from 08:00; the window stretches to the booked slot
    assert (high["capacity"]["start"], high["capacity"]["end"]) == (
        "2027-01-15T08:00:00.000Z",
        "2027-01-15T11:00:00.000Z",
    )
    assert high["window_end"] == "2027-01-15T11:00:00.000Z"
    # what would fit: next Friday morning, long after the failure; its window is not stretched
    assert (
        low["capacity"]["start"] == "2027-01-22T08:00:00.000Z"
        and low["window_end"] == "2027-01-15T11:00:00.000Z"
    )
    factors = high["capacity"]["harm_factors"]
    assert set(factors) == {"failure_probability", "urgency", "asset", "customer_risk", "segment", "sla"}
    assert high["capacity"]["harm"] > low["capacity"]["harm"] > 0
    assert [
        r["id"] for r in admin.get("/v1/recommendations", params={"overbooked": "true"}).json()["items"]
    ] == [f"{tenant.name}-low"]
    assert [
        r["id"] for r in admin.get("/v1/recommendations", params={"overbooked": "false"}).json()["items"]
    ] == [f"{tenant.name}-high"]
    assert admin.get("/v1/recommendations", params={"overbooked": "maybe"}).status_code == 422
    told = _outbox(tenant, "visit.updated")
    assert sorted((w["id"], w["overbooked"]) for w in told) == [
        (f"{tenant.name}-high", False),
        (f"{tenant.name}-low", True),
    ]

    _plan(tenant, EVENT_NOW + 600)  # ten minutes on, nothing changed: the FSM hears nothing new
    assert len(_outbox(tenant, "visit.updated")) == 2
    assert get("high")["capacity"]["start"] == "2027-01-15T08:00:00.000Z"  # under way, not moved to 08:10

    # the FSM accepts the high one: its slot is held; a new, still more harmful visit cannot take it
    with tenant.db.begin() as session:
        rec = session.get(Recommendation, f"{tenant.name}-high")
        assert rec is not None
        rec.status = "accepted"
    seed.asset(admin, "pump-3", "c1", asset_type="pump", site="north", criticality=5, safety_critical=True)
    _insert(tenant, "urgent", ["pump-3"], site="north", confidence=0.99, created_at=EVENT_NOW + 600,
            predicted_failure_at=EVENT_NOW + 3 * HOUR, window_end=EVENT_NOW + 2 * HOUR)  # fmt: skip
    _plan(tenant, EVENT_NOW + 600)
    urgent, low = get("urgent"), get("low")
    assert get("high")["capacity"]["start"] == "2027-01-15T08:00:00.000Z"
    # 11:00-14:00 overruns the shift: next Friday, ahead of the less harmful one, which moves past
    # the plan's two-week horizon: overbooked with nothing that would fit
    assert urgent["overbooked"] is True and urgent["capacity"]["start"] == "2027-01-22T08:00:00.000Z"
    assert urgent["capacity"]["rank"] == 1 and low["capacity"]["rank"] == 2
    assert low["overbooked"] is True and (low["capacity"]["technician_id"], low["capacity"]["start"]) == (
        None,
        None,
    )
    assert [w["id"] for w in _outbox(tenant, "visit.updated")[2:]] == [
        f"{tenant.name}-urgent",
        f"{tenant.name}-low",
    ]

    # the technician leaves: no plan holds, and the FSM is told
    with tenant.db.begin() as session:
        tech = session.get(Technician, (tenant.name, "tech-1"))
        assert tech is not None
        tech.active = False
    _plan(tenant, EVENT_NOW + 1200)
    assert get("low")["overbooked"] is None and get("low")["capacity"] is None
    assert {w["id"] for w in _outbox(tenant, "visit.updated")[-2:]} == {
        f"{tenant.name}-low",
        f"{tenant.name}-urgent",
    }


def test_without_technicians_nothing_is_planned(tenant: Any, seed: Any) -> None:
    admin = tenant.client("admin")
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1", asset_type="pump", site="north")
    _insert(tenant, "r1", ["pump-1"], site="north")
    _plan(tenant)
    rec = admin.get(f"/v1/recommendations/{tenant.name}-r1").json()
    assert rec["overbooked"] is None and rec["capacity"] is None and _outbox(tenant, "visit.updated") == []

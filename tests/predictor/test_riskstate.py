"""Customer risk from the state DB: incidents and surveys count, thresholds (a probability in
percent) emit webhooks, and the index says which model it was computed with."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import AssetHealth, Customer, OutboxEvent, RiskWeights
from forestall.state.repo import append_event
from predictor.riskstate import refresh_customer_risk
from tests.support import add_customer_with_asset

NOW = 1_795_460_400.0


def seed(session: Session) -> None:
    add_customer_with_asset(session, "p1", criticality=5, visit_sensitivity=0.2)
    session.add(RiskWeights(tenant="acme", weights={}, threshold_percent=30.0))


def test_incidents_surveys_and_health_raise_risk_and_cross_the_threshold(state_db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    with sessions.begin() as session:
        seed(session)
        calm = refresh_customer_risk(session, "acme", "c1", NOW)
        assert calm is not None and calm.risk_index == pytest.approx(10.0)  # the prior's base rate
        assert calm.contributions["base_rate"] == calm.risk_index
        assert calm.model == {"in_force": "prior", "outcomes": 0, "customer_days": 0}
        for kind in ("outage", "outage", "escalation"):
            append_event(
                session, "acme", "incident", NOW - 3600, {"kind": kind, "resolved_at": NOW}, customer_id="c1"
            )
        append_event(session, "acme", "feedback", NOW - 60, {"kind": "csat", "score": 1}, customer_id="c1")
        append_event(
            session, "acme", "incident", NOW - 40 * 86400, {"kind": "outage"}, customer_id="c1"
        )  # too old
        session.add(
            AssetHealth(
                tenant="acme",
                asset_id="p1",
                at=NOW,
                anomaly_score=0.9,
                failure_probability=0.9,
                ttf_hours=10.0,
                model_version="t",
            )
        )
        session.flush()
        troubled = refresh_customer_risk(session, "acme", "c1", NOW)
        assert troubled is not None
        assert troubled.risk_index > 30.0
        assert sum(troubled.contributions.values()) == pytest.approx(troubled.risk_index)
        assert troubled.contributions["outages"] > 0 and troubled.contributions["csat"] > 0
        assert troubled.contributions["predicted_disruption"] > troubled.contributions["escalations"] > 0
        once = refresh_customer_risk(session, "acme", "c1", NOW)
        assert once is not None and once.risk_index == troubled.risk_index
        assert refresh_customer_risk(session, "acme", "nobody", NOW) is None
    with sessions() as session:
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "risk.threshold_crossed"))
        assert event.data["customer_id"] == "c1" and event.data["previous"] == 10.0
        assert event.data["threshold"] == 30.0 and event.data["direction"] == "up"
        assert event.data["model"] == {"in_force": "prior", "outcomes": 0, "customer_days": 0}
        assert event.timestamp == NOW  # event time, not the wall clock


def test_an_incident_reported_again_when_resolved_counts_once(state_db_url: str) -> None:
    from predictor.riskstate import customer_factors

    sessions = make_sessionmaker(make_engine(state_db_url))
    with sessions.begin() as session:
        seed(session)
        append_event(session, "acme", "incident", NOW - 7200, {"kind": "outage"}, customer_id="c1")
        append_event(
            session, "acme", "incident", NOW - 7200, {"kind": "outage", "resolved_at": NOW}, customer_id="c1"
        )
        append_event(session, "acme", "incident", NOW - 600, {"kind": "outage"}, customer_id="c1")
        session.flush()
        customer = session.get(Customer, ("acme", "c1"))
        assert customer is not None
        factors = customer_factors(session, customer, ["p1"], NOW)
        assert factors.outages == 2
        assert factors.resolution_hours == (2.0,)

"""The predictor's I/O edge on a real state DB and store: decisions at the event time they were due."""

from __future__ import annotations

import math
import random
from pathlib import Path

from sqlalchemy import select

from forestall.contract import Sample
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, AssetHealth, Recommendation
from forestall.state.repo import append_event
from ingest.store.embedded import EmbeddedStore
from predictor.engine import Predictor
from predictor.planner import PlannerPolicy
from predictor.service import PLAN_EVERY_S, PredictorService
from tests.support import add_customer_with_asset

HOUR = 3600.0
START = 1_795_000_000.0


def wearing(hours: float) -> list[Sample]:
    """10-minute samples of a pump: healthy for a day and a half, then wear that keeps growing."""
    rng = random.Random(4)
    out = []
    for i in range(int(hours * 6)):
        t = i * 600.0
        wear = max(0.0, (t - 36 * HOUR) / (30 * HOUR)) ** 2
        day = math.sin(2 * math.pi * t / (24 * HOUR))
        values = {
            "temp_c": 60 + 3 * day + rng.gauss(0, 0.5) + 25 * min(wear, 1.0),
            "vibration_mm_s": 2.5 + 0.2 * day + rng.gauss(0, 0.1) + 8 * min(wear, 1.0),
        }
        out.append(Sample(START + t, values))
    return out


def test_a_backlog_expires_a_lapsed_recommendation_at_its_event_time_and_succeeds_it(
    state_db_url: str, tmp_path: Path
) -> None:
    """Days of event time in one chunk (a backlog, a replay): nobody acts on the recommendation,
    so it lapses when its window passes, in event time, and the failure still coming gets a new
    one on the next data, inside the same chunk (not seconds of wall clock, days of events, later)."""
    sessions = make_sessionmaker(make_engine(state_db_url))
    policy = PlannerPolicy()
    service = PredictorService(Predictor(), EmbeddedStore(tmp_path / "ts.sqlite"), policy)
    samples = wearing(6 * 24)
    with sessions.begin() as session:
        add_customer_with_asset(session, "p1", criticality=3, visit_sensitivity=0.2)
    with sessions.begin() as session:
        asset = session.get(Asset, ("acme", "p1"))
        assert asset is not None
        service.process(session, [(asset, samples)], {"acme": samples[-1].ts})
    with sessions() as session:
        recs = list(session.scalars(select(Recommendation).order_by(Recommendation.window_start)))
    assert len(recs) >= 2, [(r.status, r.window_start) for r in recs]
    first, second = recs[0], recs[1]
    grace = policy.expiry_grace_hours * HOUR
    assert (first.status, first.close_reason) == ("expired", "window_passed")
    assert first.closed_at is not None
    assert first.window_end + grace < first.closed_at <= first.window_end + grace + PLAN_EVERY_S + 600.0
    assert first.closed_at < second.window_start <= first.closed_at + PLAN_EVERY_S + 600.0
    assert second.window_start < samples[-1].ts - 24 * HOUR  # well inside the chunk, not at its end


def healthy(hours: float, start: float = START, seed: int = 5) -> list[Sample]:
    rng = random.Random(seed)
    return [
        Sample(
            start + i * 600.0, {"temp_c": 60 + rng.gauss(0, 0.5), "vibration_mm_s": 2.5 + rng.gauss(0, 0.1)}
        )
        for i in range(int(hours * 6))
    ]


def test_a_grafana_alert_opens_a_visit_the_models_would_not_and_a_resolved_one_ends_it(
    state_db_url: str, tmp_path: Path
) -> None:
    """Alerts recorded by the API (``grafana_alert`` events) go through the same planner as the
    models: an asset alert opens a P2-or-higher visit for a healthy pump; a customer-level alert
    marks the customer's asset most at risk; a resolved alert clears the mark."""
    sessions = make_sessionmaker(make_engine(state_db_url))
    service = PredictorService(Predictor(), EmbeddedStore(tmp_path / "ts.sqlite"))
    with sessions.begin() as session:
        add_customer_with_asset(session, "p1", criticality=3, visit_sensitivity=0.2)
        session.add(
            Asset(
                tenant="acme",
                id="p2",
                customer_id="c1",
                asset_type="pump",
                site="s2",
                criticality=3,
                safety_critical=False,
                created_at=0.0,
            )
        )

    def feed(samples: dict[str, list[Sample]]) -> None:
        with sessions.begin() as session:
            batches = [(session.get(Asset, ("acme", a)), s) for a, s in samples.items()]
            clock = max(s[-1].ts for s in samples.values())
            service.process(session, batches, {"acme": clock})  # type: ignore[arg-type]

    def alert(status: str, name: str, at: float, **link: str) -> None:
        with sessions.begin() as session:
            data = {"status": status, "alertname": name, "labels": {}, "notified_at": at}
            append_event(session, "acme", "grafana_alert", at, data, **link)

    first = {"p1": healthy(48), "p2": healthy(48, seed=6)}
    feed(first)
    with sessions() as session:
        assert session.scalars(select(Recommendation)).all() == []  # healthy: the models see no visit
    at = first["p1"][-1].ts
    alert("firing", "PumpPressureLow", at, asset_id="p1")
    feed({"p1": healthy(1, at + 600.0), "p2": healthy(1, at + 600.0, seed=6)})
    with sessions() as session:
        [rec] = session.scalars(select(Recommendation)).all()
    assert (rec.asset_ids, rec.source, rec.reason["alerts"]) == (["p1"], "grafana", ["PumpPressureLow"])
    assert rec.priority <= "P2" and rec.status == "open"

    at += 3600.0
    alert("resolved", "PumpPressureLow", at, asset_id="p1")
    feed({"p1": healthy(1, at + 600.0), "p2": healthy(1, at + 600.0, seed=6)})
    assert service.predictor.alerts.active(("acme", "p1"), at + 3600.0) == ()

    # a customer-level alert: the customer's assets most at risk, by the health the state DB holds
    # (here p2, pushed up by hand)
    with sessions.begin() as session:
        row = session.get(AssetHealth, ("acme", "p2"))
        assert row is not None
        row.failure_probability = 0.4
    alert("firing", "CustomerRiskHigh", at + 600.0, customer_id="c1")
    with sessions.begin() as session:
        service.process(session, [], {"acme": at + 1200.0})
    assert service.predictor.alerts.active(("acme", "p2"), at + 1200.0) == ("CustomerRiskHigh",)
    assert service.predictor.alerts.active(("acme", "p1"), at + 1200.0) == ()
    with sessions() as session:
        opened = {tuple(r.asset_ids): r for r in session.scalars(select(Recommendation))}
    assert ("p2",) in opened and opened[("p2",)].reason["alerts"] == ["CustomerRiskHigh"]


def test_the_worker_charts_contract_events_with_the_customers_segment(
    state_db_url: str, tmp_path: Path
) -> None:
    """A contract event the API recorded becomes a ``contract`` point at its event time, tagged
    with the customer's segment and the kind, for the Customer experience dashboard."""
    sessions = make_sessionmaker(make_engine(state_db_url))
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    service = PredictorService(Predictor(), store, PlannerPolicy())
    with sessions.begin() as session:
        add_customer_with_asset(session, "p1", criticality=3, visit_sensitivity=0.2)
        append_event(
            session, "acme", "contract", START, {"kind": "downgraded", "reason": "price"}, customer_id="c1"
        )
    with sessions.begin() as session:
        service.process(session, [], {"acme": START})
    [point] = store.query_points("contract", "acme", "", START - 1, START + 1)
    assert (dict(point.tags), dict(point.fields)) == (
        {"tenant": "acme", "customer": "c1", "segment": "key", "kind": "downgraded"},
        {"count": 1.0},
    )
    assert math.isclose(point.ts, START, abs_tol=0.001)

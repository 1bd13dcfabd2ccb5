"""The worker takes the Experience index's customer-days as its tenants' event clocks pass
midnight, inside a backlog too, and only on the worker that owns the tenant's index."""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import select

from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, ExperienceSnapshot, ExperienceState
from ingest.store.embedded import EmbeddedStore
from predictor.engine import Predictor
from predictor.experiencestate import DAY, INDEX_OWNER
from predictor.service import PredictorService
from tests.predictor.test_service import healthy
from tests.support import add_customer_with_asset


def test_a_backlog_of_days_takes_a_customer_day_at_each_midnight(state_db_url: str, tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    service = PredictorService(Predictor(), store)
    samples = healthy(72)
    with sessions.begin() as session:
        add_customer_with_asset(session, "p1", criticality=3, visit_sensitivity=0.2)
    with sessions.begin() as session:
        asset = session.get(Asset, ("acme", "p1"))
        assert asset is not None
        service.process(session, [(asset, samples)], {"acme": samples[-1].ts})
    first, last = math.floor(samples[0].ts / DAY), math.floor(samples[-1].ts / DAY)
    with sessions() as session:
        days = [s.at for s in session.scalars(select(ExperienceSnapshot).order_by(ExperienceSnapshot.at))]
        row = session.get(ExperienceState, "acme")
    assert days == [d * DAY for d in range(first, last + 1)]  # the first day's, then one per midnight
    assert row is not None and row.snapshot_at == last * DAY
    # Each day's refreshed risks went to the store, at the first reading after midnight.
    points = store.query_points("customer_risk", "acme", "c1", 0.0, math.inf)
    for day in range(first + 1, last + 1):
        assert any(day * DAY <= p.ts < day * DAY + 600 for p in points), day
    assert all("base_rate" in p.fields for p in points)


def test_only_the_owner_of_the_tenants_index_learns_it(state_db_url: str, tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    others = PredictorService(
        Predictor(), EmbeddedStore(tmp_path / "ts.sqlite"), owns=lambda _t, k: k != INDEX_OWNER
    )
    samples = healthy(30)
    with sessions.begin() as session:
        add_customer_with_asset(session, "p1", criticality=3, visit_sensitivity=0.2)
    with sessions.begin() as session:
        asset = session.get(Asset, ("acme", "p1"))
        assert asset is not None
        others.process(session, [(asset, samples)], {"acme": samples[-1].ts})
    with sessions() as session:
        assert session.scalars(select(ExperienceSnapshot)).all() == []
        assert session.get(ExperienceState, "acme") is None

"""The predictor's I/O edge on a real state DB and store: decisions at the event time they were due."""

from __future__ import annotations

import math
import random
from pathlib import Path

from sqlalchemy import select

from forestall.contract import Sample
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, Recommendation
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

"""Sensor checks through the worker's edge (``PredictorService`` on a real state DB and store): a
stuck sensor opens a ``sensor_check`` recommendation with its webhook, and no failure visit."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from forestall.contract import Sample
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, OutboxEvent, Recommendation
from ingest.store.embedded import EmbeddedStore
from predictor.engine import Predictor
from predictor.service import PredictorService
from simulators.physics import SensorDefect, make_equipment
from tests.support import add_customer_with_asset

HOUR = 3600.0
START = 1_795_000_000.0


def test_a_stuck_sensor_opens_a_sensor_check_and_no_failure_visit(state_db_url: str, tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(state_db_url))
    service = PredictorService(Predictor(), EmbeddedStore(tmp_path / "ts.sqlite"))
    pumps = [make_equipment("pump", f"p{n}", seed=2, start=START, onset_rate_per_h=0.0) for n in range(3)]
    pumps[0].sensor_defect = SensorDefect("temp_c", "stuck", START + 30 * HOUR)
    with sessions.begin() as session:
        add_customer_with_asset(session, "p0", criticality=3, visit_sensitivity=0.2)
        for pump in pumps[1:]:
            session.add(
                Asset(tenant="acme", id=pump.asset_id, customer_id="c1", asset_type="pump", site="s1",
                      criticality=3, safety_critical=False, created_at=time.time())
            )  # fmt: skip
    for chunk in range(8):  # six hours of 10-minute readings per chunk
        times = [START + (chunk * 36 + i) * 600.0 for i in range(36)]
        with sessions.begin() as session:
            batches = [
                (session.get(Asset, ("acme", pump.asset_id)), [Sample(t, pump.read(t)) for t in times])
                for pump in pumps
            ]
            service.process(session, batches, {"acme": times[-1]})  # type: ignore[arg-type]
    with sessions() as session:
        recs = list(session.scalars(select(Recommendation)))
        sent = [
            o.data
            for o in session.scalars(select(OutboxEvent).where(OutboxEvent.type == "visit.recommended"))
        ]
    assert [(r.kind, r.asset_ids, r.status) for r in recs] == [("sensor_check", ["p0"], "open")]
    rec = recs[0]
    assert rec.predicted_failure_at is None and rec.priority == "P4" and 0.5 <= rec.confidence <= 1.0
    assert rec.reason["sensor"]["channel"] == "temp_c" and rec.reason["sensor"]["fault"] == "stuck"
    assert START + 30 * HOUR <= rec.created_at <= START + 34 * HOUR  # within hours of the onset
    assert [(d["kind"], d["predicted_failure_at"]) for d in sent] == [("sensor_check", None)]

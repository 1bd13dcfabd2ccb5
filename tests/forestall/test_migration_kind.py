"""Migration 0003: recommendations made before kinds existed read as ``failure`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from forestall.state.db import make_engine, upgrade

ROW = {
    "id": "rec_old",
    "tenant": "t1",
    "asset_ids": '["p1"]',
    "status": "open",
    "priority": "P2",
    "priority_score": 0.5,
    "reason": "{}",
    "confidence": 0.8,
    "window_start": 0.0,
    "window_end": 3600.0,
    "sla_due_at": 7200.0,
    "fits_sla": True,
    "risk_index": 10.0,
    "source": "predictor",
    "created_at": 0.0,
    "updated_at": 0.0,
}


def test_existing_recommendations_become_failure_visits_and_new_ones_take_a_kind(empty_db: str) -> None:
    upgrade(empty_db, "0002")
    engine = make_engine(empty_db)
    columns = ", ".join(ROW)
    values = ", ".join(f":{k}" for k in ROW)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO recommendations ({columns}) VALUES ({values})"), ROW)
    upgrade(empty_db)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT kind FROM recommendations")).scalar_one() == "failure"
        new = {**ROW, "id": "rec_new", "kind": "sensor_check"}
        conn.execute(sa.text(f"INSERT INTO recommendations ({columns}, kind) VALUES ({values}, :kind)"), new)
        kinds = conn.execute(sa.text("SELECT id, kind FROM recommendations ORDER BY id")).all()
    assert [tuple(r) for r in kinds] == [("rec_new", "sensor_check"), ("rec_old", "failure")]
    engine.dispose()

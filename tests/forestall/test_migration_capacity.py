"""Migration 0005: recommendations' place in the technicians' plan, as the model declares it, up and
down, keeping the recommendations already stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from forestall.state.db import make_engine, upgrade
from forestall.state.models import Base, Recommendation
from tests.forestall.conftest import downgrade


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("recommendations")}


def test_capacity_columns_match_the_model_keep_old_rows_and_downgrade(empty_db: str) -> None:
    upgrade(empty_db, "0004")
    engine = make_engine(empty_db)
    assert not {"capacity", "overbooked"} & _columns(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO recommendations (id, tenant, customer_id, site, asset_ids, status, kind,"
                " priority, priority_score, reason, predicted_failure_at, confidence, window_start,"
                " window_end, sla_due_at, fits_sla, risk_index, source, created_at, updated_at)"
                " VALUES ('rec-1', 't1', 'c1', 's1', '[\"p1\"]', 'open', 'failure', 'P2', 0.5, '{}',"
                " 100.0, 0.8, 0.0, 50.0, 8.0, true, 40.0, 'predictor', 0.0, 0.0)"
            )
        )
    upgrade(empty_db)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert not [d for d in diffs if "recommendations" in repr(d)]
    with Session(engine) as session, session.begin():
        old = session.get(Recommendation, "rec-1")
        assert old is not None and (old.capacity, old.overbooked) == (None, None)
        old.capacity, old.overbooked = {"rank": 1, "technician_id": "tech-1"}, False
    with Session(engine) as session:
        stored = session.get(Recommendation, "rec-1")
        assert stored is not None and stored.capacity == {"rank": 1, "technician_id": "tech-1"}
        assert stored.overbooked is False
    downgrade(empty_db, "0004")
    assert not {"capacity", "overbooked"} & _columns(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM recommendations")).scalars().all() == ["rec-1"]
    engine.dispose()

"""Migration 0006: the Experience index's tables as the model declares them, a tenant's threshold
carried over to the probability the prior gives it (and back), stored indices of the old meaning
dropped (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from forestall.state.db import make_engine, upgrade
from forestall.state.models import Base, CustomerRisk, ExperienceState, RiskWeights
from predictor.experience import DEFAULT_THRESHOLD_PERCENT, percent_of_fixed
from tests.forestall.conftest import downgrade

TABLES = ("experience_state", "experience_snapshots", "risk_weights", "customer_risk")


def test_experience_tables_thresholds_and_stale_indices(empty_db: str) -> None:
    upgrade(empty_db, "0005")
    engine = make_engine(empty_db)
    with engine.begin() as conn:
        for tenant, threshold in (("default", 60.0), ("eager", 40.0), ("never", 100.0)):
            conn.execute(
                sa.text("INSERT INTO risk_weights (tenant, weights, threshold) VALUES (:t, :w, :h)"),
                {"t": tenant, "w": '{"outages": 20.0}', "h": threshold},
            )
        conn.execute(
            sa.text(
                "INSERT INTO customer_risk (tenant, customer_id, at, risk_index, contributions)"
                " VALUES ('default', 'c1', 0.0, 70.0, '{\"outages\": 70.0}')"
            )
        )
    upgrade(empty_db)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert not [d for d in diffs if any(table in repr(d) for table in TABLES)]
    with Session(engine) as session:
        percent = {row.tenant: row.threshold_percent for row in session.scalars(sa.select(RiskWeights))}
        # The old default (60) lands on the new one, each other threshold where the prior puts it.
        assert percent["default"] == pytest.approx(DEFAULT_THRESHOLD_PERCENT, abs=0.1)
        assert (
            percent["eager"] == pytest.approx(percent_of_fixed(40.0), abs=0.01) and percent["never"] == 100.0
        )
        assert session.get(RiskWeights, "eager").weights == {"outages": 20.0}  # type: ignore[union-attr]
        assert session.scalars(sa.select(CustomerRisk)).all() == []  # computed again when next read
    with Session(engine) as session, session.begin():
        session.add(ExperienceState(tenant="t", version="v", params={}, learner={}, updated_at=1.0))
        session.add(
            CustomerRisk(tenant="t", customer_id="c", at=1.0, risk_index=10.0, contributions={}, model={})
        )
    downgrade(empty_db, "0005")
    inspector = sa.inspect(engine)
    assert not {"experience_state", "experience_snapshots"} & set(inspector.get_table_names())
    assert "model" not in {c["name"] for c in inspector.get_columns("customer_risk")}
    with engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT tenant, threshold FROM risk_weights")).all())
    assert back == pytest.approx({"default": 60.0, "eager": 40.0, "never": 100.0}, abs=0.1)
    engine.dispose()

"""Migration 0004: the technicians table, as the model declares it, up and down (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from forestall.state.db import make_engine, upgrade
from forestall.state.models import Base, Technician
from tests.forestall.conftest import downgrade


def test_technicians_table_matches_the_model_holds_a_schedule_and_downgrades(empty_db: str) -> None:
    upgrade(empty_db, "0003")
    engine = make_engine(empty_db)
    assert "technicians" not in sa.inspect(engine).get_table_names()
    upgrade(empty_db)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert not [d for d in diffs if "technicians" in repr(d)]
    hours = {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}
    with Session(engine) as session, session.begin():
        session.add(
            Technician(
                tenant="t1",
                id="tech-1",
                name="Ana",
                skills=["pump"],
                regions=[],
                timezone="Europe/Berlin",
                hours=hours,
                active=True,
                created_at=0.0,
            )
        )
    with Session(engine) as session:
        stored = session.get(Technician, ("t1", "tech-1"))
        assert stored is not None and (stored.hours, stored.skills, stored.regions) == (hours, ["pump"], [])
    downgrade(empty_db, "0003")
    assert "technicians" not in sa.inspect(engine).get_table_names()
    engine.dispose()

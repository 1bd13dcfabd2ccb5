"""Migration 0004: the technicians table, as the model declares it, up and down (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from forestall.state.db import MIGRATIONS, make_engine, upgrade
from forestall.state.models import Base, Technician
from tests.support import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_database() as url:
        yield url


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
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = empty_db
    command.downgrade(config, "0003")
    assert "technicians" not in sa.inspect(engine).get_table_names()
    engine.dispose()

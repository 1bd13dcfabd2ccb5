"""Alembic environment: runs migrations against the URL handed over by ``db.upgrade``."""

from __future__ import annotations

from alembic import context

from forestall.state.db import make_engine
from forestall.state.models import Base

url = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL given to the migrations")

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

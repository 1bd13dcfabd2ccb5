"""Retention runs in the worker: telemetry at each tenant's event clock, rejections by age and count."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Rejection
from ingest import retention, sweep
from tests.conftest import Mosquitto
from tests.ingest.test_poison import batch, start_fleet, stop_fleet
from tests.support import wait_for

DAY = 86_400.0


def rejection(tenant: str | None, received_at: float) -> Rejection:
    return Rejection(
        tenant=tenant,
        asset_id=None,
        topic="t",
        reason="schema",
        detail="",
        received_at=received_at,
        excerpt="",
    )


def test_rejections_are_kept_for_the_retention_and_at_most_a_bounded_number_per_tenant(
    any_state_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "KEEP_REJECTIONS", 5)
    now = time.time()
    sessions = make_sessionmaker(make_engine(any_state_db_url))
    with sessions.begin() as session:
        session.add_all([rejection("acme", now - 10 * DAY), rejection(None, now - 10 * DAY)])
        session.add_all([rejection("acme", now - i) for i in range(8, 0, -1)])  # oldest first
        session.add_all([rejection("other", now - 10 * DAY), rejection("other", now)])
    with sessions.begin() as session:
        removed = retention.purge_rejections(session, "acme", now, retention_s=7 * DAY)
        removed += retention.purge_rejections(session, None, now, retention_s=7 * DAY)
    assert removed == 1 + 3 + 1
    with sessions() as session:
        kept = session.execute(select(Rejection.tenant, Rejection.received_at).order_by(Rejection.id)).all()
    assert [t for t, _ in kept].count("acme") == 5 and min(at for t, at in kept if t == "acme") == now - 5
    assert [t for t, _ in kept].count("other") == 2  # another tenant's rejections are its own business


def test_the_worker_purges_telemetry_older_than_the_retention_before_the_tenants_clock(
    tmp_path: Path, mosquitto: Mosquitto, any_state_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "RETENTION_EVERY_S", 0.0)
    settings = Settings(
        database_url=any_state_db_url,
        mqtt={"url": mosquitto.url},
        store={"path": str(tmp_path / "tsdb.sqlite"), "retention_days": 2},
        worker={"checkpoint_dir": str(tmp_path / "checkpoints")},
    )
    fleet = start_fleet(settings)
    now = time.time()
    try:
        fleet.publish("a1", "telemetry", batch("a1", 1, now - 5 * DAY, now - 4.5 * DAY))
        assert wait_for(lambda: fleet.stored("a1") == 2)  # within two days of the clock, 4.5 days ago
        fleet.publish("a1", "telemetry", batch("a1", 2, now - DAY))
        fleet.publish("a2", "telemetry", batch("a2", 1, now - 60))  # the clock moves on with two assets
        assert wait_for(lambda: fleet.stored("a1") == 1, timeout=30)
        [(ts, _)] = fleet.worker.store.query_telemetry("acme", "a1", 0, now)
        assert abs(ts - (now - DAY)) < 1 and fleet.stored("a2") == 1
    finally:
        stop_fleet(fleet)

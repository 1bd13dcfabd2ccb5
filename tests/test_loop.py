"""The whole loop, end to end, on a real broker (Mosquitto and amqtt) and real HTTP.

Simulated machines publish through real edge agents; the worker stores and scores the
telemetry; the API delivers webhooks that a real receiver verifies with ``standardwebhooks``.
One machine gets a fault injected: a verified ``visit.recommended`` for it must arrive before
its (ground-truth) failure time. A healthy fleet on the same clock must get none.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.server import ApiServer
from forestall.broker import free_port
from forestall.clock import SimClock
from forestall.contract import parse_ts
from forestall.settings import LOOPBACK, Settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.keys import create_key
from ingest.worker import Worker
from simulators.apiclient import ApiClient
from simulators.fleet import Fleet, FleetSpec
from simulators.physics import make_equipment
from simulators.world import easy
from tests.conftest import WEBHOOK_SECRET, WebhookReceiver

HOUR = 3600.0
SPEED = 4 * HOUR  # four simulated hours per wall second
ONSET_H, DEGRADATION_H = 26.0, 30.0  # the injected fault: visible after warm-up, fails 30 h later


def admin_key(settings: Settings, tenant: str) -> str:
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        key = create_key(session, tenant, "admin")
    engine.dispose()
    return key


def subscribe(api_url: str, key: str, url: str) -> None:
    client = ApiClient(api_url, key)
    assert client.create_webhook(url, WEBHOOK_SECRET)["url"] == url
    client.close()


def fleet(tenant: str, clock: SimClock, api_url: str, key: str, mqtt_url: str, data_dir: Path) -> Fleet:
    # The easy world: the loop is under test here, not how hard the world is to read.
    spec = easy(FleetSpec(tenant=tenant, assets=6, customers=2, seed=11, onset_rate_per_h=0.0))
    return Fleet(spec, clock, api_url=api_url, api_key=key, mqtt_url=mqtt_url, data_dir=data_dir)


@pytest.mark.integration
def test_an_injected_fault_is_recommended_before_failure_and_a_healthy_fleet_is_left_alone(
    tmp_path: Path, mqtt_url: str, webhook_receiver: WebhookReceiver
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        mqtt={"url": mqtt_url},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        api={"port": free_port(), "webhook_backoff_s": 0.2, "webhook_allowed_networks": [LOOPBACK]},
        worker={"checkpoint_dir": str(tmp_path / "checkpoints")},
    )
    upgrade(settings.database_url)
    keys = {tenant: admin_key(settings, tenant) for tenant in ("faulty", "healthy")}
    api = ApiServer(settings)
    api.start()
    worker = Worker(settings)
    worker.start()
    # Midnight UTC of today: the fleet's daily cycles start at the same hour in every run.
    clock = SimClock(start=time.time() // 86400 * 86400, speed=SPEED)
    fleets = {t: fleet(t, clock, api.url, keys[t], mqtt_url, tmp_path / t) for t in keys}
    sick = fleets["faulty"].world.assets[0]
    start = fleets["faulty"].world.start
    machine = make_equipment(
        sick.asset_type,
        sick.id,
        11,
        start,
        onset_rate_per_h=0.0,
        degradation_hours=(DEGRADATION_H, DEGRADATION_H),
        force_onset_at=start + ONSET_H * HOUR,
    )
    fleets["faulty"].world.equipment[sick.id] = machine
    failure_at = machine.next_failure_at
    assert failure_at is not None
    try:
        for key in keys.values():
            subscribe(api.url, key, webhook_receiver.url)
        for f in fleets.values():
            f.start()
        while clock.now() < failure_at:
            for f in fleets.values():
                f.step(clock.now())
            time.sleep(0.02)
        time.sleep(2.0)  # let the last webhooks land
    finally:
        for f in fleets.values():
            f.stop()
        worker.stop()
        api.stop()

    assert webhook_receiver.rejected == 0
    recommended = webhook_receiver.of_type("visit.recommended")
    faulty = [r for r in recommended if r["data"]["tenant"] == "faulty"]
    assert [r for r in recommended if r["data"]["tenant"] == "healthy"] == []
    assert faulty, "no visit was recommended for the machine with the injected fault"
    assert all(r["data"]["asset_ids"] == [sick.id] for r in faulty)
    first = faulty[0]
    assert parse_ts(first["timestamp"]) < failure_at
    assert parse_ts(first["data"]["window_end"]) < parse_ts(first["data"]["predicted_failure_at"])
    assert first["data"]["reason"]["top_sensors"]
    samples = sum(f.metrics.samples_published for f in fleets.values())
    assert samples > 0 and worker.applier.samples_stored >= samples * 0.95

"""The worker against real brokers (Mosquitto and amqtt): store, reject, dedupe, survive restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from forestall.contract import Sample
from forestall.series import SeriesTags, StoreError
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, Rejection
from ingest.store.embedded import EmbeddedStore
from ingest.worker import Worker
from tests.support import wait_for

T0 = 1_795_460_400.0


def telemetry(seq: int, n: int = 5, asset: str = "pump-1", start: float = 0.0) -> bytes:
    samples = [
        {"ts": T0 + start + i, "values": {"temp_c": 60.0 + i, "vibration_mm_s": 2.0}} for i in range(n)
    ]
    return json.dumps(
        {"schema": "forestall.telemetry/1", "asset": asset, "seq": seq, "samples": samples}
    ).encode()


@pytest.fixture
def settings(tmp_path: Path, mqtt_url: str, any_state_db_url: str) -> Settings:
    return Settings(
        database_url=any_state_db_url,
        mqtt={"url": mqtt_url},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        worker={"checkpoint_dir": str(tmp_path / "checkpoints")},
    )


@pytest.fixture
def publish(mqtt_url: str) -> Iterator[Callable[[str, bytes], None]]:
    port = int(mqtt_url.rsplit(":", 1)[1])
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()

    def send(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=1).wait_for_publish(10)

    yield send
    client.loop_stop()
    client.disconnect()


def started(settings: Settings) -> Worker:
    worker = Worker(settings, predictor_enabled=False)
    worker.start()
    assert wait_for(lambda: worker.connected)
    time.sleep(0.3)  # let the subscription settle before publishing
    return worker


def test_valid_data_is_stored_and_each_bad_input_rejected_with_its_reason(
    settings: Settings, publish: Callable[[str, bytes], None]
) -> None:
    worker = started(settings)
    topic = "forestall/v1/acme/pump-1/telemetry"
    try:
        for seq in range(1, 21):
            publish(topic, telemetry(seq, start=seq * 10))
        publish(topic, telemetry(5, start=50))
        publish(topic, b"not json")
        publish(topic, telemetry(21, asset="pump-2", start=300))
        publish(topic, json.dumps({"schema": "forestall.telemetry/1", "asset": "pump-1", "seq": 22}).encode())
        mixed = json.loads(telemetry(23, n=2, start=400))
        mixed["samples"][0]["values"]["temp_c"] = "abc"
        publish(topic, json.dumps(mixed).encode())
        publish(topic, telemetry(24, n=1001, start=500))
        publish("forestall/v1/ac me/pump-1/telemetry", telemetry(25, start=2000))
        assert wait_for(lambda: worker.metrics.rejected.labels(reason="bad_topic")._value.get() == 1)
        assert wait_for(lambda: worker.store.count_samples("acme") == 101)
        stored = worker.store.query_telemetry("acme", "pump-1", T0, T0 + 10_000)
        assert len(stored) == 101
        assert worker.metrics.duplicates._value.get() == 1
        counts = {
            r: worker.metrics.rejected.labels(reason=r)._value.get()
            for r in ("malformed_json", "asset_mismatch", "schema", "invalid_value", "too_many_samples")
        }
        assert counts == dict.fromkeys(counts, 1.0)
    finally:
        worker.stop()
    sessions = make_sessionmaker(make_engine(settings.database_url))
    with sessions() as session:
        reasons = sorted(session.scalars(select(Rejection.reason)))
        assert reasons == sorted(
            ["malformed_json", "asset_mismatch", "schema", "invalid_value", "too_many_samples", "bad_topic"]
        )
        asset = session.get(Asset, ("acme", "pump-1"))
        assert asset is not None and asset.customer_id is None  # registered automatically, unassigned


def test_dedupe_survives_a_worker_restart(settings: Settings, publish: Callable[[str, bytes], None]) -> None:
    topic = "forestall/v1/acme/pump-9/telemetry"
    worker = started(settings)
    for seq in range(1, 6):
        publish(topic, telemetry(seq, asset="pump-9", start=seq * 10))
    assert wait_for(lambda: worker.store.count_samples() == 25)
    worker.stop()
    worker = started(settings)
    try:
        for seq in range(1, 8):  # a device replaying what it is unsure about, then new data
            publish(topic, telemetry(seq, asset="pump-9", start=seq * 10))
        assert wait_for(lambda: worker.metrics.duplicates._value.get() == 5)
        assert wait_for(lambda: worker.store.count_samples() == 35)
    finally:
        worker.stop()
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Rejection)) == 0


class FlakyStore(EmbeddedStore):
    """The embedded store, failing its first write as a store that is briefly down."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures = 1

    def write_batch(self, items: Sequence[tuple[SeriesTags, Sequence[Sample]]]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("store down for a moment", retryable=True)
        super().write_batch(items)


def test_a_chunk_that_failed_is_stored_on_retry_not_dropped_as_duplicates(
    settings: Settings, publish: Callable[[str, bytes], None]
) -> None:
    store = FlakyStore(settings.store.path)
    worker = Worker(settings, predictor_enabled=False, store=store)
    worker.start()
    assert wait_for(lambda: worker.connected)
    time.sleep(0.3)
    try:
        for seq in range(1, 4):
            publish("forestall/v1/acme/pump-7/telemetry", telemetry(seq, asset="pump-7", start=seq * 10))
        assert wait_for(lambda: store.count_samples() == 15)
        assert store.failures == 0 and worker.metrics.duplicates._value.get() == 0
    finally:
        worker.stop()

"""Two workers on one real Mosquitto split the assets: each asset has exactly one predictor
(docs/ARCHITECTURE.md, scaling out)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from forestall.contract import Sample
from forestall.series import Point, SeriesTags
from forestall.settings import Settings
from forestall.state.db import upgrade
from ingest.pipeline import owner
from ingest.store.embedded import EmbeddedStore
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.ingest.test_worker import wait_for

T0 = 1_795_460_400.0
ASSETS = [f"pump-{i:02d}" for i in range(40)]
BATCHES, PER_BATCH = 3, 4


class RecordingStore(EmbeddedStore):
    """The embedded store, also remembering every sample written, by whom it was written."""

    def __init__(self, path: Path, log: list[tuple[str, str, str, float]], name: str) -> None:
        super().__init__(path)
        self.log, self.name, self.lock = log, name, threading.Lock()

    def write_batch(self, items: Sequence[tuple[SeriesTags, Sequence[Sample]]]) -> None:
        super().write_batch(items)
        with self.lock:
            self.log.extend(
                (self.name, tags.tenant, tags.asset, s.ts) for tags, samples in items for s in samples
            )

    def write_points(self, points: Sequence[Point]) -> None:
        super().write_points(points)


def batch(asset: str, seq: int) -> bytes:
    samples = [
        {"ts": T0 + seq * 60 + i, "values": {"temp_c": 60.0 + i, "vibration_mm_s": 2.0}}
        for i in range(PER_BATCH)
    ]
    return json.dumps(
        {"schema": "forestall.telemetry/1", "asset": asset, "seq": seq, "samples": samples}
    ).encode()


def test_two_workers_split_the_assets_and_each_sample_is_stored_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    database_url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(database_url)
    written: list[tuple[str, str, str, float]] = []
    workers = []
    for partition in (0, 1):
        settings = Settings(
            database_url=database_url,
            mqtt={"url": mosquitto.url, "client_id": f"scale-out-worker-{partition}"},
            store={"path": str(tmp_path / "tsdb.sqlite")},
            worker={"partition": partition, "partitions": 2, "checkpoint_dir": str(tmp_path / "ckpt")},
        )
        store = RecordingStore(tmp_path / "tsdb.sqlite", written, f"w{partition}")
        workers.append(Worker(settings, predictor_enabled=True, store=store))
    for worker in workers:
        worker.start()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="scale-out-publisher")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        assert wait_for(lambda: all(w.connected for w in workers), timeout=60)
        time.sleep(0.5)  # let both subscriptions settle before publishing
        for seq in range(1, BATCHES + 1):
            for asset in ASSETS:
                publisher.publish(
                    f"forestall/v1/acme/{asset}/telemetry", batch(asset, seq), qos=1
                ).wait_for_publish(30)
        total = len(ASSETS) * BATCHES * PER_BATCH
        assert wait_for(lambda: len(written) >= total, timeout=120)
        time.sleep(1.0)  # anything stored twice would show up now
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        for worker in workers:
            worker.stop()

    owned = [set(w.predictor.predictor.assets) for w in workers if w.predictor is not None]
    assert len(owned) == 2 and owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == {("acme", a) for a in ASSETS}
    assert all(owned), "both workers must own some assets"
    for index, keys in enumerate(owned):
        assert {owner(t, a, 2) for t, a in keys} == {index}
    copies = Counter((tenant, asset, ts) for _name, tenant, asset, ts in written)
    assert len(copies) == len(ASSETS) * BATCHES * PER_BATCH and set(copies.values()) == {1}
    writers = {(asset, name) for name, _tenant, asset, _ts in written}
    assert len(writers) == len(ASSETS)  # every asset's samples were written by one worker only

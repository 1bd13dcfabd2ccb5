"""The ``mqtt`` source on real brokers: what it hands on, what it acknowledges, and when the worker
has it acknowledge (after the commit)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError
from sqlalchemy import select

from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import IngestSequence
from ingest.pipeline import owner
from ingest.sources import Received, open_source
from ingest.sources.mqtt import MqttSource, received
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.ingest.test_worker import telemetry
from tests.support import wait_for


class Collected:
    """What a source delivered, in order."""

    def __init__(self) -> None:
        self.items: list[Received] = []
        self._lock = threading.Lock()

    def __call__(self, item: Received) -> None:
        with self._lock:
            self.items.append(item)

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [item.payload for item in self.items]


@contextmanager
def publishing(url: str) -> Iterator[Callable[[str, bytes, int], None]]:
    """A device-side client: ``publish(topic, payload, qos)`` returns once the broker has it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}")
    client.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
    client.loop_start()

    def publish(topic: str, payload: bytes, qos: int = 1) -> None:
        client.publish(topic, payload, qos=qos).wait_for_publish(10)

    try:
        yield publish
    finally:
        client.loop_stop()
        client.disconnect()


def source_settings(url: str, client_id: str, partitions: int = 1) -> Settings:
    return Settings(mqtt={"url": url, "client_id": client_id}, worker={"partitions": partitions})


def started(settings: Settings) -> tuple[MqttSource, Collected]:
    source, collected = MqttSource(settings, "worker-test"), Collected()
    source.start(collected)
    assert source.ready.wait(30), "the broker did not grant the subscriptions"
    return source, collected


def test_each_message_comes_with_its_tenant_asset_partition_and_ack_token(mqtt_url: str) -> None:
    source, collected = started(source_settings(mqtt_url, "source-fields", partitions=4))
    try:
        assert source.connected
        with publishing(mqtt_url) as publish:
            publish("forestall/v1/acme/pump-1/telemetry", b"one", 1)
            publish("forestall/v1/beta/fan-2/status", b"two", 1)
            publish("forestall/v1/acme/pump-1/cmd", b"not ours", 1)
            publish("forestall/v1/acme/pump-3/ack", b"three", 1)
        assert wait_for(lambda: len(collected.items) == 3, timeout=30)
        assert [(r.topic, r.payload) for r in collected.items] == [
            ("forestall/v1/acme/pump-1/telemetry", b"one"),
            ("forestall/v1/beta/fan-2/status", b"two"),
            ("forestall/v1/acme/pump-3/ack", b"three"),
        ]
        assert [(r.tenant, r.asset) for r in collected.items] == [
            ("acme", "pump-1"),
            ("beta", "fan-2"),
            ("acme", "pump-3"),
        ]
        assert [r.partition for r in collected.items] == [
            owner("acme", "pump-1", 4),
            owner("beta", "fan-2", 4),
            owner("acme", "pump-3", 4),
        ]
        assert [r.stream_seq for r in collected.items] == [None, None, None]  # MQTT has no stream position
        assert all(isinstance(r.ack, int) for r in collected.items)  # the packet ids, at QoS 1
        assert len({r.ack for r in collected.items}) == 3
        assert all(abs(r.received_at - time.time()) < 60 for r in collected.items)
        at_most_once = received("forestall/v1/acme/pump-4/telemetry", b"four", 9, 0, 4)
        assert at_most_once.ack is None  # QoS 0 (amqtt hands it on at QoS 1): nothing to acknowledge
        source.ack([*collected.items, at_most_once])  # QoS 0 and 1 together, as a chunk may hold them
        source.ack([])
        assert source.connected
    finally:
        source.stop()
    assert not source.connected


def test_what_is_not_acknowledged_is_delivered_again_and_what_is_is_not(mosquitto: Mosquitto) -> None:
    settings = source_settings(mosquitto.url, "source-acks")
    topic = "forestall/v1/acme/pump-1/telemetry"
    with publishing(mosquitto.url) as publish:
        source, collected = started(settings)
        try:
            for payload in (b"a", b"b", b"c"):
                publish(topic, payload, 1)
            assert wait_for(lambda: collected.payloads() == [b"a", b"b", b"c"], timeout=30)
            source.ack([item for item in collected.items if item.payload != b"b"])
            time.sleep(0.5)  # the acknowledgements reach the broker before the session goes
        finally:
            source.stop()
        publish(topic, b"d", 1)  # queued for the session while it is away
        again, collected_again = started(settings)
        try:
            assert wait_for(lambda: sorted(collected_again.payloads()) == [b"b", b"d"], timeout=30)
            again.ack(collected_again.items)
            time.sleep(0.5)
        finally:
            again.stop()
        third, collected_third = started(settings)
        try:
            publish(topic, b"e", 1)
            assert wait_for(lambda: collected_third.payloads() == [b"e"], timeout=30)
        finally:
            third.stop()


class CheckedSource(MqttSource):
    """The ``mqtt`` source, noting for each message it is told to acknowledge whether the state
    DB already holds its batch (its dedupe mark)."""

    def __init__(self, settings: Settings, name: str) -> None:
        super().__init__(settings, name)
        self.sessions = make_sessionmaker(make_engine(settings.database_url))
        self.acked: list[tuple[bytes, bool]] = []

    def ack(self, items: Sequence[Received]) -> None:
        with self.sessions() as session:
            marks = {row.asset_id: row.high_water for row in session.scalars(select(IngestSequence))}
        for item in items:
            seq = json.loads(item.payload)["seq"]
            self.acked.append((item.payload, marks.get(item.asset or "", 0) >= seq))
        super().ack(items)


def test_the_worker_has_a_message_acknowledged_only_once_its_chunk_is_committed(
    tmp_path: Path, mosquitto: Mosquitto, state_db_url: str
) -> None:
    settings = Settings(
        database_url=state_db_url,
        mqtt={"url": mosquitto.url},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        worker={"checkpoint_dir": str(tmp_path / "checkpoints")},
    )
    source = CheckedSource(settings, "worker-checked")
    worker = Worker(settings, predictor_enabled=False, source=source)
    worker.start()
    sent = []
    try:
        assert worker.subscribed.wait(30) and worker.connected
        with publishing(mosquitto.url) as publish:
            for seq in range(1, 31):
                sent.append(telemetry(seq, n=2, asset=f"pump-{seq % 3}", start=seq * 10))
                publish(f"forestall/v1/acme/pump-{seq % 3}/telemetry", sent[-1], 1)
        assert wait_for(lambda: len(source.acked) == len(sent), timeout=60)
    finally:
        worker.stop()
    assert sorted(payload for payload, _ in source.acked) == sorted(sent)
    assert all(committed for _, committed in source.acked), "acknowledged before its commit"


def test_an_unknown_source_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match=r"worker\.source"):
        Settings(worker={"source": "kafka"})
    settings = Settings()
    unchecked = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"source": "kafka"})}
    )  # past the settings' own check, as a source removed from a build would be
    with pytest.raises(ValueError, match=r"'kafka' is not available.*choose one of: mqtt$"):
        open_source(unchecked, "worker-0-of-1")
    assert isinstance(open_source(settings, "worker-0-of-1"), MqttSource)

"""The worker process: MQTT in, telemetry store and predictor out (ARCHITECTURE §1).

One network thread (paho) queues messages; one processing thread handles them in chunks:
validate and dedupe, store, feed the predictor, commit the state DB — and only then
acknowledge the messages to the broker (manual PUBACK), so a crash before the commit gets
them redelivered instead of lost.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import start_http_server
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forestall.mqtturl import parse_mqtt_url
from forestall.series import TelemetryStore
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, Event, IngestSequence
from ingest.apply import Applier
from ingest.client import IngestClient
from ingest.inbox import Inbox
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Pipeline
from ingest.sequence import SeqWindow
from ingest.store import open_store

if TYPE_CHECKING:
    from predictor.service import PredictorService

log = logging.getLogger(__name__)
CHUNK = 2000
# Bytes of payload per chunk, as well: a chunk is one state DB transaction, and a transaction
# of large batches (hours of a backlog, each reading a model step) would keep the API waiting.
CHUNK_BYTES = 1 << 20
# Messages received but not yet processed; when full, paho's thread waits and the broker
# holds the rest (unacknowledged QoS 1), which bounds memory under a backlog.
INBOX_MESSAGES = 10_000
SWEEP_EVERY_S = 2.0
KINDS = ("telemetry", "status", "ack")


class Received(NamedTuple):  # a tuple: one is made per message on paho's thread
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float  # wall clock, for liveness


class Worker:
    def __init__(
        self, settings: Settings, *, predictor_enabled: bool = True, store: TelemetryStore | None = None
    ) -> None:
        self.settings = settings
        self.partition, self.partitions = settings.worker.partition, settings.worker.partitions
        self.name = f"worker-{self.partition}-of-{self.partitions}"
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = store or open_store(settings)
        self.metrics = WorkerMetrics()
        self._marks: dict[tuple[str, str], tuple[int, float | None]] | None = None
        self.pipeline = Pipeline(self.partition, self.partitions, resume=self._resume_window)
        self.checkpoint_path = checkpoint_path(settings)
        self.predictor = self._load_predictor() if predictor_enabled else None
        self.applier = Applier(self.metrics, self.store)
        self._registry_cursor: int | None = None  # events read for registry changes (asset_assigned)
        self._inbox: Inbox[Received] = Inbox(INBOX_MESSAGES)
        self._stop = threading.Event()
        self.subscribed = threading.Event()  # set once the broker has acknowledged every subscription
        self._subscriptions = 0
        self._thread: threading.Thread | None = None
        self._client = self._make_client()
        self._last_sweep = 0.0
        self._heard: dict[tuple[str, str], float] = {}  # wall clock of the last message per asset
        self._last_checkpoint = time.monotonic()

    def _load_predictor(self) -> PredictorService:
        # Imported here: an ingest-only worker need not load River and SciPy (~100 MB).
        from predictor.engine import Predictor
        from predictor.service import PredictorService

        predictor = Predictor.load(self.checkpoint_path)
        if predictor is None and (old := Predictor.version_of(self.checkpoint_path)) is not None:
            from predictor.rebuild import rebuild

            # A checkpoint of other models: teach the new ones what the old had learnt, from the
            # stored telemetry and the labels, rather than start every fleet from nothing.
            log.warning("checkpoint holds model version %s, not %s: rebuilding", old, Predictor().version)
            predictor = rebuild(self.sessions, self.store, self.pipeline.owns, progress=log.warning)
            predictor.save(self.checkpoint_path)
        return PredictorService(predictor or Predictor(), self.store, owns=self.pipeline.owns)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def start(self) -> None:
        if self.settings.worker.metrics_port is not None:
            start_http_server(
                self.settings.worker.metrics_port,
                addr=self.settings.worker.metrics_host,
                registry=self.metrics.registry,
            )
        endpoint = parse_mqtt_url(self.settings.mqtt.url)
        self._client.connect_async(endpoint.host, endpoint.port, keepalive=self.settings.mqtt.keepalive_s)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()
        self.checkpoint()
        self.store.close()
        self.engine.dispose()

    def checkpoint(self) -> None:
        if self.predictor is None:
            return
        self.predictor.predictor.save(self.checkpoint_path)
        self._last_checkpoint = time.monotonic()

    # -- MQTT -------------------------------------------------------------------------------

    def _make_client(self) -> IngestClient:
        endpoint = parse_mqtt_url(self.settings.mqtt.url)
        client_id = self.settings.mqtt.client_id or f"forestall-{self.name}"
        client = IngestClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if endpoint.username:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            mq = self.settings.mqtt
            client.tls_set(
                ca_certs=str(mq.ca_file) if mq.ca_file else None,
                certfile=str(mq.cert_file) if mq.cert_file else None,
                keyfile=str(mq.key_file) if mq.key_file else None,
            )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT connect refused: %s", reason)
            return
        share = self.settings.mqtt.share_group
        self._subscriptions = 0
        for kind in KINDS:
            topic = f"forestall/v1/+/+/{kind}"
            client.subscribe(f"$share/{share}/{topic}" if share else topic, qos=1)
        log.info("worker %s subscribed", self.name)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: object, _mid: int, _reasons: object, _props: object = None
    ) -> None:
        self._subscriptions += 1
        if self._subscriptions >= len(KINDS):
            self.subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.time()))

    # -- processing -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            chunk = self._take_chunk()
            try:
                self._process(chunk)
            except Exception:
                log.exception("worker %s failed to process %d messages; will retry", self.name, len(chunk))
                self._forget_uncommitted()
                self._requeue(chunk)
                self._stop.wait(1.0)
                continue
            # The subscriptions are QoS 1, so nothing arrives at QoS 2.
            self._client.ack_many([item.mid for item in chunk if item.qos == 1])
        if len(self._inbox):
            self._process(self._take_chunk(wait=False))

    def _take_chunk(self, wait: bool = True) -> list[Received]:
        chunk = self._inbox.take(CHUNK, 0.2 if wait else 0.0, size=_payload_size, budget=CHUNK_BYTES)
        self.metrics.queue.set(len(self._inbox))
        return chunk

    def _forget_uncommitted(self) -> None:
        """After a rolled-back chunk: the dedupe windows (else its retry counts as duplicates) and
        the cached registry rows are read again from the state DB."""
        self.pipeline.windows.clear()
        self._marks = None
        self.applier.reset()

    def _requeue(self, chunk: list[Received]) -> None:
        self._inbox.put_back(chunk)

    def _process(self, chunk: list[Received]) -> None:
        with self.sessions.begin() as session:
            outcomes = [self.pipeline.handle(item.topic, item.payload) for item in chunk]
            self.applier.load_assets(session, outcomes)
            for item, outcome in zip(chunk, outcomes, strict=True):
                if outcome.topic is not None and not outcome.not_owned:
                    self._heard[(outcome.topic.tenant, outcome.topic.asset)] = item.received_at
                self.applier.apply(session, item.topic, outcome)
            clocks, stored = self.applier.finish(session, self.pipeline)
            self._read_registry_changes(session)
            if self.predictor is not None:
                self.metrics.recommendations.inc(self.predictor.process(session, stored, clocks))
            self._sweep(session)
        committed = time.time()
        for newest in self.applier.newest:
            self.metrics.lag.observe(max(committed - newest, 0.0))
        if (
            self.predictor is not None
            and time.monotonic() - self._last_checkpoint > self.settings.worker.checkpoint_interval_s
        ):
            self.checkpoint()

    def _read_registry_changes(self, session: Session) -> None:
        """Registry rows cached by ingest are read again when an asset's customer or type changed."""
        if self._registry_cursor is None:
            self._registry_cursor = session.scalar(select(func.max(Event.id))) or 0
            return
        events = session.scalars(
            select(Event)
            .where(Event.id > self._registry_cursor, Event.kind == "asset_assigned")
            .order_by(Event.id)
        )
        for event in events:
            self.applier.forget_asset(event.tenant, event.asset_id)
        self._registry_cursor = session.scalar(select(func.max(Event.id))) or self._registry_cursor

    def _sweep(self, session: Session) -> None:
        if time.monotonic() - self._last_sweep < SWEEP_EVERY_S:
            return
        self._last_sweep = time.monotonic()
        self._sweep_liveness(session)

    def _sweep_liveness(self, session: Session) -> None:
        """Set offline the owned assets not heard from for ``worker.offline_after_s`` (wall clock).

        Liveness is about the agent's connection, so it runs on the wall clock: the event
        clock stops when a whole fleet falls silent, which is exactly when this must fire.
        With a backlog the silence may be ours, so the sweep waits until the inbox drains;
        assets online at start get a full period of grace.
        """
        limit = self.settings.worker.offline_after_s
        if limit is None or len(self._inbox):
            return
        now = time.time()
        for asset in session.scalars(select(Asset).where(Asset.online.is_(True))):
            if not self.pipeline.owns(asset.tenant, asset.id):
                continue
            heard = self._heard.setdefault((asset.tenant, asset.id), now)
            if now - heard > limit:
                since = asset.last_seen_at if asset.last_seen_at is not None else heard
                log.info("%s/%s silent for %.0f s: offline", asset.tenant, asset.id, now - heard)
                self.applier.mark_offline(session, asset, since)

    def _resume_window(self, tenant: str, asset: str) -> SeqWindow:
        """Dedupe state of an asset after a restart, from the marks loaded once at start."""
        if self._marks is None:
            with self.sessions() as session:
                self._marks = {
                    (r.tenant, r.asset_id): (r.high_water, r.max_ts)
                    for r in session.scalars(select(IngestSequence))
                }
        mark = self._marks.pop((tenant, asset), None)
        return SeqWindow.resume(*mark) if mark else SeqWindow()


def _payload_size(item: Received) -> int:
    return len(item.payload)


def checkpoint_path(settings: Settings) -> Path:
    """Where the worker of this partition keeps its predictor checkpoint."""
    worker = settings.worker
    return Path(worker.checkpoint_dir) / f"worker-{worker.partition}-of-{worker.partitions}.pkl"

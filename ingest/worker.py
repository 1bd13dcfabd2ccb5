"""The worker process: MQTT in, telemetry store and predictor out (docs/ARCHITECTURE.md, data flow).

One network thread (paho) queues messages; one processing thread handles them in chunks:
validate and dedupe, store, feed the predictor, commit the state DB — and only then
acknowledge the messages to the broker (manual PUBACK), so a crash before the commit gets
them redelivered instead of lost.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from wsgiref.simple_server import WSGIServer

import paho.mqtt.client as mqtt
from prometheus_client import start_http_server
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tenacity import (
    RetryCallState,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from forestall.contract import ContractError, Topic, parse_topic
from forestall.devices import DynSec, DynSecError, change_commands
from forestall.isolate import commit_isolating
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url
from forestall.ratelimit import FloodGuard, TokenBuckets
from forestall.series import TelemetryStore
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import Asset, Event, EventClock, IngestSequence
from ingest.apply import Applier, rejection_row
from ingest.client import IngestClient
from ingest.errors import is_retryable
from ingest.inbox import Inbox
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Outcome, Pipeline, Rejected, excerpt
from ingest.retention import run_retention
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
INBOX_BYTES = 32 << 20  # and payload bytes: 128 of the largest messages the contract allows
SWEEP_EVERY_S = 2.0
RETENTION_EVERY_S = 600.0  # wall clock between retention passes
KINDS = ("telemetry", "status", "ack")


class Received(NamedTuple):  # a tuple: one is made per message on paho's thread
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float  # wall clock, for liveness
    tenant: str  # from the topic, unchecked ("" if it has none): the inbox's turns and rate limits


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
        self._clocks = self._read_clocks()  # each tenant's event clock, as this worker last saw it
        self.pipeline = Pipeline(
            self.partition, self.partitions, resume=self._resume_window, horizon=self._horizon
        )
        self._retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential(multiplier=0.2, max=5.0) + wait_random(0, 0.2),
            sleep=self._wait,
            stop=self._stopping,
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        self.checkpoint_path = checkpoint_path(settings)
        self.predictor = self._load_predictor() if predictor_enabled else None
        self.applier = Applier(self.metrics, self.store)
        self._registry_cursor: int | None = None  # events read for registry changes (asset_assigned)
        self._inbox: Inbox[Received] = Inbox(INBOX_MESSAGES, INBOX_BYTES, size=_payload_size, key=_tenant_of)
        self._limiter = TokenBuckets(settings.worker.device_rate_per_s, settings.worker.device_burst)
        self._guard: FloodGuard | None = None
        self._disabler: ThreadPoolExecutor | None = None  # broker commands, off the processing thread
        if settings.worker.guard_url:
            w = settings.worker
            self._guard = FloodGuard(w.device_disable_after, w.device_disable_window_s)
            self._disabler = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-guard")
        self._stop = threading.Event()
        self.subscribed = threading.Event()  # set once the broker has acknowledged every subscription
        self._subscriptions = 0
        self._thread: threading.Thread | None = None
        self._metrics_server: WSGIServer | None = None
        self._client = self._make_client()
        self._last_sweep = 0.0
        self._last_retention = float("-inf")  # the first sweep purges
        self._heard: dict[tuple[str, str], float] = {}  # wall clock of the last message per asset
        self._last_checkpoint = time.monotonic()

    def _read_clocks(self) -> dict[str, float]:
        with self.sessions() as session:
            return {row.tenant: row.now for row in session.scalars(select(EventClock))}

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _stopping(self, _state: RetryCallState) -> bool:
        return self._stop.is_set()

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
            self._metrics_server, _ = start_http_server(
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
        if self._metrics_server is not None:  # a stopped worker is not scraped as up
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()
        if self._disabler is not None:
            self._disabler.shutdown(cancel_futures=True)
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
        mq = self.settings.mqtt
        client = make_client(
            mq.url,
            mq.client_id or f"forestall-{self.name}",
            ca_file=mq.ca_file,
            cert_file=mq.cert_file,
            key_file=mq.key_file,
            persistent=True,
            client_class=IngestClient,
            manual_ack=True,
        )
        assert isinstance(client, IngestClient)
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
        parts = msg.topic.split("/")
        tenant = parts[2] if len(parts) > 2 else ""
        received = Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.time(), tenant)
        if len(parts) == 5 and not self._limiter.allow((tenant, parts[3]), received.received_at):
            self.metrics.rejected.labels(reason="rate_limited").inc()
            if received.qos == 1:
                self._client.ack_many([received.mid])
            return
        self._inbox.put(received)

    # -- processing -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._commit(self._take_chunk())
        if len(self._inbox):
            self._commit(self._take_chunk(wait=False))

    def _take_chunk(self, wait: bool = True) -> list[Received]:
        chunk = self._inbox.take(CHUNK, 0.2 if wait else 0.0, budget=CHUNK_BYTES)
        self.metrics.queue.set(len(self._inbox))
        return chunk

    def _commit(self, chunk: list[Received]) -> None:
        """Process, commit and acknowledge a chunk; a message that fails alone is set aside as
        ``unstorable`` (``isolate.py``), a retryable failure retried in order with backoff."""
        committed = commit_isolating(
            chunk,
            lambda part: self._retrying(self._attempt, part),
            lambda item, exc: self._retrying(self._set_aside, item, exc),
            self._acknowledge,
            is_retryable,
        )
        if committed:
            self._sweep()

    def _acknowledge(self, part: list[Received]) -> None:
        # The subscriptions are QoS 1, so nothing arrives at QoS 2.
        self._client.ack_many([item.mid for item in part if item.qos == 1])

    def _attempt(self, chunk: list[Received]) -> None:
        try:
            self._process(chunk)
        except Exception:
            self._forget_uncommitted()
            raise
        self.applier.committed()

    def _set_aside(self, item: Received, exc: BaseException) -> None:
        """Keep a message that cannot be stored as an ``unstorable`` rejection, in a transaction alone."""
        try:
            topic: Topic | None = parse_topic(item.topic)
        except ContractError:
            topic = None
        detail = f"{type(exc).__name__}: {exc}"[:500]
        rejected = Rejected(
            "unstorable",
            detail,
            item.topic,
            topic.tenant if topic else None,
            topic.asset if topic else None,
            excerpt(item.payload),
        )
        with self.sessions.begin() as session:
            self.applier.apply(session, item.topic, Outcome(rejections=[rejected]))
        self.applier.committed()

    def _forget_uncommitted(self) -> None:
        """After a rolled-back chunk: the dedupe windows (else its retry counts as duplicates) and
        the cached registry rows are read again from the state DB."""
        self.pipeline.windows.clear()
        self._marks = None
        self.applier.reset()

    def _process(self, chunk: list[Received]) -> None:
        with self.sessions.begin() as session:
            outcomes = [self.pipeline.handle(item.topic, item.payload) for item in chunk]
            self.applier.load_assets(session, outcomes)
            for item, outcome in zip(chunk, outcomes, strict=True):
                if outcome.topic is not None and not outcome.not_owned:
                    self._heard[(outcome.topic.tenant, outcome.topic.asset)] = item.received_at
                self.applier.apply(session, item.topic, outcome)
            clocks, stored = self.applier.finish(session, self.pipeline)
            self._report_rate_limited(session)
            self._read_registry_changes(session)
            session.flush()  # what the messages wrote fails here, before the models learn from them
            if self.predictor is not None:
                self.metrics.recommendations.inc(self.predictor.process(session, stored, clocks))
        self._clocks.update(clocks)
        committed = time.time()
        lags: dict[str, list[float]] = {}
        for tenant, newest in self.applier.newest:
            lags.setdefault(tenant, []).append(max(committed - newest, 0.0))
        for tenant, values in lags.items():
            histogram = self.metrics.lag.labels(tenant=tenant)  # looked up once per chunk and tenant
            for value in values:
                histogram.observe(value)
        if (
            self.predictor is not None
            and time.monotonic() - self._last_checkpoint > self.settings.worker.checkpoint_interval_s
        ):
            self.checkpoint()

    def _report_rate_limited(self, session: Session) -> None:
        """One kept rejection per limited device and chunk (each message was counted when refused)."""
        rate, burst = self._limiter.rate_per_s, self._limiter.burst
        excess = self._limiter.take_excess()
        flooding = set(self._guard.observe(excess, time.time())) if self._guard else set()
        for (tenant, asset), count in excess.items():
            detail = f"{count} messages over the device limit of {rate:g}/s (burst {burst:g})"
            if (tenant, asset) in flooding:
                detail += "; still flooding: disabling the device at the broker"
            topic_name = f"forestall/v1/{tenant}/{asset}/telemetry"
            session.add(rejection_row(Rejected("rate_limited", detail, topic_name, tenant, asset, "")))
            self.applier.count_rejected(tenant, "rate_limited", count)
        if flooding:
            assert self._disabler is not None
            self._disabler.submit(self._disable_devices, sorted(flooding))

    def _disable_devices(self, devices: list[tuple[str, str]]) -> None:
        """Disable flooding devices' broker clients (and so disconnect them), over one connection
        — `forestall devices enable` lets one in again. Runs on the guard's thread; each failure is
        logged and counted."""
        url = self.settings.worker.guard_url
        assert url is not None
        ca_file = self.settings.mqtt.ca_file
        try:
            with DynSec(url, ca_file=str(ca_file) if ca_file else None) as dynsec:
                for tenant, asset in devices:
                    self._disable_one(dynsec, tenant, asset)
        except DynSecError as exc:  # the guard's connection itself
            self.metrics.devices_disabled.labels(outcome="failed").inc(len(devices))
            log.warning("could not reach the broker to disable %d flooding devices: %s", len(devices), exc)

    def _disable_one(self, dynsec: DynSec, tenant: str, asset: str) -> None:
        try:
            dynsec.run(change_commands("disable", tenant, asset))
        except (ValueError, DynSecError) as exc:
            self.metrics.devices_disabled.labels(outcome="failed").inc()
            log.warning("could not disable flooding device %s/%s: %s", tenant, asset, exc)
            return
        self.metrics.devices_disabled.labels(outcome="disabled").inc()
        log.warning("disabled flooding device %s/%s at the broker (forestall devices enable)", tenant, asset)

    def _horizon(self, tenant: str, running: float) -> float:
        """The newest sample time accepted from a tenant's devices (``worker.max_future_s``)."""
        clock = max(self._clocks.get(tenant, float("-inf")), running)
        return max(clock, time.time()) + self.settings.worker.max_future_s

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

    def _sweep(self) -> None:
        """Liveness and retention, in a transaction of their own: no message waits on them."""
        if time.monotonic() - self._last_sweep < SWEEP_EVERY_S:
            return
        self._last_sweep = time.monotonic()
        try:
            with self.sessions.begin() as session:
                self._sweep_liveness(session)
                # Every partition sees every tenant's clock; one of them is enough to purge.
                if self.partition == 0 and time.monotonic() - self._last_retention > RETENTION_EVERY_S:
                    self._last_retention = time.monotonic()
                    retention_s = self.settings.store.retention_days * 86400.0
                    removed = run_retention(session, self.store, self._clocks, time.time(), retention_s)
                    log.info("retention removed %d rows", removed)
            self.applier.write_points(time.time())  # the offline changes, once they are committed
        except Exception:
            self.applier.reset()  # what the rolled-back sweep changed is not to be charted
            log.exception(
                "worker %s: the liveness and retention sweep failed; next in %s s", self.name, SWEEP_EVERY_S
            )

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


def _tenant_of(item: Received) -> str:
    return item.tenant


def checkpoint_path(settings: Settings) -> Path:
    """Where the worker of this partition keeps its predictor checkpoint."""
    worker = settings.worker
    return Path(worker.checkpoint_dir) / f"worker-{worker.partition}-of-{worker.partitions}.pkl"

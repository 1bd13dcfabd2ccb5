"""The worker process: a source in, telemetry store and predictor out (docs/ARCHITECTURE.md, data flow).

The worker only composes its parts (ingest/README.md, structure). The source's thread hands each
message to the admission (rate limits, the bounded inbox); one processing thread takes chunks
from the inbox and commits each in one state DB transaction (``chunk.py``) — and only then has
the source acknowledge them, so a crash before the commit gets them redelivered instead of lost.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from tenacity import (
    RetryCallState,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from forestall.isolate import commit_isolating
from forestall.series import TelemetryStore
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from ingest.admission import Admission
from ingest.apply import Applier
from ingest.checkpoint import Checkpoints, checkpoint_path, load_predictor
from ingest.chunk import ChunkProcessor
from ingest.errors import is_retryable
from ingest.guard import BrokerGuard
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Pipeline
from ingest.resume import DedupeMarks, EventClocks
from ingest.sources import Received, Source, open_source
from ingest.store import open_store
from ingest.sweep import Sweeper

if TYPE_CHECKING:
    from predictor.service import PredictorService

__all__ = ["Worker", "checkpoint_path"]
log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        predictor_enabled: bool = True,
        store: TelemetryStore | None = None,
        source: Source | None = None,
    ) -> None:
        """``store`` and ``source``: the ones ``store.kind`` and ``worker.source`` name, unless given."""
        self.settings = settings
        self.partition, self.partitions = settings.worker.partition, settings.worker.partitions
        self.name = f"worker-{self.partition}-of-{self.partitions}"
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = store or open_store(settings)
        self.metrics = WorkerMetrics()
        self.clocks = EventClocks(self.sessions, settings.worker.max_future_s)
        self.marks = DedupeMarks(self.sessions)
        self.pipeline = Pipeline(
            self.partition, self.partitions, resume=self.marks.window, horizon=self.clocks.horizon
        )
        self.checkpoint_path = checkpoint_path(settings)
        self.predictor: PredictorService | None = (
            load_predictor(self.checkpoint_path, self.sessions, self.store, self.pipeline.owns)
            if predictor_enabled
            else None
        )
        self.checkpoints = Checkpoints(
            self.checkpoint_path, settings.worker.checkpoint_interval_s, self.predictor
        )
        self.applier = Applier(self.metrics, self.store)
        self.source = source or open_source(settings, self.name)
        self._guard = BrokerGuard(settings, self.metrics, self.name) if settings.worker.guard_url else None
        self.admission = Admission(settings, self.source, self.metrics, self._guard)
        self.sweeper = Sweeper(
            settings,
            self.sessions,
            self.store,
            self.applier,
            self.clocks,
            self.pipeline.owns,
            lambda: self.admission.backlog,
            self.name,
        )
        self.chunks = ChunkProcessor(
            self.sessions,
            self.pipeline,
            self.applier,
            self.admission,
            self.predictor,
            self.metrics,
            self.clocks,
            self.marks,
            self.sweeper.heard,
        )
        self._stop = threading.Event()
        self._retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_exponential(multiplier=0.2, max=5.0) + wait_random(0, 0.2),
            sleep=self._wait,
            stop=self._stopping,
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        self._thread: threading.Thread | None = None
        self._metrics_server: WSGIServer | None = None

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _stopping(self, _state: RetryCallState) -> bool:
        return self._stop.is_set()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.source.connected

    @property
    def subscribed(self) -> threading.Event:
        """Set once the source delivers what is published from then on."""
        return self.source.ready

    def start(self) -> None:
        if self.settings.worker.metrics_port is not None:
            self._metrics_server, _ = start_http_server(
                self.settings.worker.metrics_port,
                addr=self.settings.worker.metrics_host,
                registry=self.metrics.registry,
            )
        self.source.start(self.admission.deliver)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._metrics_server is not None:  # a stopped worker is not scraped as up
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.source.stop()
        if self._guard is not None:
            self._guard.stop()
        self.checkpoint()
        self.store.close()
        self.engine.dispose()

    def checkpoint(self) -> None:
        self.checkpoints.save()

    # -- processing -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._commit(self.admission.take())
        if self.admission.backlog:
            self._commit(self.admission.take(wait=False))

    def _commit(self, chunk: list[Received]) -> None:
        """Commit and acknowledge a chunk; a message that fails alone is set aside as ``unstorable``
        (``isolate.py``), a retryable failure retried in order with backoff."""
        committed = commit_isolating(
            chunk,
            lambda part: self._retrying(self.chunks.commit, part),
            lambda item, exc: self._retrying(self.chunks.set_aside, item, exc),
            self.source.ack,
            is_retryable,
        )
        if committed:
            self.checkpoints.save_if_due()
            self.sweeper.sweep()

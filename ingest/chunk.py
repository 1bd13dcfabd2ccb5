"""One chunk of messages, one state DB transaction: classify each message (``pipeline.py``),
apply it (``apply.py``), feed the predictor, commit. Acknowledging is the caller's, after this
returns; a message that fails alone is set aside here as ``unstorable``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forestall.contract import ContractError, Topic, parse_topic
from forestall.state.models import Event
from ingest.admission import Admission
from ingest.apply import Applier
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Outcome, Pipeline, Rejected, excerpt
from ingest.resume import DedupeMarks, EventClocks
from ingest.sources import Received

if TYPE_CHECKING:
    from predictor.service import PredictorService


class ChunkProcessor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        pipeline: Pipeline,
        applier: Applier,
        admission: Admission,
        predictor: PredictorService | None,
        metrics: WorkerMetrics,
        clocks: EventClocks,
        marks: DedupeMarks,
        heard: dict[tuple[str, str], float],
    ) -> None:
        """``heard``: the wall clock of each owned asset's last message, written here for liveness."""
        self._sessions = sessions
        self._pipeline = pipeline
        self._applier = applier
        self._admission = admission
        self._predictor = predictor
        self._metrics = metrics
        self._clocks = clocks
        self._marks = marks
        self._heard = heard
        self._registry_cursor: int | None = None  # events read for registry changes (asset_assigned)

    def commit(self, chunk: list[Received]) -> None:
        """Process and commit ``chunk``, or raise with nothing of it kept."""
        try:
            self._process(chunk)
        except Exception:
            self._forget_uncommitted()
            raise
        self._applier.committed()

    def set_aside(self, item: Received, exc: BaseException) -> None:
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
        with self._sessions.begin() as session:
            self._applier.apply(session, item.topic, Outcome(rejections=[rejected]))
        self._applier.committed()

    def _forget_uncommitted(self) -> None:
        """After a rolled-back chunk: the dedupe windows (else its retry counts as duplicates) and
        the cached registry rows are read again from the state DB."""
        self._pipeline.windows.clear()
        self._marks.forget()
        self._applier.reset()

    def _process(self, chunk: list[Received]) -> None:
        with self._sessions.begin() as session:
            outcomes = [self._pipeline.handle(item.topic, item.payload) for item in chunk]
            self._applier.load_assets(session, outcomes)
            for item, outcome in zip(chunk, outcomes, strict=True):
                if outcome.topic is not None and not outcome.not_owned:
                    self._heard[(outcome.topic.tenant, outcome.topic.asset)] = item.received_at
                self._applier.apply(session, item.topic, outcome)
            clocks, stored = self._applier.finish(session, self._pipeline)
            self._admission.report(session, self._applier)
            self._read_registry_changes(session)
            session.flush()  # what the messages wrote fails here, before the models learn from them
            if self._predictor is not None:
                self._metrics.recommendations.inc(self._predictor.process(session, stored, clocks))
        self._clocks.update(clocks)
        self._observe_lags()

    def _observe_lags(self) -> None:
        committed = time.time()
        lags: dict[str, list[float]] = {}
        for tenant, newest in self._applier.newest:
            lags.setdefault(tenant, []).append(max(committed - newest, 0.0))
        for tenant, values in lags.items():
            histogram = self._metrics.lag.labels(tenant=tenant)  # looked up once per chunk and tenant
            for value in values:
                histogram.observe(value)

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
            self._applier.forget_asset(event.tenant, event.asset_id)
        self._registry_cursor = session.scalar(select(func.max(Event.id))) or self._registry_cursor

"""Apply classified messages to the state DB and the telemetry store, one chunk at a time."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from forestall.contract import Sample, Status, Topic, format_ts, printable
from forestall.measurements import rejection_points, status_point
from forestall.series import Point, SeriesTags, TelemetryStore
from forestall.state.models import Asset, Command, Rejection
from forestall.state.repo import advance_tenant_clock, emit_webhook
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Outcome, Pipeline, Rejected

log = logging.getLogger(__name__)
# The same statement on SQLite and PostgreSQL, run on the driver with rows as tuples: with 1-sample
# batches a chunk touches up to 2,000 assets, and SQLAlchemy's per-row parameter processing took
# three times as long as the upserts themselves.
UPSERT_SEQUENCE = (
    "INSERT INTO ingest_sequences (tenant, asset_id, high_water, max_ts) VALUES ({0}, {0}, {0}, {0}) "
    "ON CONFLICT (tenant, asset_id) DO UPDATE SET high_water = excluded.high_water, max_ts = excluded.max_ts"
)
LOAD_ASSETS = 400  # keys per registry query (800 parameters: under old SQLite's limit of 999)
PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # sqlite3; psycopg


class Applier:
    def __init__(self, metrics: WorkerMetrics, store: TelemetryStore) -> None:
        self.metrics = metrics
        self.store = store
        self._assets: dict[tuple[str, str], Asset] = {}
        self._tags: dict[tuple[str, str], SeriesTags] = {}
        # What the chunk in progress adds to the metrics, published once its transaction commits.
        self._kinds: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._duplicates = self._seq_resets = self._stored = 0
        self._samples: dict[tuple[str, str], list[Sample]] = defaultdict(list)
        self._touched: set[tuple[str, str]] = set()
        self._rejected: Counter[tuple[str, str]] = Counter()  # (tenant, reason) of the chunk
        self._points: list[Point] = []  # asset_status changes of the chunk (forestall.measurements)
        self.samples_stored = 0
        self.newest: list[tuple[str, float]] = []  # tenant, newest sample time of each batch last stored

    def reset(self) -> None:
        """Forget what a rolled-back chunk left: pending samples and counts, cached registry rows."""
        self._assets.clear()
        self._tags.clear()
        self._samples.clear()
        self._touched.clear()
        self._rejected.clear()
        self._points.clear()
        self._forget_counts()

    def _forget_counts(self) -> None:
        self._kinds.clear()
        self._reasons.clear()
        self._duplicates = self._seq_resets = self._stored = 0

    def committed(self) -> None:
        """The chunk's transaction committed: count what it stored and rejected."""
        for kind, count in self._kinds.items():
            self.metrics.messages.labels(kind=kind).inc(count)
        for reason, count in self._reasons.items():
            self.metrics.rejected.labels(reason=reason).inc(count)
        self.metrics.duplicates.inc(self._duplicates)
        self.metrics.seq_resets.inc(self._seq_resets)
        self.metrics.samples.inc(self._stored)
        self.samples_stored += self._stored
        self._forget_counts()
        self.write_points(time.time())  # after the commit: a rolled-back chunk's retry counts once

    def forget_asset(self, tenant: str, asset_id: str | None) -> None:
        """Re-read an asset's registry row next time (its customer or type changed)."""
        if asset_id is not None:
            self._assets.pop((tenant, asset_id), None)
            self._tags.pop((tenant, asset_id), None)

    def apply(self, session: Session, topic_name: str, outcome: Outcome) -> None:
        for rejected in outcome.rejections:
            self._reject(session, rejected)
        topic = outcome.topic
        if topic is None or outcome.not_owned:
            return
        self._kinds[topic.kind] += 1
        if outcome.duplicate:
            self._duplicates += 1
            return
        if outcome.seq_reset:
            self._seq_resets += 1
            log.warning(
                "%s/%s restarted its telemetry sequence at %s", topic.tenant, topic.asset, outcome.seq
            )
        if outcome.seq is not None:
            self._touched.add((topic.tenant, topic.asset))
            self._asset(session, topic)
        if outcome.samples:
            self._samples[(topic.tenant, topic.asset)].extend(outcome.samples)
        if outcome.status is not None:
            self._status(session, topic, outcome.status)
        if outcome.ack is not None:
            command = session.get(Command, outcome.ack.id)
            if command is not None and command.tenant == topic.tenant and command.asset_id == topic.asset:
                command.status = "acked" if outcome.ack.ok else "failed"
                command.acked_at, command.error = time.time(), outcome.ack.error

    def finish(
        self, session: Session, pipeline: Pipeline
    ) -> tuple[dict[str, float], list[tuple[Asset, list[Sample]]]]:
        """Save dedupe marks, move event clocks and store the chunk's samples.

        The state DB is flushed first: a message whose rows it refuses fails the chunk before its
        samples reach the store. Returns each touched tenant's event clock and the stored samples
        by asset.
        """
        tenants: set[str] = set()
        self.newest = []
        samples, self._samples = self._samples, defaultdict(list)
        batch_items = []
        for key, batch in samples.items():
            tags = self._tags.get(key) or self._series_tags(session, key)
            batch_items.append((tags, batch))
            newest = batch[0].ts if len(batch) == 1 else max(s.ts for s in batch)
            self.newest.append((key[0], newest))
            tenants.add(key[0])
        self._save_sequences(session, pipeline)
        wall = time.time()
        clocks = {tenant: advance_tenant_clock(session, tenant, wall) for tenant in sorted(tenants)}
        session.flush()
        if batch_items:
            self.store.write_batch(batch_items)
        self._stored += sum(len(batch) for _, batch in batch_items)
        stored_by_asset = [(self._assets[(tags.tenant, tags.asset)], batch) for tags, batch in batch_items]
        return {tenant: clock for tenant, clock in clocks.items() if clock is not None}, stored_by_asset

    def _save_sequences(self, session: Session, pipeline: Pipeline) -> None:
        """Upsert the dedupe marks of the assets this chunk touched, as one executemany."""
        rows = []
        for tenant, asset_id in self._touched:
            window = pipeline.window(tenant, asset_id)
            max_ts = window.max_ts if math.isfinite(window.max_ts) else None
            rows.append((tenant, asset_id, window.high_water or 0, max_ts))
        self._touched.clear()
        if rows:
            connection = session.connection()
            placeholder = PLACEHOLDERS[connection.dialect.paramstyle]
            connection.exec_driver_sql(UPSERT_SEQUENCE.format(placeholder), rows)

    def _series_tags(self, session: Session, key: tuple[str, str]) -> SeriesTags:
        asset = self._asset(session, Topic(key[0], key[1], "telemetry"))
        tags = SeriesTags(key[0], key[1], asset.asset_type, asset.customer_id or "", asset.site or "")
        self._tags[key] = tags
        return tags

    def load_assets(self, session: Session, outcomes: Sequence[Outcome]) -> None:
        """Read the registry rows of a chunk's assets not seen yet, a few hundred per query, and
        register the unknown ones: one ``session.get`` (and autoflush) each took about 1 ms."""
        keys = {
            (o.topic.tenant, o.topic.asset)
            for o in outcomes
            if o.topic is not None and o.seq is not None and not o.not_owned
        }
        missing = [key for key in keys if key not in self._assets]
        for start in range(0, len(missing), LOAD_ASSETS):
            wanted = tuple_(Asset.tenant, Asset.id).in_(missing[start : start + LOAD_ASSETS])
            for asset in session.scalars(select(Asset).where(wanted)):
                self._assets[(asset.tenant, asset.id)] = asset
        for tenant, asset_id in missing:
            if (tenant, asset_id) not in self._assets:
                self._register(session, tenant, asset_id)

    def _asset(self, session: Session, topic: Topic) -> Asset:
        key = (topic.tenant, topic.asset)
        asset = self._assets.get(key)
        if asset is None:
            asset = session.get(Asset, key)
            if asset is None:
                return self._register(session, topic.tenant, topic.asset)
            self._assets[key] = asset
        return asset

    def _register(self, session: Session, tenant: str, asset_id: str) -> Asset:
        # Unknown assets are registered unassigned: stored, but no customer's risk yet.
        asset = Asset(
            tenant=tenant,
            id=asset_id,
            customer_id=None,
            asset_type="unknown",
            criticality=3,
            safety_critical=False,
            created_at=time.time(),
        )
        session.add(asset)  # flushed with the chunk's other new assets
        log.info("registered unknown asset %s/%s as unassigned", tenant, asset_id)
        self._assets[(tenant, asset_id)] = asset
        return asset

    def _status(self, session: Session, topic: Topic, status: Status) -> None:
        asset = session.get(Asset, (topic.tenant, topic.asset)) or self._asset(session, topic)
        online = status.state == "online"
        at = status.ts if status.ts is not None else (asset.last_seen_at or time.time())
        if asset.online is not online:
            if online:
                asset.online_since = at
                self._points.append(status_point(asset.tenant, asset.id, asset.customer_id, True, at))
            else:
                self.mark_offline(session, asset, at)
        asset.online, asset.last_seen_at = online, at
        asset.agent_status = {
            "state": status.state,
            "agent": status.agent,
            "drivers": status.drivers,
            "buffer": {"pending": status.buffer_pending, "dropped": status.buffer_dropped},
        }

    def mark_offline(self, session: Session, asset: Asset, since: float) -> None:
        """Set an asset offline since ``since`` (event time) and emit ``asset.offline``."""
        asset.online, asset.online_since = False, since
        self._points.append(status_point(asset.tenant, asset.id, asset.customer_id, False, since))
        emit_webhook(
            session,
            asset.tenant,
            "asset.offline",
            since,
            {"asset_id": asset.id, "since": format_ts(since), "customer_id": asset.customer_id},
        )

    def _reject(self, session: Session, rejected: Rejected) -> None:
        self._reasons[rejected.reason] += 1
        self._rejected[(rejected.tenant or "", rejected.reason)] += 1
        session.add(rejection_row(rejected))

    def count_rejected(self, tenant: str, reason: str, count: int) -> None:
        """Rejections kept elsewhere (the device rate limit's), for the chunk's points only."""
        self._rejected[(tenant, reason)] += count

    def write_points(self, at: float) -> None:
        """The committed status changes and rejection counts (stamped ``at``, wall clock), to the
        store. They are what the dashboards chart, not the record (the state DB is): a store that
        refuses them is logged, not retried."""
        points = self._points + rejection_points(self._rejected, at)
        self._points, self._rejected = [], Counter()
        if not points:
            return
        try:
            self.store.write_points(points)
        except Exception:
            log.warning("could not store %d liveness and rejection points", len(points), exc_info=True)


def rejection_row(rejected: Rejected) -> Rejection:
    """The kept copy of a rejection, with what a database cannot hold escaped."""
    return Rejection(
        tenant=rejected.tenant,
        asset_id=rejected.asset,
        topic=printable(rejected.topic[:1000]),
        reason=rejected.reason,
        detail=printable(rejected.detail[:1000]),
        received_at=time.time(),
        excerpt=printable(rejected.excerpt),
    )

"""The InfluxDB TelemetryStore: line protocol journalled on disk, written by a background thread.

``write_samples``/``write_points`` encode line protocol and append it to the spool (a
SQLite file) before returning, so the worker acknowledges MQTT only once the data is on
disk. The writer thread sends the oldest batches first — up to ``batch_size`` lines, or
whatever is there after ``flush_interval_s`` — and deletes them once the server has
them. RetryableWriteError errors back off exponentially with full jitter (honouring Retry-After)
and keep the order, per bucket: with a bucket per tenant, one the server keeps refusing waits
while the others are written; a batch refused as malformed moves to the ``rejected`` table and
the rest continue. A server that is down only makes the spool grow; it drains in order when
the server returns, also after a restart of the process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import httpx

from forestall.contract import ID_RE, Sample
from forestall.series import Point, SeriesTags, StoreError
from forestall.settings import InfluxSettings
from ingest.store.influxdb.lineproto import encode_points, encode_samples
from ingest.store.influxdb.query import InfluxQL
from ingest.store.influxdb.spool import Batch, Spool
from ingest.store.influxdb.transport import (
    MalformedBatchError,
    RetryableWriteError,
    Transport,
    V1Transport,
    V2Transport,
    bucket_for,
)

log = logging.getLogger(__name__)
BASE_DELAY_S = 0.2

__all__ = ["InfluxStore"]


class InfluxStore:
    def __init__(
        self, settings: InfluxSettings, spool_path: Path | str, *, retention_days: float = 90.0
    ) -> None:
        self.settings = settings
        self.retention_s = retention_days * 86400.0
        self.spool = Spool(Path(spool_path))
        self.batches_written = 0
        self.lines_written = 0
        self.batches_rejected = 0
        self.retries = 0
        self._transport: Transport = V1Transport(settings) if settings.api == "v1" else V2Transport(settings)
        self._query = InfluxQL(settings)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._flush_requested = False
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._backoff: dict[str, tuple[float, int]] = {}  # per bucket: retry after (monotonic), attempts
        if self.spool.pending_lines:
            self._ensure_writer()  # replay what a previous run left behind

    # -- writes -----------------------------------------------------------------------------

    def write_samples(self, tags: SeriesTags, samples: Sequence[Sample]) -> None:
        self.write_batch([(tags, samples)])

    def write_batch(self, items: Sequence[tuple[SeriesTags, Sequence[Sample]]]) -> None:
        by_bucket: dict[str, list[str]] = defaultdict(list)
        for tags, samples in items:
            by_bucket[self._bucket(tags.tenant)].extend(encode_samples(tags, samples))
        self._append(by_bucket)

    def write_points(self, points: Sequence[Point]) -> None:
        by_bucket: dict[str, list[Point]] = defaultdict(list)
        for point in points:
            by_bucket[self._bucket(point.tags.get("tenant", ""))].append(point)
        self._append({bucket: encode_points(group) for bucket, group in by_bucket.items()})

    def _bucket(self, tenant: str) -> str:
        """The spool's name for a tenant's bucket: '' for the configured one, which also takes what
        names no valid tenant (a rejection counted under a topic's made-up tenant)."""
        if not self.settings.tenant_buckets or not ID_RE.fullmatch(tenant):
            return ""
        return bucket_for(self.settings, tenant)

    def _append(self, by_bucket: dict[str, list[str]]) -> None:
        count = sum(len(lines) for lines in by_bucket.values())
        if not count:
            return
        if self.spool.pending_lines + count > self.settings.max_spooled_lines:
            raise StoreError(
                f"influxdb spool holds {self.spool.pending_lines} lines (max_spooled_lines); "
                f"is {self.settings.url} down?",
                retryable=True,
            )
        for bucket, lines in by_bucket.items():
            if lines:
                self.spool.append(lines, bucket)
        self._ensure_writer()
        if self.spool.pending_lines >= self.settings.batch_size:
            self._wake.set()

    @property
    def reachable(self) -> bool:
        """No bucket is backing off after a failed write."""
        return not self._backoff

    def flush(self, timeout: float = 30.0) -> bool:
        """Send everything spooled now; True when the spool is empty within ``timeout``."""
        end = time.monotonic() + timeout
        with self._idle:
            self._flush_requested = True
            self._wake.set()
            while self.spool.pending_lines > 0 and time.monotonic() < end:
                self._idle.wait(min(0.2, max(0.0, end - time.monotonic())))
            self._flush_requested = False
            return self.spool.pending_lines == 0

    def rejected(self) -> list[tuple[str, str]]:
        return self.spool.rejected()

    def health(self) -> bool:
        """The server answers its ping (``/ping``: InfluxDB 1.x, 2.x, 3.x, VictoriaMetrics)."""
        try:
            return self._query.client.get("/ping").status_code < 300
        except httpx.HTTPError:
            return False

    # -- queries ----------------------------------------------------------------------------

    def query_telemetry(
        self,
        tenant: str,
        asset: str,
        start: float,
        end: float,
        sensors: Sequence[str] | None = None,
        limit: int = 10_000,
        after: float | None = None,
    ) -> list[tuple[float, dict[str, float]]]:
        return self._query.telemetry(tenant, asset, start, end, sensors, limit, after)

    def query_points(
        self, measurement: str, tenant: str, key: str, start: float, end: float, limit: int = 10_000
    ) -> list[Point]:
        return self._query.points(measurement, tenant, key, start, end, limit)

    def count_samples(self, tenant: str | None = None) -> int:
        raise StoreError(
            "count_samples is not supported by the influxdb store (InfluxQL counts fields, not "
            "samples); count with the worker's forestall_ingest_samples_total",
            retryable=False,
        )

    def purge(self, tenant: str, now: float) -> int:
        """Delete the tenant's points older than the retention before its event clock ``now``.

        The server's own bucket retention (wall clock) still applies; the count removed is unknown (0).
        """
        try:
            self._transport.delete_tenant(tenant, now - self.retention_s)
        except RetryableWriteError as exc:
            raise StoreError(f"influxdb delete failed: {exc}", retryable=True) from exc
        except MalformedBatchError as exc:
            raise StoreError(f"influxdb delete refused: {exc}", retryable=False) from exc
        return 0

    def close(self) -> None:
        if not self.flush(timeout=self.settings.timeout_s):
            log.warning("influxdb store closing with %d lines spooled for later", self.spool.pending_lines)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_s + 5)
        self._transport.close()
        self._query.close()
        self.spool.close()

    # -- the writer thread ------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="influxdb-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            waiting = {bucket: until for bucket, (until, _) in self._backoff.items() if until > now}
            batches = self.spool.head(self.settings.batch_size, skip=tuple(waiting))
            wait = self._wait_before(batches)
            if not batches and waiting:
                wait = min(wait, min(waiting.values()) - now)
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            self._send(batches)
            with self._idle:
                self._idle.notify_all()

    def _wait_before(self, batches: list[Batch]) -> float:
        """Seconds to wait for more lines before sending (0: send now)."""
        if not batches:
            return self.settings.flush_interval_s
        if self._flush_requested or sum(b.lines for b in batches) >= self.settings.batch_size:
            return 0.0
        age = time.time() - batches[0].added
        return max(0.0, self.settings.flush_interval_s - age)

    def _send(self, batches: list[Batch]) -> None:
        """One write of the oldest batches of one bucket. A retryable failure backs that bucket off
        (its batches wait, in order) while the other buckets' go on: with a bucket per tenant, one
        tenant's bucket the server refuses does not hold up the others."""
        bucket = batches[0].bucket
        try:
            self._transport.write("\n".join(b.body for b in batches), bucket)
        except RetryableWriteError as exc:
            self._back_off(bucket, exc)
            return
        except MalformedBatchError as exc:
            if len(batches) > 1:  # find the culprit; rewriting the good ones is idempotent
                for batch in batches:
                    self._send([batch])
                return
            self.batches_rejected += 1
            log.error("influxdb refused a batch of %d lines as malformed: %s", batches[0].lines, exc)
            self.spool.reject(batches[0], str(exc))
            return
        if self._backoff.pop(bucket, None) is not None:
            log.info("influxdb takes writes to %s again; replaying the spool", bucket or self.settings.bucket)
        self.spool.done(batches)
        self.batches_written += len(batches)
        self.lines_written += sum(b.lines for b in batches)

    def _back_off(self, bucket: str, exc: RetryableWriteError) -> None:
        """Exponential backoff with full jitter (or the server's Retry-After), per bucket."""
        _, attempt = self._backoff.get(bucket, (0.0, 0))
        if attempt == 0:
            log.warning("influxdb write to %s failed, will retry: %s", bucket or self.settings.bucket, exc)
        self.retries += 1
        delay = exc.retry_after
        if delay is None:
            cap = min(self.settings.max_retry_delay_s, BASE_DELAY_S * 2**attempt)
            delay = random.uniform(cap / 2, cap)
        until = time.monotonic() + min(delay, self.settings.max_retry_delay_s)
        self._backoff[bucket] = (until, attempt + 1)

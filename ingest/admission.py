"""What a source delivers goes through here to the processing thread, whatever the source.

A device over ``worker.device_rate_per_s`` (after its burst) has the excess refused at once:
counted as ``rate_limited``, acknowledged, and kept as one rejection row per device and chunk
(``report``). The rest waits in the bounded inbox (``inbox.py``), one queue per tenant.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from forestall.ratelimit import TokenBuckets
from forestall.settings import Settings
from ingest.apply import Applier, rejection_row
from ingest.guard import BrokerGuard
from ingest.inbox import Inbox
from ingest.metrics import WorkerMetrics
from ingest.pipeline import Rejected
from ingest.sources import Received, Source

CHUNK = 2000
# Bytes of payload per chunk, as well: a chunk is one state DB transaction, and a transaction
# of large batches (hours of a backlog, each reading a model step) would keep the API waiting.
CHUNK_BYTES = 1 << 20
# Messages received but not yet processed; when full, the source's thread waits and the broker
# holds the rest (unacknowledged QoS 1), which bounds memory under a backlog.
INBOX_MESSAGES = 10_000
INBOX_BYTES = 32 << 20  # and payload bytes: 128 of the largest messages the contract allows


class Admission:
    def __init__(
        self, settings: Settings, source: Source, metrics: WorkerMetrics, guard: BrokerGuard | None = None
    ) -> None:
        self._source = source
        self._metrics = metrics
        self._guard = guard
        self._limiter = TokenBuckets(settings.worker.device_rate_per_s, settings.worker.device_burst)
        self._inbox: Inbox[Received] = Inbox(INBOX_MESSAGES, INBOX_BYTES, size=_payload_size, key=_tenant_of)

    def deliver(self, received: Received) -> None:
        """Take one message on the source's thread: refuse it, or queue it (waiting while full)."""
        if received.asset is not None and not self._limiter.allow(
            (received.tenant, received.asset), received.received_at
        ):
            self._metrics.rejected.labels(reason="rate_limited").inc()
            self._source.ack([received])
            return
        self._inbox.put(received)

    def take(self, wait: bool = True) -> list[Received]:
        """The next chunk, in turns across tenants; waits up to 0.2 s for a first message."""
        chunk = self._inbox.take(CHUNK, 0.2 if wait else 0.0, budget=CHUNK_BYTES)
        self._metrics.queue.set(len(self._inbox))
        return chunk

    @property
    def backlog(self) -> int:
        """Messages waiting in the inbox."""
        return len(self._inbox)

    def report(self, session: Session, applier: Applier) -> None:
        """One kept rejection per limited device and chunk (each message was counted when refused)."""
        rate, burst = self._limiter.rate_per_s, self._limiter.burst
        excess = self._limiter.take_excess()
        flooding = self._guard.observe(excess, time.time()) if self._guard else set()
        for (tenant, asset), count in excess.items():
            detail = f"{count} messages over the device limit of {rate:g}/s (burst {burst:g})"
            if (tenant, asset) in flooding:
                detail += "; still flooding: disabling the device at the broker"
            topic_name = f"forestall/v1/{tenant}/{asset}/telemetry"
            session.add(rejection_row(Rejected("rate_limited", detail, topic_name, tenant, asset, "")))
            applier.count_rejected(tenant, "rate_limited", count)


def _payload_size(item: Received) -> int:
    return len(item.payload)


def _tenant_of(item: Received) -> str:
    return item.tenant

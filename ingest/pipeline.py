"""Classify one MQTT message per the contract: samples to store, status, ack, or a rejection.

Pure logic apart from the per-asset dedupe windows it keeps; the worker does the I/O.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from forestall.clock import clock_from
from forestall.contract import (
    Ack,
    ContractError,
    Sample,
    Status,
    Topic,
    format_ts,
    parse_ack,
    parse_status,
    parse_telemetry,
    parse_topic,
)
from ingest.sequence import SeqWindow

EXCERPT_BYTES = 512


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    topic: str
    tenant: str | None
    asset: str | None
    excerpt: str


@dataclass(slots=True)
class Outcome:
    """What one message amounts to; several fields may be set (samples plus per-sample rejections)."""

    topic: Topic | None = None
    samples: list[Sample] = field(default_factory=list)
    seq: int | None = None
    status: Status | None = None
    ack: Ack | None = None
    duplicate: bool = False
    seq_reset: bool = False
    not_owned: bool = False
    rejections: list[Rejected] = field(default_factory=list)


def excerpt(payload: bytes) -> str:
    return payload[:EXCERPT_BYTES].decode("utf-8", errors="replace")


def owner(tenant: str, asset: str, partitions: int) -> int:
    """The partition that owns an asset: a stable hash of (tenant, asset)."""
    return zlib.crc32(f"{tenant}/{asset}".encode()) % partitions


class Pipeline:
    def __init__(
        self,
        partition: int = 0,
        partitions: int = 1,
        resume: Callable[[str, str], SeqWindow] | None = None,
        horizon: Callable[[str, float], float] | None = None,
    ) -> None:
        """``horizon(tenant, running)``: the newest sample time accepted from the tenant's devices
        (later samples are rejected alone as ``future_ts``), given the tenant's clock as the
        messages handled so far move it (``running``, ahead of what is committed in a backlog)."""
        if not 0 <= partition < partitions:
            raise ValueError(f"worker.partition must be in [0, {partitions}), got {partition}")
        self.partition = partition
        self.partitions = partitions
        self.windows: dict[tuple[str, str], SeqWindow] = {}
        self._resume = resume or (lambda _tenant, _asset: SeqWindow())
        self._horizon = horizon or (lambda _tenant, _running: math.inf)
        self._leaders: dict[str, list[tuple[float, str]]] = {}  # per tenant, its two newest assets
        self._limits: dict[str, float] = {}  # per tenant, the last horizon computed

    def owns(self, tenant: str, asset: str) -> bool:
        return self.partitions == 1 or owner(tenant, asset, self.partitions) == self.partition

    def window(self, tenant: str, asset: str) -> SeqWindow:
        key = (tenant, asset)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = self._resume(tenant, asset)
        return window

    def handle(self, topic_name: str, payload: bytes) -> Outcome:
        try:
            topic = parse_topic(topic_name)
        except ContractError as exc:
            return Outcome(
                rejections=[Rejected(exc.reason, exc.detail, topic_name, None, None, excerpt(payload))]
            )
        outcome = Outcome(topic=topic)
        if not self.owns(topic.tenant, topic.asset):
            outcome.not_owned = True
            return outcome
        try:
            if topic.kind == "telemetry":
                self._telemetry(topic, payload, outcome)
            elif topic.kind == "status":
                outcome.status = parse_status(payload)
            elif topic.kind == "ack":
                outcome.ack = parse_ack(payload)
        except ContractError as exc:
            outcome.rejections.append(self._rejected(exc.reason, exc.detail, topic_name, topic, payload))
        return outcome

    def _telemetry(self, topic: Topic, payload: bytes, outcome: Outcome) -> None:
        batch = parse_telemetry(payload, asset=topic.asset)
        for bad in batch.rejected:
            detail = f"sample {bad.index}: {bad.detail}"
            outcome.rejections.append(self._rejected("invalid_value", detail, _name(topic), topic, payload))
        samples = batch.samples
        newest = max((s.ts for s in samples), default=-math.inf)
        # The limit only grows (clocks and the wall clock only move on): a batch under the last
        # one computed needs no new one.
        limit = self._limits.get(topic.tenant, -math.inf)
        if newest > limit:
            limit = self._limits[topic.tenant] = self._horizon(topic.tenant, self.running_clock(topic.tenant))
        if newest > limit:
            kept = [s for s in samples if s.ts <= limit]
            detail = (
                f"{len(samples) - len(kept)} of {len(samples)} samples stamped after {format_ts(limit)}, "
                "further ahead of the event clock and the wall clock than worker.max_future_s"
            )
            outcome.rejections.append(self._rejected("future_ts", detail, _name(topic), topic, payload))
            samples = kept
        stamps = [s.ts for s in samples]
        window = self.window(topic.tenant, topic.asset)
        verdict = window.check(batch.seq, min(stamps) if stamps else None)
        outcome.seq = batch.seq
        if verdict == "duplicate":
            outcome.duplicate = True
            return
        outcome.seq_reset = verdict == "seq_reset"
        if stamps:
            window.observe_ts(max(stamps))
            self._lead(topic.tenant, topic.asset, window.max_ts)
        outcome.samples = samples

    def _lead(self, tenant: str, asset: str, ts: float) -> None:
        """Keep the tenant's two most advanced assets (newest first); ``ts`` never falls for an asset."""
        top = self._leaders.get(tenant)
        if top is None:
            self._leaders[tenant] = [(ts, asset)]
        elif top[0][1] == asset:
            top[0] = (ts, asset)
        elif ts >= top[0][0]:
            self._leaders[tenant] = [(ts, asset), top[0]]
        elif len(top) == 1 or ts > top[1][0] or top[1][1] == asset:
            self._leaders[tenant] = [top[0], (ts, asset)]

    def running_clock(self, tenant: str) -> float:
        """The tenant's clock as the messages handled so far say (``forestall.clock.clock_from``)."""
        newest = [ts for ts, _ in self._leaders.get(tenant, []) if math.isfinite(ts)]
        clock = clock_from(newest, time.time())
        return clock if clock is not None else -math.inf

    @staticmethod
    def _rejected(reason: str, detail: str, topic_name: str, topic: Topic, payload: bytes) -> Rejected:
        return Rejected(reason, detail, topic_name, topic.tenant, topic.asset, excerpt(payload))


def _name(topic: Topic) -> str:
    return f"forestall/v1/{topic.tenant}/{topic.asset}/{topic.kind}"

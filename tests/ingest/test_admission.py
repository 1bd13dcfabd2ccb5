"""Between any source and the processing thread: the device rate limit, then the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.models import Rejection
from ingest.admission import Admission
from ingest.apply import Applier
from ingest.metrics import WorkerMetrics
from ingest.sources import Received
from ingest.store.embedded import EmbeddedStore


class AckLog:
    """A stand-in source for the admission's one call back to it: what it was told to acknowledge."""

    def __init__(self) -> None:
        self.acked: list[Received] = []

    def ack(self, items: Sequence[Received]) -> None:
        self.acked.extend(items)


def message(tenant: str, asset: str | None, n: int, at: float = 1_000.0) -> Received:
    topic = f"forestall/v1/{tenant}/{asset}/telemetry" if asset else f"forestall/v1/{tenant}"
    return Received(topic, b"x" * n, at, tenant, asset, 0, None, n)


def admission(rate: float = 1.0, burst: int = 2) -> tuple[Admission, AckLog, WorkerMetrics]:
    source, metrics = AckLog(), WorkerMetrics()
    settings = Settings(worker={"device_rate_per_s": rate, "device_burst": burst})
    return Admission(settings, source, metrics), source, metrics  # type: ignore[arg-type]


def test_a_device_over_its_rate_has_the_excess_acknowledged_and_counted_not_queued() -> None:
    gate, source, metrics = admission(burst=2)
    for n in range(1, 6):
        gate.deliver(message("acme", "pump-1", n))
    gate.deliver(message("acme", "pump-2", 6))  # another device has its own burst
    gate.deliver(message("acme", None, 7))  # a topic without an asset is the pipeline's to refuse
    assert [item.ack for item in source.acked] == [3, 4, 5]
    assert metrics.rejected.labels(reason="rate_limited")._value.get() == 3
    assert gate.backlog == 4
    assert [item.ack for item in gate.take(wait=False)] == [1, 2, 6, 7]
    assert gate.backlog == 0 and metrics.queue._value.get() == 0


def test_a_chunk_takes_the_tenants_in_turns() -> None:
    gate, source, _ = admission(rate=1000.0, burst=1000)
    for n in range(1, 5):
        gate.deliver(message("busy", f"a{n}", n))
    gate.deliver(message("calm", "c1", 10))
    assert [item.ack for item in gate.take(wait=False)] == [1, 10, 2, 3, 4]
    assert source.acked == []


def test_the_refused_are_kept_as_one_rejection_per_device_with_their_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    gate, _, metrics = admission(burst=1)
    for n in range(1, 5):
        gate.deliver(message("acme", "pump-1", n))
    gate.deliver(message("beta", "fan-1", 9))
    applier = Applier(metrics, EmbeddedStore(tmp_path / "tsdb.sqlite"))
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as session:
        gate.report(session, applier)
    with sessions.begin() as session:
        gate.report(session, applier)  # nothing new refused: nothing more kept
    with sessions() as session:
        rows = [(r.reason, r.tenant, r.asset_id, r.detail) for r in session.scalars(select(Rejection))]
    assert rows == [
        ("rate_limited", "acme", "pump-1", "3 messages over the device limit of 1/s (burst 1)"),
    ]

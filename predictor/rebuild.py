"""Rebuild the predictor's state from the stored telemetry and the field's labels.

When the model version changes, a checkpoint of the old models cannot be restored; instead of
starting every tenant's fleet from nothing, the models are taught again from what the state DB
and the telemetry store kept: every owned asset's readings, in event-time order, and every
label (outcomes and maintenance events), each applied at its event time as the worker would.
Nothing is written to the state DB (no health, no recommendations): the past is not replayed
to customers, only learnt from. ``forestall rebuild`` runs it; the worker runs it by itself when
it finds a checkpoint of another model version.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from forestall.series import TelemetryStore
from forestall.state.models import Asset, Event, EventClock
from predictor.engine import Predictor
from predictor.service import label_of

HOUR = 3600.0
WINDOW_S = 6 * HOUR  # telemetry is read this much event time at a time, for every asset
PROGRESS_EVERY_S = 5.0
Owns = Callable[[str, str], bool]


def rebuild(
    sessions: sessionmaker[Session],
    store: TelemetryStore,
    owns: Owns = lambda _tenant, _asset: True,
    progress: Callable[[str], None] = lambda _line: None,
) -> Predictor:
    """A predictor taught anew from the store and the labels of the assets this worker owns."""
    predictor = Predictor()
    with sessions() as session:
        assets = [
            (a.tenant, a.id, a.asset_type) for a in session.scalars(select(Asset)) if owns(a.tenant, a.id)
        ]
        types = {(tenant, asset): kind for tenant, asset, kind in assets}
        labels = 0
        for event in session.scalars(select(Event).order_by(Event.id)):
            label = label_of(event)
            if label is not None and event.asset_id is not None and (event.tenant, event.asset_id) in types:
                asset_type = types[(event.tenant, event.asset_id)]
                predictor.label(event.tenant, event.asset_id, asset_type, label, event.occurred_at, math.inf)
                labels += 1
        predictor.event_cursor = session.scalar(select(func.max(Event.id))) or 0
        tenants = {tenant for tenant, _, _ in assets}
        clock_rows = session.scalars(select(EventClock).where(EventClock.tenant.in_(tenants)))
        end = max((row.now for row in clock_rows), default=time.time())  # the latest sample stored
    first = [store.query_telemetry(t, a, -math.inf, math.inf, limit=1) for t, a, _ in assets]
    starts = [rows[0][0] for rows in first if rows]
    if not starts:
        progress(f"no stored telemetry for {len(assets)} assets; {labels} labels kept for later")
        return _release(predictor)
    readings = 0
    last_progress = time.monotonic()
    clocks: dict[str, float] = {}
    for ts, tenant, asset, values in _in_event_time(store, assets, min(starts), end):
        predictor.observe(tenant, asset, types[(tenant, asset)], ts, values)
        readings += 1
        if ts >= clocks.get(tenant, -math.inf) + HOUR:  # labels the data will not reach, as live
            clocks[tenant] = ts
            predictor.advance(tenant, ts)
        if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            progress(f"rebuilt {readings:,} readings of {len(assets):,} assets, event time {ts:.0f}")
    progress(f"rebuilt {readings:,} readings and {labels:,} labels of {len(assets):,} assets")
    return _release(predictor)


def _in_event_time(
    store: TelemetryStore, assets: list[tuple[str, str, str]], start: float, end: float
) -> Iterator[tuple[float, str, str, dict[str, float]]]:
    """Every asset's readings from ``start`` to ``end`` merged in event-time order, ``WINDOW_S`` at a time."""
    window = start
    while window <= end:
        streams = []
        for tenant, asset, _ in assets:
            rows = _window(store, tenant, asset, window, window + WINDOW_S)
            if rows:
                streams.append([(ts, tenant, asset, values) for ts, values in rows])
        yield from heapq.merge(*streams, key=lambda item: item[0])
        window += WINDOW_S


def _window(
    store: TelemetryStore, tenant: str, asset: str, start: float, end: float
) -> list[tuple[float, dict[str, float]]]:
    """All readings with ``start <= ts < end``, paged."""
    rows: list[tuple[float, dict[str, float]]] = []
    after: float | None = None
    while True:
        page = store.query_telemetry(tenant, asset, start, end, limit=10_000, after=after)
        rows += [(ts, values) for ts, values in page if ts < end]
        if len(page) < 10_000:
            return rows
        after = page[-1][0]


def _release(predictor: Predictor) -> Predictor:
    """Labels still waiting for data may now also wait on the wall clock, as live ones do."""
    now = time.time()
    for model in predictor.assets.values():
        model.labels = [(at, kind, now) for at, kind, _ in model.labels]
    return predictor

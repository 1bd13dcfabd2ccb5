"""Retention: each tenant's telemetry and points at its own event clock, and the kept rejections.

Telemetry ages on event time (a replay of last year's history is not "old" the day it arrives);
rejections carry their receive time (wall clock), and a tenant keeps at most ``KEEP_REJECTIONS``
of them however fast a device misbehaves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forestall.series import StoreError, TelemetryStore
from forestall.state.models import Rejection

log = logging.getLogger(__name__)
KEEP_REJECTIONS = 10_000  # per tenant, the newest


def purge_rejections(session: Session, tenant: str | None, wall: float, retention_s: float) -> int:
    """Drop a tenant's rejections older than the retention and beyond the newest ``KEEP_REJECTIONS``."""
    own = Rejection.tenant.is_(None) if tenant is None else Rejection.tenant == tenant
    connection = session.connection()  # a Core delete reports its row count
    removed = connection.execute(
        delete(Rejection).where(own, Rejection.received_at < wall - retention_s)
    ).rowcount
    oldest_kept = session.scalar(
        select(Rejection.id).where(own).order_by(Rejection.id.desc()).offset(KEEP_REJECTIONS - 1).limit(1)
    )
    if oldest_kept is not None:
        removed += connection.execute(delete(Rejection).where(own, Rejection.id < oldest_kept)).rowcount
    return int(removed)


def run_retention(
    session: Session, store: TelemetryStore, clocks: Mapping[str, float], wall: float, retention_s: float
) -> int:
    """One pass over every tenant; a store that cannot delete now is tried again next pass."""
    removed = 0
    for tenant, now in clocks.items():
        try:
            removed += store.purge(tenant, now)
        except StoreError as exc:
            log.warning("retention of %s in the telemetry store failed: %s", tenant, exc)
        removed += purge_rejections(session, tenant, wall, retention_s)
    return removed + purge_rejections(session, None, wall, retention_s)

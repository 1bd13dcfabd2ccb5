"""Writes shared by the worker and the API: event clock, events, outbox with fan-out."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.clock import clock_from
from forestall.state.models import (
    Event,
    EventClock,
    IngestSequence,
    OutboxEvent,
    WebhookDelivery,
    WebhookSubscription,
)

WEBHOOK_TYPES = (
    "visit.recommended",
    "visit.updated",
    "visit.completed",
    "visit.cancelled",
    "risk.threshold_crossed",
    "asset.offline",
)


def event_now(session: Session, tenant: str) -> float | None:
    """The tenant's event clock (latest sample time seen), or None before any sample."""
    clock = session.get(EventClock, tenant)
    return clock.now if clock else None


def event_now_or_wall(session: Session, tenant: str) -> float:
    now = event_now(session, tenant)
    return now if now is not None else time.time()


def advance_tenant_clock(session: Session, tenant: str, wall: float) -> float | None:
    """Move the tenant's event clock to what its assets' newest samples (``ingest_sequences``) say."""
    newest = session.scalars(
        select(IngestSequence.max_ts)
        .where(IngestSequence.tenant == tenant, IngestSequence.max_ts.is_not(None))
        .order_by(IngestSequence.max_ts.desc())
        .limit(2)
    ).all()
    ts = clock_from([t for t in newest if t is not None], wall)
    return advance_clock(session, tenant, ts) if ts is not None else event_now(session, tenant)


def advance_clock(session: Session, tenant: str, ts: float) -> float:
    """Move the tenant's event clock forward to ``ts`` (never backwards); returns now."""
    clock = session.get(EventClock, tenant)
    if clock is None:
        session.add(EventClock(tenant=tenant, now=ts))
        return ts
    if ts > clock.now:
        clock.now = ts
    return clock.now


def append_event(
    session: Session,
    tenant: str,
    kind: str,
    occurred_at: float,
    data: dict[str, Any],
    *,
    customer_id: str | None = None,
    asset_id: str | None = None,
) -> Event:
    event = Event(
        tenant=tenant,
        kind=kind,
        occurred_at=occurred_at,
        data=data,
        customer_id=customer_id,
        asset_id=asset_id,
        recorded_at=time.time(),
    )
    session.add(event)
    return event


def emit_webhook(
    session: Session, tenant: str, type_: str, timestamp: float, data: dict[str, Any]
) -> OutboxEvent:
    """Put a webhook event in the outbox and fan it out to the matching subscriptions.

    Runs inside the caller's transaction, so the event exists exactly when the change
    that caused it is committed.
    """
    if type_ not in WEBHOOK_TYPES:
        raise ValueError(f"unknown webhook type {type_!r}")
    wall = time.time()
    outbox = OutboxEvent(
        webhook_id=f"msg_{uuid.uuid4().hex}",
        tenant=tenant,
        type=type_,
        timestamp=timestamp,
        data=data,
        created_at=wall,
        fanned_out=True,
    )
    session.add(outbox)
    session.flush()
    subscriptions = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.tenant == tenant, WebhookSubscription.active)
    )
    for sub in subscriptions:
        if sub.events and type_ not in sub.events:
            continue
        session.add(
            WebhookDelivery(
                outbox_id=outbox.id,
                subscription_id=sub.id,
                tenant=tenant,
                status="pending",
                attempts=0,
                next_attempt_at=wall,
            )
        )
    return outbox

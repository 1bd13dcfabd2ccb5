"""Webhook subscriptions and the delivery log."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from api.webhooks.signing import new_secret
from forestall.state.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookSubscription


def get_subscription(session: Session, tenant: str, sub_id: str) -> WebhookSubscription | None:
    sub = session.get(WebhookSubscription, sub_id)
    return sub if sub is not None and sub.tenant == tenant else None


def count_subscriptions(session: Session, tenant: str) -> int:
    stmt = select(func.count()).select_from(WebhookSubscription).where(WebhookSubscription.tenant == tenant)
    return int(session.scalar(stmt) or 0)


def list_subscriptions(
    session: Session, tenant: str, *, after: tuple[Any, ...] | None, limit: int
) -> tuple[list[WebhookSubscription], list[Any] | None]:
    stmt = select(WebhookSubscription).where(WebhookSubscription.tenant == tenant)
    return page_of(session, stmt, [WebhookSubscription.id], after=after, limit=limit)


def create_subscription(
    session: Session, tenant: str, url: str, events: list[str], secret: str | None, active: bool
) -> WebhookSubscription:
    sub = WebhookSubscription(
        id=f"wh_{uuid.uuid4().hex[:24]}",
        tenant=tenant,
        url=url,
        events=events,
        secret=secret or new_secret(),
        active=active,
        created_at=time.time(),
    )
    session.add(sub)
    session.flush()
    return sub


def update_subscription(
    session: Session, sub: WebhookSubscription, changes: dict[str, Any]
) -> WebhookSubscription:
    for name, value in changes.items():
        setattr(sub, name, value)
    session.flush()
    return sub


def delete_subscription(session: Session, sub: WebhookSubscription) -> None:
    """Remove the subscription; its pending deliveries die (the dispatcher finds no target)."""
    for delivery in session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == "pending"
        )
    ):
        delivery.status, delivery.last_error = "dead", "subscription deleted"
    session.delete(sub)
    session.flush()


DeliveryRow = tuple[WebhookDelivery, OutboxEvent, list[DeliveryAttempt]]


def list_deliveries(
    session: Session,
    sub: WebhookSubscription,
    *,
    status: str | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[DeliveryRow], list[Any] | None]:
    """Newest first, each with its event and attempts."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    deliveries, next_key = page_of(
        session, stmt, [WebhookDelivery.id], after=after, limit=limit, descending=True
    )
    return _with_details(session, deliveries), next_key


def get_delivery(session: Session, sub: WebhookSubscription, delivery_id: int) -> DeliveryRow | None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != sub.id:
        return None
    return _with_details(session, [delivery])[0]


def _with_details(session: Session, deliveries: list[WebhookDelivery]) -> list[DeliveryRow]:
    if not deliveries:
        return []
    ids = [d.id for d in deliveries]
    events = {
        e.id: e
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_({d.outbox_id for d in deliveries}))
        )
    }
    attempts: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    for attempt in session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)).order_by(DeliveryAttempt.id)
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [(d, events[d.outbox_id], attempts[d.id]) for d in deliveries]


def replay(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send it again from the start: pending, due now, a fresh attempt budget (the log stays)."""
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, time.time()
    delivery.delivered_at = None
    session.flush()
    return delivery

"""The state-DB side of delivery: claim due rows atomically and record what happened.

Several API processes may run a dispatcher on one state DB. A claim is one ``UPDATE …
RETURNING`` that pushes ``next_attempt_at`` past a lease, guarded by the same condition
that made the row due, so two claimers never both win a row (PostgreSQL additionally
skips rows another transaction holds). A process that dies mid-attempt leaves its rows to
be claimed again when the lease runs out: delivery is at-least-once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.webhooks.policy import AttemptResult, next_state
from api.webhooks.signing import event_body
from forestall.state.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookSubscription


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    url: str
    secret: str
    msg_id: str
    body: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_s: float


def claim_due(sessions: sessionmaker[Session], *, now: float, lease_s: float, limit: int) -> list[Job]:
    """Claim up to ``limit`` deliveries due at wall time ``now`` and return what to send."""
    with sessions.begin() as session:
        ids = _claim_ids(session, now=now, lease_s=lease_s, limit=limit)
        if not ids:
            return []
        rows = session.execute(
            select(WebhookDelivery, OutboxEvent, WebhookSubscription)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_id)
            .outerjoin(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        ).all()
        jobs: list[Job] = []
        for delivery, event, subscription in rows:
            if subscription is None or not subscription.active:
                delivery.status = "dead"
                delivery.last_error = (
                    "subscription deleted" if subscription is None else "subscription inactive"
                )
                continue
            body = event_body(event.type, event.timestamp, event.data)
            jobs.append(Job(delivery.id, subscription.url, subscription.secret, event.webhook_id, body))
        return jobs


def _claim_ids(session: Session, *, now: float, lease_s: float, limit: int) -> list[int]:
    due = (WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
    # Look before claiming: an idle poll then reads only, never taking SQLite's write lock.
    if session.scalar(select(WebhookDelivery.id).where(*due).limit(1)) is None:
        return []
    candidates = select(WebhookDelivery.id).where(*due).order_by(WebhookDelivery.next_attempt_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(candidates.scalar_subquery()), *due)
        .values(next_attempt_at=now + lease_s)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return [int(row_id) for row_id in claimed.scalars()]


def record_results(
    sessions: sessionmaker[Session],
    results: Sequence[AttemptResult],
    policy: RetryPolicy,
    rng: random.Random,
) -> dict[str, int]:
    """Store each attempt and move its delivery on; returns how many went to each status."""
    moved = {"delivered": 0, "pending": 0, "dead": 0}
    with sessions.begin() as session:
        ids = [result.delivery_id for result in results]
        deliveries = {
            d.id: d for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        }
        for result in results:
            delivery = deliveries.get(result.delivery_id)
            if delivery is None:
                continue
            moved[_apply(session, delivery, result, policy, rng)] += 1
    return moved


def _apply(
    session: Session,
    delivery: WebhookDelivery,
    result: AttemptResult,
    policy: RetryPolicy,
    rng: random.Random,
) -> str:
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=result.at,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.last_duration_ms = result.duration_ms
    state = next_state(
        result, attempts=delivery.attempts, max_attempts=policy.max_attempts, base_s=policy.backoff_s, rng=rng
    )
    finished = result.at + result.duration_ms / 1000.0
    delivery.status = state.status
    delivery.next_attempt_at = finished + state.delay_s
    if state.status == "delivered":
        delivery.delivered_at = finished
    return state.status

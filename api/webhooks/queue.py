"""The state-DB side of delivery: claim due rows atomically and record what happened.

Several API processes may run a dispatcher on one state DB. A claim is one ``UPDATE …
RETURNING`` that pushes ``next_attempt_at`` past a lease, guarded by the same condition
that made the row due, so two claimers never both win a row. A process that dies mid-attempt
leaves its rows to be claimed again when the lease runs out: delivery is at-least-once.

Claims are fair: a dispatcher takes no more rows of a tenant, or of a subscription, than its
share of the attempts in flight (``Quota``), so one tenant's slow receivers cannot hold every
slot while another tenant's deliveries wait. Tenants and subscriptions already at their share
are left out of the query itself, so their backlog cannot crowd the others out of it.

>>> rows = [(1, "a", "s1"), (2, "a", "s1"), (3, "a", "s2"), (4, "b", "s3")]
>>> fair_pick(rows, Quota(per_tenant=2, per_subscription=1), {}, {}, limit=4)
[1, 3, 4]
>>> fair_pick(rows, Quota(per_tenant=2, per_subscription=1), {"a": 1}, {}, limit=4)
[1, 4]
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.webhooks.policy import AttemptResult, next_state
from api.webhooks.signing import event_body
from forestall.isolate import commit_isolating
from forestall.state.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookSubscription

CANDIDATES_PER_SLOT = 4  # due rows read per free slot: room to skip rows over their quota
CLAIM_ROUNDS = 3
UNRECORDABLE = "the attempt's outcome could not be stored"


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    tenant: str
    subscription_id: str
    url: str
    secret: str
    msg_id: str
    body: str


@dataclass(frozen=True, slots=True)
class Quota:
    """Attempts in flight one tenant, and one subscription, may hold in a dispatcher."""

    per_tenant: int
    per_subscription: int


def fair_pick(
    candidates: Sequence[tuple[int, str, str]],
    quota: Quota,
    busy_tenants: Mapping[str, int],
    busy_subscriptions: Mapping[str, int],
    limit: int,
) -> list[int]:
    """Of due ``(id, tenant, subscription)`` rows in order, those that fit the quotas, up to ``limit``."""
    tenants, subscriptions = dict(busy_tenants), dict(busy_subscriptions)
    picked: list[int] = []
    for row_id, tenant, subscription in candidates:
        if len(picked) >= limit:
            break
        if tenants.get(tenant, 0) >= quota.per_tenant:
            continue
        if subscriptions.get(subscription, 0) >= quota.per_subscription:
            continue
        tenants[tenant] = tenants.get(tenant, 0) + 1
        subscriptions[subscription] = subscriptions.get(subscription, 0) + 1
        picked.append(row_id)
    return picked


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff_s: float


def claim_due(
    sessions: sessionmaker[Session],
    *,
    now: float,
    lease_s: float,
    limit: int,
    quota: Quota | None = None,
    busy_tenants: Mapping[str, int] | None = None,
    busy_subscriptions: Mapping[str, int] | None = None,
) -> list[Job]:
    """Claim up to ``limit`` deliveries due at wall time ``now``, within ``quota`` given what is busy."""
    quota = quota or Quota(limit, limit)
    tenants, subscriptions = dict(busy_tenants or {}), dict(busy_subscriptions or {})
    with sessions.begin() as session:
        ids: list[int] = []
        for _ in range(CLAIM_ROUNDS):
            claimed = _claim_round(session, now, lease_s, limit - len(ids), quota, tenants, subscriptions)
            ids += claimed
            if not claimed or len(ids) >= limit:
                break
        if not ids:
            return []
        return _jobs(session, ids)


def _claim_round(
    session: Session,
    now: float,
    lease_s: float,
    limit: int,
    quota: Quota,
    tenants: dict[str, int],
    subscriptions: dict[str, int],
) -> list[int]:
    """One read of due rows (those over their quota left out) and the claim of a fair pick of them."""
    due = (WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
    full_tenants = [t for t, n in tenants.items() if n >= quota.per_tenant]
    full_subscriptions = [s for s, n in subscriptions.items() if n >= quota.per_subscription]
    query = (
        select(WebhookDelivery.id, WebhookDelivery.tenant, WebhookDelivery.subscription_id)
        .where(*due)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit * CANDIDATES_PER_SLOT)
    )
    if full_tenants:
        query = query.where(WebhookDelivery.tenant.not_in(full_tenants))
    if full_subscriptions:
        query = query.where(WebhookDelivery.subscription_id.not_in(full_subscriptions))
    candidates = [(int(i), str(t), str(s)) for i, t, s in session.execute(query)]
    picked = fair_pick(candidates, quota, tenants, subscriptions, limit)
    if not picked:  # an idle poll reads only, never taking SQLite's write lock
        return []
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked), *due)
        .values(next_attempt_at=now + lease_s)
        .returning(WebhookDelivery.id, WebhookDelivery.tenant, WebhookDelivery.subscription_id)
        .execution_options(synchronize_session=False)
    ).all()
    for _, tenant, subscription in claimed:
        tenants[tenant] = tenants.get(tenant, 0) + 1
        subscriptions[subscription] = subscriptions.get(subscription, 0) + 1
    return [int(row[0]) for row in claimed]


def _jobs(session: Session, ids: list[int]) -> list[Job]:
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
            delivery.last_error = "subscription deleted" if subscription is None else "subscription inactive"
            continue
        body = event_body(event.type, event.timestamp, event.data)
        jobs.append(
            Job(
                delivery.id,
                delivery.tenant,
                delivery.subscription_id,
                subscription.url,
                subscription.secret,
                event.webhook_id,
                body,
            )
        )
    return jobs


def record_results(
    sessions: sessionmaker[Session],
    results: Sequence[AttemptResult],
    policy: RetryPolicy,
    rng: random.Random,
) -> dict[str, int]:
    """Store each attempt and move its delivery on; returns how many went to each status.

    A result the database refuses is recorded without its error text; it never takes the other
    results of the batch with it. An unreachable database raises (the leases then run out and
    the deliveries are attempted again).
    """
    moved = {"delivered": 0, "pending": 0, "dead": 0}

    def attempt(part: list[AttemptResult]) -> None:
        counts = _record(sessions, part, policy, rng)
        for status, n in counts.items():
            moved[status] += n

    def set_aside(result: AttemptResult, _exc: BaseException) -> None:
        attempt([replace(result, error=UNRECORDABLE)])

    unavailable: list[BaseException] = []

    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, OperationalError):
            unavailable.append(exc)
            return True
        return False

    if not commit_isolating(list(results), attempt, set_aside, lambda _part: None, retryable):
        raise unavailable[-1]
    return moved


def _record(
    sessions: sessionmaker[Session],
    results: Sequence[AttemptResult],
    policy: RetryPolicy,
    rng: random.Random,
) -> dict[str, int]:
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

"""Reading recommendations and opening manual ones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from api.schemas.recommendations import RecommendationCreate
from forestall.state.models import Asset, Customer, CustomerRisk, Recommendation
from forestall.state.repo import emit_webhook
from forestall.state.views import recommendation_view
from forestall.vocab import DEFAULT_KIND, DEFAULT_TIER, OPEN_STATUSES, service_level

PRIORITY_SCORES = {"P1": 0.8, "P2": 0.5, "P3": 0.3, "P4": 0.1}


@dataclass(frozen=True, slots=True)
class RecommendationFilter:
    statuses: Sequence[str] = ()
    customer_id: str | None = None
    asset_id: str | None = None
    priorities: Sequence[str] = ()
    kinds: Sequence[str] = ()
    overbooked: bool | None = None
    created_from: float | None = None
    created_to: float | None = None


def get_recommendation(session: Session, tenant: str, rec_id: str) -> Recommendation | None:
    rec = session.get(Recommendation, rec_id)
    return rec if rec is not None and rec.tenant == tenant else None


def _covers(asset_id: str) -> Any:
    # asset_ids is a JSON list on SQLite and PostgreSQL alike: match the quoted id in its
    # text (ids are [A-Za-z0-9_-], so only "_" needs escaping for LIKE).
    pattern = '%"' + asset_id.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + '"%'
    return cast(Recommendation.asset_ids, String).like(pattern, escape="\\")


def list_recommendations(
    session: Session,
    tenant: str,
    where: RecommendationFilter,
    *,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Recommendation], list[Any] | None]:
    """Newest first."""
    stmt = select(Recommendation).where(Recommendation.tenant == tenant)
    if where.statuses:
        stmt = stmt.where(Recommendation.status.in_(where.statuses))
    if where.priorities:
        stmt = stmt.where(Recommendation.priority.in_(where.priorities))
    if where.kinds:
        stmt = stmt.where(Recommendation.kind.in_(where.kinds))
    if where.overbooked is not None:
        stmt = stmt.where(Recommendation.overbooked.is_(where.overbooked))
    if where.customer_id is not None:
        stmt = stmt.where(Recommendation.customer_id == where.customer_id)
    if where.asset_id is not None:
        stmt = stmt.where(_covers(where.asset_id))
    if where.created_from is not None:
        stmt = stmt.where(Recommendation.created_at >= where.created_from)
    if where.created_to is not None:
        stmt = stmt.where(Recommendation.created_at < where.created_to)
    keys = [Recommendation.created_at, Recommendation.id]
    return page_of(session, stmt, keys, after=after, limit=limit, descending=True)


def open_covering(session: Session, tenant: str, asset_ids: Sequence[str]) -> Recommendation | None:
    """An open failure visit that already covers one of ``asset_ids`` (a sensor check blocks none)."""
    stmt = select(Recommendation).where(
        Recommendation.tenant == tenant,
        Recommendation.kind == DEFAULT_KIND,
        Recommendation.status.in_(OPEN_STATUSES),
        or_(*(_covers(asset_id) for asset_id in asset_ids)),
    )
    return session.scalars(stmt.limit(1)).first()


def assets_by_id(session: Session, tenant: str, asset_ids: Sequence[str]) -> dict[str, Asset]:
    rows = session.scalars(select(Asset).where(Asset.tenant == tenant, Asset.id.in_(asset_ids)))
    return {asset.id: asset for asset in rows}


def create_manual(
    session: Session,
    customer: Customer | None,
    assets: Sequence[Asset],
    data: RecommendationCreate,
    now: float,
) -> Recommendation:
    """Open a dispatcher's recommendation and announce it (visit.recommended)."""
    tenant = assets[0].tenant
    sla_due_at = data.sla_due_at if data.sla_due_at is not None else _sla_due(customer, now)
    risk = session.get(CustomerRisk, (tenant, customer.id)) if customer else None
    rec = Recommendation(
        id=f"rec_{uuid.uuid4().hex[:24]}",
        tenant=tenant,
        customer_id=customer.id if customer else None,
        site=assets[0].site,
        asset_ids=[asset.id for asset in assets],
        status="open",
        kind=DEFAULT_KIND,
        priority=data.priority,
        priority_score=PRIORITY_SCORES[data.priority],
        reason={"signals": ["manual"], "top_sensors": [], "notes": data.notes},
        predicted_failure_at=data.predicted_failure_at,
        confidence=data.confidence,
        window_start=data.window_start,
        window_end=data.window_end,
        sla_due_at=sla_due_at,
        fits_sla=data.window_start <= sla_due_at,
        risk_index=risk.risk_index if risk else 0.0,
        source="manual",
        created_at=now,
        updated_at=now,
    )
    session.add(rec)
    session.flush()
    emit_webhook(session, tenant, "visit.recommended", now, recommendation_view(rec))
    return rec


def _sla_due(customer: Customer | None, now: float) -> float:
    """When the customer's SLA tier says a technician must be there, from event time ``now``."""
    tier = customer.sla_tier if customer else DEFAULT_TIER
    return now + service_level(tier).response_hours * 3600.0

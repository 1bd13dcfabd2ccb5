"""Customer risk and the tenant's risk settings (the maths lives in ``predictor``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.contract import format_ts
from forestall.state.models import Customer, CustomerRisk, ExperienceState, RiskWeights
from forestall.state.repo import event_now_or_wall
from forestall.vocab import SEGMENTS
from predictor.experience import (
    DEFAULT_THRESHOLD_PERCENT,
    EXPERIENCE_VERSION,
    MIN_OUTCOMES,
    ExperienceModel,
    prior_params,
    sigmoid,
)
from predictor.risk import DEFAULT_WEIGHTS
from predictor.riskstate import index_params, refresh_customer_risk, tenant_weights


def refresh_risk(session: Session, tenant: str, customer_id: str, now: float) -> CustomerRisk | None:
    """Recompute and store the customer's risk (may emit risk.threshold_crossed)."""
    return refresh_customer_risk(session, tenant, customer_id, now)


def refresh_risk_now(session: Session, tenant: str, customer_id: str) -> CustomerRisk | None:
    """``refresh_risk`` at the tenant's event clock (the wall clock before its first sample)."""
    return refresh_risk(session, tenant, customer_id, event_now_or_wall(session, tenant))


def current_risk(session: Session, tenant: str, customer_id: str, now: float) -> CustomerRisk | None:
    """The stored risk, computed now if there is none yet; None for an unknown customer."""
    stored = session.get(CustomerRisk, (tenant, customer_id))
    return stored if stored is not None else refresh_risk(session, tenant, customer_id, now)


def risks_of(session: Session, tenant: str, customer_ids: list[str]) -> dict[str, CustomerRisk]:
    if not customer_ids:
        return {}
    rows = session.scalars(
        select(CustomerRisk).where(CustomerRisk.tenant == tenant, CustomerRisk.customer_id.in_(customer_ids))
    )
    return {row.customer_id: row for row in rows}


def refresh_all(session: Session, tenant: str, now: float) -> int:
    ids = list(session.scalars(select(Customer.id).where(Customer.tenant == tenant)))
    for customer_id in ids:
        refresh_risk(session, tenant, customer_id, now)
    return len(ids)


def risk_settings(session: Session, tenant: str) -> dict[str, Any]:
    """The tenant's prior weights (points), threshold (%), the defaults and its index model."""
    stored, threshold = tenant_weights(session, tenant)
    return {
        "weights": {**DEFAULT_WEIGHTS, **stored},
        "threshold_percent": threshold,
        "defaults": dict(DEFAULT_WEIGHTS),
        "model": index_model(session, tenant),
    }


def index_model(session: Session, tenant: str) -> dict[str, Any]:
    """What the tenant's Experience index is computed with, and what its learner has learnt."""
    prior = prior_params(tenant_weights(session, tenant)[0])
    in_force = index_params(session, tenant)
    row = session.get(ExperienceState, tenant)
    learner = ExperienceModel.from_state(row.learner) if row is not None else None
    learnt = learner.posterior() if learner is not None else prior
    return {
        "version": EXPERIENCE_VERSION,
        **in_force.describe(),
        "min_outcomes": MIN_OUTCOMES,
        "base_rates": {s: round(100.0 * sigmoid(in_force.base_log_odds(s)), 3) for s in SEGMENTS},
        "weights": _rounded(in_force.weights),
        "prior": _rounded(prior.weights),
        "learnt": _rounded(learnt.weights),
        "brier": in_force.quality.get("brier"),
        "base_rate_brier": in_force.quality.get("base_rate_brier"),
        "updated_at": format_ts(row.updated_at) if row is not None else None,
    }


def _rounded(weights: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in weights.items()}


def put_risk_settings(
    session: Session, tenant: str, weights: dict[str, float], threshold_percent: float | None
) -> None:
    row = session.get(RiskWeights, tenant)
    if row is None:
        row = RiskWeights(tenant=tenant, weights={}, threshold_percent=DEFAULT_THRESHOLD_PERCENT)
        session.add(row)
    row.weights = dict(weights)
    if threshold_percent is not None:
        row.threshold_percent = threshold_percent
    session.flush()

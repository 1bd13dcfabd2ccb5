"""Customer risk and the tenant's risk settings (the maths lives in ``predictor``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.state.models import Customer, CustomerRisk, RiskWeights
from forestall.state.repo import event_now_or_wall
from predictor.risk import DEFAULT_THRESHOLD, DEFAULT_WEIGHTS
from predictor.riskstate import refresh_customer_risk


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


def risk_settings(session: Session, tenant: str) -> tuple[dict[str, float], float, dict[str, float]]:
    """(effective weights, threshold, defaults) of the tenant."""
    row = session.get(RiskWeights, tenant)
    stored = {k: float(v) for k, v in row.weights.items()} if row else {}
    threshold = row.threshold if row else DEFAULT_THRESHOLD
    return {**DEFAULT_WEIGHTS, **stored}, threshold, dict(DEFAULT_WEIGHTS)


def put_risk_settings(
    session: Session, tenant: str, weights: dict[str, float], threshold: float | None
) -> None:
    row = session.get(RiskWeights, tenant)
    if row is None:
        row = RiskWeights(tenant=tenant, weights={}, threshold=DEFAULT_THRESHOLD)
        session.add(row)
    row.weights = dict(weights)
    if threshold is not None:
        row.threshold = threshold
    session.flush()

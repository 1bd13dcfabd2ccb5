"""``/v1/settings/risk-weights``: the tenant's risk weights and threshold (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from api.checked import CheckedRoute
from api.crud.risk import put_risk_settings, refresh_all, risk_settings
from api.deps import Admin, SessionDep
from api.schemas.settings import RiskWeightsPublic, RiskWeightsUpdate
from forestall.state.repo import event_now_or_wall

router = APIRouter(prefix="/settings", tags=["settings"], route_class=CheckedRoute)


@router.get("/risk-weights")
def get_risk_weights(session: SessionDep, principal: Admin) -> RiskWeightsPublic:
    weights, threshold, defaults = risk_settings(session, principal.tenant)
    return RiskWeightsPublic(weights=weights, threshold=threshold, defaults=defaults)


@router.put("/risk-weights")
def put_risk_weights(session: SessionDep, principal: Admin, body: RiskWeightsUpdate) -> RiskWeightsPublic:
    """Replace the tenant's weights (names left out use the defaults) and optionally the
    threshold; every customer's risk is recomputed with them at once."""
    put_risk_settings(session, principal.tenant, body.weights, body.threshold)
    refresh_all(session, principal.tenant, event_now_or_wall(session, principal.tenant))
    session.commit()
    weights, threshold, defaults = risk_settings(session, principal.tenant)
    return RiskWeightsPublic(weights=weights, threshold=threshold, defaults=defaults)

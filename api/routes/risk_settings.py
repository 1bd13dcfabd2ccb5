"""``/v1/settings/risk-weights``: the Experience index's prior weights, its threshold and its
model (admin)."""

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
    """The prior's weights (points), the threshold (%) and the model: which is in force (the
    prior or the learnt one), on how many outcomes, with what weights and base rates."""
    return RiskWeightsPublic.model_validate(risk_settings(session, principal.tenant))


@router.put("/risk-weights")
def put_risk_weights(session: SessionDep, principal: Admin, body: RiskWeightsUpdate) -> RiskWeightsPublic:
    """Replace the tenant's prior weights (names left out use the defaults) and optionally the
    threshold; every customer's risk is recomputed at once. While the prior is in force the new
    weights apply at once; the learner is taught again under the new prior at its next day."""
    put_risk_settings(session, principal.tenant, body.weights, body.threshold_percent)
    refresh_all(session, principal.tenant, event_now_or_wall(session, principal.tenant))
    session.commit()
    return RiskWeightsPublic.model_validate(risk_settings(session, principal.tenant))

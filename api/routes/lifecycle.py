"""Recommendation lifecycle: accept, schedule, dismiss, complete, and the visit's outcome.

Each answers with the recommendation as it now is; an action the current status does not
allow is 409 with the reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status
from sqlalchemy.orm import Session

from api.checked import CheckedRoute
from api.crud import lifecycle
from api.crud.recommendations import get_recommendation
from api.deps import FieldOps, PathId, Principal, SessionDep, Technician
from api.problems import errors
from api.schemas.recommendations import DismissRequest, OutcomeCreate, RecommendationPublic, ScheduleRequest
from api.views import recommendation_public
from forestall.state.models import Recommendation
from forestall.state.repo import event_now_or_wall

router = APIRouter(
    prefix="/recommendations", tags=["recommendations"], route_class=CheckedRoute, responses=errors(404)
)


def _act(
    session: Session,
    principal: Principal,
    rec_id: str,
    action: str,
    *,
    scheduled_for: float | None = None,
    reason: str | None = None,
) -> RecommendationPublic:
    rec = _found(session, principal, rec_id)
    problem = lifecycle.refusal(action, rec.status)
    if problem is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, problem)
    now = event_now_or_wall(session, principal.tenant)
    lifecycle.apply_action(session, rec, action, now, scheduled_for=scheduled_for, reason=reason)
    session.commit()
    return recommendation_public(rec)


def _found(session: Session, principal: Principal, rec_id: str) -> Recommendation:
    rec = get_recommendation(session, principal.tenant, rec_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"recommendation {rec_id!r} not found")
    return rec


@router.post("/{rec_id}/accept")
def accept(session: SessionDep, principal: FieldOps, rec_id: PathId) -> RecommendationPublic:
    """open → accepted; emits ``visit.updated``."""
    return _act(session, principal, rec_id, "accept")


@router.post("/{rec_id}/schedule")
def schedule(
    session: SessionDep, principal: FieldOps, rec_id: PathId, body: ScheduleRequest
) -> RecommendationPublic:
    """open | accepted | scheduled → scheduled (rescheduling allowed); emits ``visit.updated``."""
    return _act(session, principal, rec_id, "schedule", scheduled_for=body.scheduled_for)


@router.post("/{rec_id}/dismiss")
def dismiss(
    session: SessionDep,
    principal: FieldOps,
    rec_id: PathId,
    body: Annotated[DismissRequest | None, Body()] = None,
) -> RecommendationPublic:
    """open | accepted | scheduled → dismissed; emits ``visit.cancelled`` with the reason."""
    return _act(session, principal, rec_id, "dismiss", reason=body.reason if body else None)


@router.post("/{rec_id}/complete")
def complete(session: SessionDep, principal: FieldOps, rec_id: PathId) -> RecommendationPublic:
    """open | accepted | scheduled → completed; emits ``visit.updated`` (``visit.completed``
    follows when the outcome is recorded)."""
    return _act(session, principal, rec_id, "complete")


@router.post("/{rec_id}/outcome")
def record_outcome(
    session: SessionDep, principal: Technician, rec_id: PathId, body: OutcomeCreate
) -> RecommendationPublic:
    """Record what the technician found: completes the visit if needed, appends one ``outcome``
    event per asset for the predictor and emits ``visit.completed``. Once per recommendation."""
    rec = _found(session, principal, rec_id)
    problem = lifecycle.outcome_refusal(rec)
    if problem is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, problem)
    lifecycle.record_outcome(session, rec, body, event_now_or_wall(session, principal.tenant))
    session.commit()
    return recommendation_public(rec)

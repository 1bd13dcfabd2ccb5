"""Recommendation lifecycle: open → accepted → scheduled → completed, or dismissed.

``refusal`` is the pure rule (why an action is not allowed now, or None); the other
functions apply an allowed action, announce it in the outbox and refresh the customer's
risk (open visits weigh into it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.crud.risk import refresh_risk
from api.schemas.recommendations import OutcomeCreate
from forestall.state.models import Recommendation
from forestall.state.repo import append_event, emit_webhook
from forestall.state.views import recommendation_view, ts_or_none
from forestall.vocab import OPEN_STATUSES

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "accept": (frozenset({"open"}), "accepted"),
    "schedule": (frozenset({"open", "accepted", "scheduled"}), "scheduled"),
    "dismiss": (frozenset(OPEN_STATUSES), "dismissed"),
    "complete": (frozenset(OPEN_STATUSES), "completed"),
}


def refusal(action: str, status: str) -> str | None:
    """Why ``action`` may not be applied to a recommendation in ``status``; None if it may.

    >>> refusal("accept", "open") is None
    True
    >>> refusal("accept", "scheduled")
    "cannot accept a recommendation that is 'scheduled' (allowed from: open)"
    """
    allowed, _ = TRANSITIONS[action]
    if status in allowed:
        return None
    return f"cannot {action} a recommendation that is {status!r} (allowed from: {', '.join(sorted(allowed))})"


def outcome_refusal(rec: Recommendation) -> str | None:
    if rec.outcome is not None:
        return "an outcome is already recorded for this recommendation"
    if rec.status not in (*OPEN_STATUSES, "completed"):
        return f"cannot record an outcome for a recommendation that is {rec.status!r}"
    return None


def apply_action(
    session: Session,
    rec: Recommendation,
    action: str,
    now: float,
    *,
    scheduled_for: float | None = None,
    reason: str | None = None,
) -> Recommendation:
    """Apply an allowed ``action`` (check ``refusal`` first)."""
    _, target = TRANSITIONS[action]
    rec.status, rec.updated_at = target, now
    if action == "schedule":
        rec.scheduled_for = scheduled_for
    if target in ("dismissed", "completed"):
        rec.closed_at, rec.close_reason = now, reason or target
    session.flush()
    view = recommendation_view(rec)
    if action == "dismiss":
        emit_webhook(session, rec.tenant, "visit.cancelled", now, {**view, "reason": rec.close_reason})
    else:
        emit_webhook(session, rec.tenant, "visit.updated", now, view)
    _refresh(session, rec, now)
    return rec


def record_outcome(
    session: Session, rec: Recommendation, outcome: OutcomeCreate, now: float
) -> Recommendation:
    """Store the outcome, complete the visit if needed, tell the predictor, emit visit.completed."""
    occurred_at = outcome.repaired_at if outcome.repaired_at is not None else now
    rec.outcome = {
        "fault_found": outcome.fault_found,
        "fault_code": outcome.fault_code,
        "repaired_at": ts_or_none(outcome.repaired_at),
        "notes": outcome.notes,
        "recorded_at": ts_or_none(now),
    }
    if rec.status != "completed":
        rec.status, rec.closed_at, rec.close_reason = "completed", now, "completed"
    rec.updated_at = now
    event: dict[str, Any] = {
        "recommendation_id": rec.id,
        "fault_found": outcome.fault_found,
        "fault_code": outcome.fault_code,
        "repaired_at": outcome.repaired_at,
        "notes": outcome.notes,
        "asset_ids": list(rec.asset_ids),
        "recommendation_kind": rec.kind,
    }
    if rec.kind == "sensor_check":  # the technician's finding is about this sensor, not the machine
        sensor = rec.reason.get("sensor") if isinstance(rec.reason, dict) else None
        event["sensor"] = sensor.get("channel") if isinstance(sensor, dict) else None
    for asset_id in rec.asset_ids:
        append_event(
            session, rec.tenant, "outcome", occurred_at, event, customer_id=rec.customer_id, asset_id=asset_id
        )
    session.flush()
    emit_webhook(session, rec.tenant, "visit.completed", now, recommendation_view(rec))
    _refresh(session, rec, now)
    return rec


def _refresh(session: Session, rec: Recommendation, now: float) -> None:
    if rec.customer_id is not None:
        refresh_risk(session, rec.tenant, rec.customer_id, now)

"""The outcomes a service company learns of, as labels for a model of customer experience.

An outcome is a row of the events table: a survey (``feedback``), an escalation (an ``incident``
of kind ``escalation``) or a contract ended or downgraded (``contract``). The negative ones are
what the Experience index is to foresee: a detractor NPS (0–6), an escalation, a contract ended
or downgraded. Each is dated in event time (``occurred_at``).

>>> negative_label("feedback", {"kind": "nps", "score": 6})
'detractor'
>>> negative_label("feedback", {"kind": "nps", "score": 7}) is None
True
>>> negative_label("contract", {"kind": "downgraded"})
'contract_downgraded'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from forestall.state.models import Event

DETRACTOR_MAX_NPS = 6.0
OUTCOME_EVENT_KINDS = ("feedback", "incident", "contract")
NEGATIVE_LABELS = ("detractor", "escalation", "contract_ended", "contract_downgraded")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One negative outcome of a customer: its label (``NEGATIVE_LABELS``) and event time."""

    at: float
    label: str
    event_id: int


def is_outcome(kind: str, data: dict[str, Any]) -> bool:
    """Whether an event is an outcome: any survey, an escalation, a contract event."""
    if kind == "incident":
        return data.get("kind") == "escalation"
    return kind in ("feedback", "contract")


def negative_label(kind: str, data: dict[str, Any]) -> str | None:
    """The label of a negative outcome, or None for an event that is not one."""
    sub = data.get("kind")
    if kind == "feedback" and sub == "nps":
        score = data.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            return None
        return "detractor" if score <= DETRACTOR_MAX_NPS else None
    if kind == "incident" and sub == "escalation":
        return "escalation"
    if kind == "contract" and sub in ("ended", "downgraded"):
        return f"contract_{sub}"
    return None


def outcome_events(
    session: Session,
    tenant: str,
    *,
    start: float | None = None,
    end: float | None = None,
    customer_id: str | None = None,
) -> list[Event]:
    """The tenant's outcome events (of one customer if given) with ``start <= occurred_at < end``,
    oldest first (then by id)."""
    stmt = select(Event).where(
        Event.tenant == tenant,
        Event.customer_id.is_not(None),
        or_(
            Event.kind.in_(("feedback", "contract")),
            (Event.kind == "incident") & (Event.data["kind"].as_string() == "escalation"),
        ),
    )
    if customer_id is not None:
        stmt = stmt.where(Event.customer_id == customer_id)
    if start is not None:
        stmt = stmt.where(Event.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(Event.occurred_at < end)
    return list(session.scalars(stmt.order_by(Event.occurred_at, Event.id)))


def negative_outcomes(
    session: Session, tenant: str, *, start: float | None = None, end: float | None = None
) -> dict[str, list[Outcome]]:
    """Per customer, its negative outcomes with ``start <= at < end``, oldest first: the labels
    a model of the customer's experience learns from. Customers without one are absent."""
    labels: dict[str, list[Outcome]] = {}
    for event in outcome_events(session, tenant, start=start, end=end):
        label = negative_label(event.kind, event.data)
        if label is not None and event.customer_id is not None:
            labels.setdefault(event.customer_id, []).append(Outcome(event.occurred_at, label, event.id))
    return labels

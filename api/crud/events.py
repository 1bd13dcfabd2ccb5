"""Maintenance events, incidents, feedback and contract events: rows of the append-only events table.

The ``data`` of each kind is what ``predictor.riskstate`` and the worker read: times in
epoch seconds, the kind and score as sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from api.schemas.events import ContractEventCreate, FeedbackCreate, IncidentCreate, MaintenanceCreate
from forestall.state.models import Asset, Event
from forestall.state.repo import append_event, event_now


@dataclass(frozen=True, slots=True)
class EventFilter:
    kind: str  # maintenance | incident | feedback | contract
    customer_id: str | None = None
    asset_id: str | None = None
    subkind: str | None = None  # data.kind: failure, outage, csat, …
    start: float | None = None
    end: float | None = None


def add_maintenance(session: Session, asset: Asset, data: MaintenanceCreate) -> Event:
    payload = {"kind": data.kind, "fault_code": data.fault_code, "notes": data.notes}
    if data.sensor is not None:
        payload["sensor"] = data.sensor
    event = append_event(
        session,
        asset.tenant,
        "maintenance",
        data.occurred_at,
        payload,
        customer_id=asset.customer_id,
        asset_id=asset.id,
    )
    session.flush()
    return event


def add_incident(session: Session, tenant: str, data: IncidentCreate) -> Event:
    payload = {
        "kind": data.kind,
        "resolved_at": data.resolved_at,
        "duration_min": data.duration_min,
        "notes": data.notes,
    }
    event = append_event(session, tenant, "incident", data.opened_at, payload, customer_id=data.customer_id)
    session.flush()
    return event


def add_feedback(session: Session, tenant: str, data: FeedbackCreate) -> Event:
    payload = {"kind": data.kind, "score": data.score, "comment": data.comment}
    event = append_event(session, tenant, "feedback", data.at, payload, customer_id=data.customer_id)
    session.flush()
    return event


def add_contract_event(session: Session, tenant: str, data: ContractEventCreate) -> Event:
    payload = {"kind": data.kind, "reason": data.reason, "details": data.details}
    event = append_event(session, tenant, "contract", data.occurred_at, payload, customer_id=data.customer_id)
    session.flush()
    return event


def outcome_horizon(session: Session, tenant: str, max_future_s: float) -> float:
    """The latest event time an outcome may carry: as for samples (``worker.max_future_s``), the
    tenant's event clock or the wall clock, whichever is later, plus the tolerance."""
    clock = event_now(session, tenant)
    return max(clock if clock is not None else float("-inf"), time.time()) + max_future_s


def list_events(
    session: Session,
    tenant: str,
    where: EventFilter,
    *,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Event], list[Any] | None]:
    """Newest recorded first."""
    stmt = select(Event).where(Event.tenant == tenant, Event.kind == where.kind)
    if where.customer_id is not None:
        stmt = stmt.where(Event.customer_id == where.customer_id)
    if where.asset_id is not None:
        stmt = stmt.where(Event.asset_id == where.asset_id)
    if where.start is not None:
        stmt = stmt.where(Event.occurred_at >= where.start)
    if where.end is not None:
        stmt = stmt.where(Event.occurred_at < where.end)
    if where.subkind is not None:
        stmt = stmt.where(Event.data["kind"].as_string() == where.subkind)
    return page_of(session, stmt, [Event.id], after=after, limit=limit, descending=True)

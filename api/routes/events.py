"""Facts from the field: ``/v1/maintenance-events``, ``/v1/incidents``, ``/v1/feedback``,
``/v1/contract-events``.

Each POST appends to the events table (the worker reads it); incidents and feedback also
refresh the customer's risk in the same transaction, so the index changes at once. Incidents,
feedback and contract events are the outcomes a service company learns of: one dated later than
the tenant's event clock (or the wall clock) plus ``worker.max_future_s`` is refused with 422,
as a future sample is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy.orm import Session

from api.checked import CheckedRoute
from api.crud import events as crud
from api.crud.assets import get_asset
from api.crud.customers import get_customer
from api.crud.risk import refresh_risk_now
from api.deps import (
    ContextDep,
    FieldOps,
    PageDep,
    Principal,
    SessionDep,
    Technician,
    TimeRangeDep,
    next_cursor,
)
from api.problems import errors, invalid
from api.schemas.common import Page
from api.schemas.events import (
    ContractEventCreate,
    ContractEventPublic,
    ContractKind,
    FeedbackCreate,
    FeedbackKind,
    FeedbackPublic,
    IncidentCreate,
    IncidentKind,
    IncidentPublic,
    MaintenanceCreate,
    MaintenanceKind,
    MaintenancePublic,
)
from api.views import contract_event_public, feedback_public, incident_public, maintenance_public
from forestall.contract import format_ts

router = APIRouter(tags=["field events"], route_class=CheckedRoute)

CustomerFilter = Annotated[str | None, Query(alias="customer", description="customer id")]


def _require_customer(session: Session, principal: Principal, customer_id: str) -> None:
    if get_customer(session, principal.tenant, customer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found")


def _not_in_future(ctx: ContextDep, session: Session, tenant: str, at: float, field: str) -> None:
    """422 for an outcome dated beyond the tenant's event clock by more than ``worker.max_future_s``."""
    horizon = crud.outcome_horizon(session, tenant, ctx.settings.worker.max_future_s)
    if at > horizon:
        raise invalid(
            ("body", field),
            f"{format_ts(at)} is more than {ctx.settings.worker.max_future_s:g} s ahead of the tenant's "
            f"event clock (and the wall clock): the latest accepted is {format_ts(horizon)}",
            format_ts(at),
        )


@router.post(
    "/maintenance-events", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such asset")
)
def add_maintenance(session: SessionDep, principal: Technician, body: MaintenanceCreate) -> MaintenancePublic:
    asset = get_asset(session, principal.tenant, body.asset_id)
    if asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"asset {body.asset_id!r} not found")
    event = crud.add_maintenance(session, asset, body)
    if asset.customer_id is not None:
        # Repeat faults weigh into the customer's risk.
        refresh_risk_now(session, principal.tenant, asset.customer_id)
    session.commit()
    return maintenance_public(event)


@router.get("/maintenance-events")
def list_maintenance(
    session: SessionDep,
    principal: Technician,
    page: PageDep,
    window: TimeRangeDep,
    customer_id: CustomerFilter = None,
    asset: Annotated[str | None, Query(description="asset id")] = None,
    kind: MaintenanceKind | None = None,
) -> Page[MaintenancePublic]:
    """Newest first; ``from``/``to`` bound ``occurred_at``."""
    where = crud.EventFilter("maintenance", customer_id, asset, kind, window.start, window.end)
    rows, key = crud.list_events(session, principal.tenant, where, after=page.after(int), limit=page.limit)
    return Page(items=[maintenance_public(e) for e in rows], next_cursor=next_cursor(key))


@router.post(
    "/incidents", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such customer")
)
def add_incident(
    ctx: ContextDep, session: SessionDep, principal: FieldOps, body: IncidentCreate
) -> IncidentPublic:
    _require_customer(session, principal, body.customer_id)
    _not_in_future(ctx, session, principal.tenant, body.opened_at, "opened_at")
    event = crud.add_incident(session, principal.tenant, body)
    refresh_risk_now(session, principal.tenant, body.customer_id)
    session.commit()
    return incident_public(event)


@router.get("/incidents")
def list_incidents(
    session: SessionDep,
    principal: FieldOps,
    page: PageDep,
    window: TimeRangeDep,
    customer_id: CustomerFilter = None,
    kind: IncidentKind | None = None,
) -> Page[IncidentPublic]:
    """Newest first; ``from``/``to`` bound ``opened_at``."""
    where = crud.EventFilter("incident", customer_id, None, kind, window.start, window.end)
    rows, key = crud.list_events(session, principal.tenant, where, after=page.after(int), limit=page.limit)
    return Page(items=[incident_public(e) for e in rows], next_cursor=next_cursor(key))


@router.post("/feedback", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such customer"))
def add_feedback(
    ctx: ContextDep, session: SessionDep, principal: FieldOps, body: FeedbackCreate
) -> FeedbackPublic:
    _require_customer(session, principal, body.customer_id)
    _not_in_future(ctx, session, principal.tenant, body.at, "at")
    event = crud.add_feedback(session, principal.tenant, body)
    refresh_risk_now(session, principal.tenant, body.customer_id)
    session.commit()
    return feedback_public(event)


@router.get("/feedback")
def list_feedback(
    session: SessionDep,
    principal: FieldOps,
    page: PageDep,
    window: TimeRangeDep,
    customer_id: CustomerFilter = None,
    kind: FeedbackKind | None = None,
) -> Page[FeedbackPublic]:
    """Newest first; ``from``/``to`` bound ``at``."""
    where = crud.EventFilter("feedback", customer_id, None, kind, window.start, window.end)
    rows, key = crud.list_events(session, principal.tenant, where, after=page.after(int), limit=page.limit)
    return Page(items=[feedback_public(e) for e in rows], next_cursor=next_cursor(key))


@router.post(
    "/contract-events", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such customer")
)
def add_contract_event(
    ctx: ContextDep, session: SessionDep, principal: FieldOps, body: ContractEventCreate
) -> ContractEventPublic:
    """A contract the customer ended or downgraded, at ``occurred_at`` in event time: an outcome,
    like a detractor score or an escalation (``GET /v1/exports/outcomes.csv`` lists them all)."""
    _require_customer(session, principal, body.customer_id)
    _not_in_future(ctx, session, principal.tenant, body.occurred_at, "occurred_at")
    event = crud.add_contract_event(session, principal.tenant, body)
    session.commit()
    return contract_event_public(event)


@router.get("/contract-events")
def list_contract_events(
    session: SessionDep,
    principal: FieldOps,
    page: PageDep,
    window: TimeRangeDep,
    customer_id: CustomerFilter = None,
    kind: ContractKind | None = None,
) -> Page[ContractEventPublic]:
    """Newest first; ``from``/``to`` bound ``occurred_at``."""
    where = crud.EventFilter("contract", customer_id, None, kind, window.start, window.end)
    rows, key = crud.list_events(session, principal.tenant, where, after=page.after(int), limit=page.limit)
    return Page(items=[contract_event_public(e) for e in rows], next_cursor=next_cursor(key))

"""``/v1/customers``: CRUD for admins, read for dispatchers and FSM; risk for every role."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.checked import CheckedRoute
from api.crud import customers as crud
from api.crud.risk import current_risk, refresh_risk_now, risks_of
from api.deps import Admin, AnyRole, PageDep, PathId, Reader, SessionDep, next_cursor
from api.problems import errors
from api.schemas.common import Page
from api.schemas.customers import CustomerCreate, CustomerPublic, CustomerReplace, CustomerUpdate, RiskPublic
from api.views import customer_public, risk_public
from forestall.state.models import Customer
from forestall.state.repo import event_now_or_wall

router = APIRouter(prefix="/customers", tags=["customers"], route_class=CheckedRoute)


def _found(customer: Customer | None, customer_id: str) -> Customer:
    if customer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found")
    return customer


@router.get("")
def list_customers(session: SessionDep, principal: Reader, page: PageDep) -> Page[CustomerPublic]:
    rows, key = crud.list_customers(session, principal.tenant, after=page.after(str), limit=page.limit)
    risks = risks_of(session, principal.tenant, [c.id for c in rows])
    return Page(items=[customer_public(c, risks.get(c.id)) for c in rows], next_cursor=next_cursor(key))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_customer(session: SessionDep, principal: Admin, body: CustomerCreate) -> CustomerPublic:
    if crud.get_customer(session, principal.tenant, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"customer {body.id!r} already exists")
    customer = crud.create_customer(session, principal.tenant, body)
    risk = refresh_risk_now(session, principal.tenant, customer.id)
    session.commit()
    return customer_public(customer, risk)


@router.get("/{customer_id}", responses=errors(404))
def get_customer(session: SessionDep, principal: Reader, customer_id: PathId) -> CustomerPublic:
    customer = _found(crud.get_customer(session, principal.tenant, customer_id), customer_id)
    return customer_public(customer, risks_of(session, principal.tenant, [customer.id]).get(customer.id))


@router.put("/{customer_id}")
def replace_customer(
    session: SessionDep, principal: Admin, customer_id: PathId, body: CustomerReplace
) -> CustomerPublic:
    """Create the customer with this id, or replace all its fields."""
    customer = crud.replace_customer(session, principal.tenant, customer_id, body)
    risk = refresh_risk_now(session, principal.tenant, customer.id)
    session.commit()
    return customer_public(customer, risk)


@router.patch("/{customer_id}", responses=errors(404))
def update_customer(
    session: SessionDep, principal: Admin, customer_id: PathId, body: CustomerUpdate
) -> CustomerPublic:
    customer = _found(crud.get_customer(session, principal.tenant, customer_id), customer_id)
    crud.update_customer(session, customer, body.changes())
    risk = refresh_risk_now(session, principal.tenant, customer.id)
    session.commit()
    return customer_public(customer, risk)


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_customer(session: SessionDep, principal: Admin, customer_id: PathId) -> Response:
    customer = _found(crud.get_customer(session, principal.tenant, customer_id), customer_id)
    assigned = crud.asset_count(session, principal.tenant, customer_id)
    if assigned:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"customer {customer_id!r} still has {assigned} assets; reassign or delete them first",
        )
    crud.delete_customer(session, customer)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# 409: computing a missing risk writes it, and a concurrent request may write it first.
@router.get("/{customer_id}/risk", responses=errors(404, 409))
def get_risk(session: SessionDep, principal: AnyRole, customer_id: PathId) -> RiskPublic:
    """The Experience Risk Index (0–100) and its contributions; computed now if never before."""
    now = event_now_or_wall(session, principal.tenant)
    risk = current_risk(session, principal.tenant, customer_id, now)
    if risk is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found")
    session.commit()
    return risk_public(risk)

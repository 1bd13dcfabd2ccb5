"""Customers of a tenant."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from api.schemas.customers import CustomerCreate, CustomerReplace
from forestall.state.models import Asset, Customer, CustomerRisk


def get_customer(session: Session, tenant: str, customer_id: str) -> Customer | None:
    return session.get(Customer, (tenant, customer_id))


def list_customers(
    session: Session, tenant: str, *, after: tuple[Any, ...] | None, limit: int
) -> tuple[list[Customer], list[Any] | None]:
    stmt = select(Customer).where(Customer.tenant == tenant)
    return page_of(session, stmt, [Customer.id], after=after, limit=limit)


def create_customer(session: Session, tenant: str, data: CustomerCreate) -> Customer:
    customer = Customer(tenant=tenant, created_at=time.time(), **data.model_dump())
    session.add(customer)
    session.flush()
    return customer


def replace_customer(session: Session, tenant: str, customer_id: str, data: CustomerReplace) -> Customer:
    customer = get_customer(session, tenant, customer_id)
    if customer is None:
        return create_customer(session, tenant, CustomerCreate(id=customer_id, **data.model_dump()))
    return update_customer(session, customer, data.model_dump())


def update_customer(session: Session, customer: Customer, changes: dict[str, Any]) -> Customer:
    for name, value in changes.items():
        setattr(customer, name, value)
    session.flush()
    return customer


def asset_count(session: Session, tenant: str, customer_id: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Asset)
        .where(Asset.tenant == tenant, Asset.customer_id == customer_id)
    )
    return int(count or 0)


def delete_customer(session: Session, customer: Customer) -> None:
    session.execute(
        delete(CustomerRisk).where(
            CustomerRisk.tenant == customer.tenant, CustomerRisk.customer_id == customer.id
        )
    )
    session.delete(customer)
    session.flush()

"""Technicians (or crews) of a tenant."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.crud.common import page_of
from forestall.state.models import Technician


def get_technician(session: Session, tenant: str, technician_id: str) -> Technician | None:
    return session.get(Technician, (tenant, technician_id))


def list_technicians(
    session: Session,
    tenant: str,
    *,
    skill: str | None,
    region: str | None,
    active: bool | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Technician], list[Any] | None]:
    stmt = select(Technician).where(Technician.tenant == tenant)
    if skill is not None:
        stmt = stmt.where(_holds(session, Technician.skills, skill))
    if region is not None:
        stmt = stmt.where(_holds(session, Technician.regions, region))
    if active is not None:
        stmt = stmt.where(Technician.active == active)
    return page_of(session, stmt, [Technician.id], after=after, limit=limit)


def _holds(session: Session, column: InstrumentedAttribute[list[str]], value: str) -> ColumnElement[bool]:
    """Whether the JSON list in ``column`` has the element ``value`` (exact, not a substring)."""
    # The column is JSON on both databases (json, not jsonb, on PostgreSQL: no containment operator).
    if session.get_bind().dialect.name == "sqlite":
        elements = func.json_each(column).table_valued("value")
    else:
        elements = func.json_array_elements_text(column).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == value))


def create_technician(
    session: Session, tenant: str, technician_id: str, fields: dict[str, Any]
) -> Technician:
    technician = Technician(tenant=tenant, id=technician_id, created_at=time.time(), **fields)
    session.add(technician)
    session.flush()
    return technician


def update_technician(session: Session, technician: Technician, changes: dict[str, Any]) -> Technician:
    for name, value in changes.items():
        setattr(technician, name, value)
    session.flush()
    return technician


def delete_technician(session: Session, technician: Technician) -> None:
    session.delete(technician)
    session.flush()

"""Rows for the CSV exports: every customer with its stored risk, recommendations by filter."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.crud.recommendations import RecommendationFilter, list_recommendations
from forestall.state.models import Customer, CustomerRisk, Recommendation

BATCH = 1000


def customers_with_risk(session: Session, tenant: str) -> list[tuple[Customer, CustomerRisk | None]]:
    """Highest risk first; customers never scored last (by id)."""
    stmt = (
        select(Customer, CustomerRisk)
        .outerjoin(
            CustomerRisk, (CustomerRisk.tenant == Customer.tenant) & (CustomerRisk.customer_id == Customer.id)
        )
        .where(Customer.tenant == tenant)
    )
    rows: list[tuple[Customer, CustomerRisk | None]] = [(c, r) for c, r in session.execute(stmt)]
    rows.sort(key=lambda row: (-(row[1].risk_index if row[1] else -1.0), row[0].id))
    return rows


def all_recommendations(
    session: Session, tenant: str, where: RecommendationFilter
) -> Iterator[Recommendation]:
    """Newest first, read a page at a time."""
    after = None
    while True:
        rows, key = list_recommendations(session, tenant, where, after=after, limit=BATCH)
        yield from rows
        if key is None:
            return
        after = tuple(key)

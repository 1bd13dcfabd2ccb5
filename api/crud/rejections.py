"""Messages ingest rejected, as kept in the state DB."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from forestall.state.models import Rejection


def list_rejections(
    session: Session,
    tenant: str,
    *,
    reason: str | None,
    asset_id: str | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Rejection], list[Any] | None]:
    """Newest first; only rejections attributed to the tenant (a bad topic may name none)."""
    stmt = select(Rejection).where(Rejection.tenant == tenant)
    if reason is not None:
        stmt = stmt.where(Rejection.reason == reason)
    if asset_id is not None:
        stmt = stmt.where(Rejection.asset_id == asset_id)
    return page_of(session, stmt, [Rejection.id], after=after, limit=limit, descending=True)

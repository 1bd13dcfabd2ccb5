"""``/v1/ingest/rejections``: messages ingest refused, with their reason (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.checked import CheckedRoute
from api.crud.rejections import list_rejections
from api.deps import Admin, PageDep, SessionDep, next_cursor
from api.schemas.common import Page
from api.schemas.ingest import RejectionPublic
from forestall.contract import REJECTION_REASONS, format_ts

router = APIRouter(prefix="/ingest", tags=["ingest"], route_class=CheckedRoute)


@router.get("/rejections")
def get_rejections(
    session: SessionDep,
    principal: Admin,
    page: PageDep,
    reason: Annotated[str | None, Query(description=", ".join(REJECTION_REASONS))] = None,
    asset: Annotated[str | None, Query(description="asset id")] = None,
) -> Page[RejectionPublic]:
    """Newest first."""
    rows, key = list_rejections(
        session, principal.tenant, reason=reason, asset_id=asset, after=page.after(int), limit=page.limit
    )
    items = [
        RejectionPublic(
            id=r.id,
            asset_id=r.asset_id,
            topic=r.topic,
            reason=r.reason,
            detail=r.detail,
            received_at=format_ts(r.received_at),
            excerpt=r.excerpt,
        )
        for r in rows
    ]
    return Page(items=items, next_cursor=next_cursor(key))

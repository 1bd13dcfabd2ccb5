"""``/v1/recommendations``: read by every role; dispatchers and admins open manual ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.crud import recommendations as crud
from api.crud.customers import get_customer
from api.deps import AnyRole, Dispatcher, PageDep, SessionDep, TimeRangeDep, next_cursor, split_list
from api.schemas.common import Page
from api.schemas.recommendations import RecommendationCreate, RecommendationPublic
from api.views import recommendation_public
from forestall.state.models import Customer
from forestall.state.repo import event_now_or_wall
from forestall.vocab import PRIORITIES, STATUSES

router = APIRouter(prefix="/recommendations", tags=["recommendations"])

MultiValue = Annotated[list[str] | None, Query(description="repeat or comma-separate values")]


def checked_values(values: list[str], allowed: tuple[str, ...], name: str) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise HTTPException(422, f"unknown {name} {unknown}; known: {', '.join(allowed)}")
    return values


@router.get("")
def list_recommendations(
    session: SessionDep,
    principal: AnyRole,
    page: PageDep,
    window: TimeRangeDep,
    status_: Annotated[
        list[str] | None, Query(alias="status", description="e.g. open,accepted,scheduled")
    ] = None,
    customer: Annotated[str | None, Query(description="customer id")] = None,
    asset: Annotated[str | None, Query(description="recommendations covering this asset")] = None,
    priority: MultiValue = None,
) -> Page[RecommendationPublic]:
    """Newest first; ``from``/``to`` bound the creation time (event time)."""
    where = crud.RecommendationFilter(
        statuses=checked_values(split_list(status_), STATUSES, "status"),
        priorities=checked_values(split_list(priority), PRIORITIES, "priority"),
        customer_id=customer,
        asset_id=asset,
        created_from=window.start,
        created_to=window.end,
    )
    rows, key = crud.list_recommendations(
        session, principal.tenant, where, after=page.after(float, str), limit=page.limit
    )
    return Page(items=[recommendation_public(r) for r in rows], next_cursor=next_cursor(key))


@router.get("/{rec_id}")
def get_recommendation(session: SessionDep, principal: AnyRole, rec_id: str) -> RecommendationPublic:
    rec = crud.get_recommendation(session, principal.tenant, rec_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"recommendation {rec_id!r} not found")
    return recommendation_public(rec)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_recommendation(
    session: SessionDep, principal: Dispatcher, body: RecommendationCreate
) -> RecommendationPublic:
    """Open a manual recommendation (emits ``visit.recommended``); one open per asset."""
    assets = crud.assets_by_id(session, principal.tenant, body.asset_ids)
    missing = [asset_id for asset_id in body.asset_ids if asset_id not in assets]
    if missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"assets not found: {missing}")
    owners = {a.customer_id for a in assets.values()}
    if body.customer_id is None and len(owners) > 1:
        raise HTTPException(422, "the assets belong to different customers; give customer_id")
    customer_id = body.customer_id if body.customer_id is not None else owners.pop()
    customer: Customer | None = None
    if customer_id is not None:
        customer = get_customer(session, principal.tenant, customer_id)
        if customer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found")
    existing = crud.open_covering(session, principal.tenant, body.asset_ids)
    if existing is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"recommendation {existing.id!r} is already {existing.status} for these assets",
        )
    now = event_now_or_wall(session, principal.tenant)
    rec = crud.create_manual(session, customer, [assets[a] for a in body.asset_ids], body, now)
    session.commit()
    return recommendation_public(rec)

"""``/v1/recommendations``: read by every role; dispatchers and admins open manual ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.checked import CheckedRoute
from api.crud import recommendations as crud
from api.crud.customers import get_customer
from api.deps import AnyRole, Dispatcher, PageDep, PathId, SessionDep, TimeRangeDep, next_cursor, split_list
from api.problems import errors, invalid
from api.schemas.common import Page
from api.schemas.recommendations import RecommendationCreate, RecommendationPublic
from api.views import recommendation_public
from forestall.state.models import Customer
from forestall.state.repo import event_now_or_wall
from forestall.vocab import PRIORITIES, RECOMMENDATION_KINDS, STATUSES

router = APIRouter(prefix="/recommendations", tags=["recommendations"], route_class=CheckedRoute)


def listed(values: tuple[str, ...], example: str, alias: str | None = None) -> Any:
    """A query parameter of these values, repeated or comma-separated; the schema spells them
    out (a pattern), ``checked_values`` refuses others with a message naming the known ones."""
    one = "|".join(values)
    item = {"type": "string", "pattern": rf"^\s*({one})?\s*(,\s*({one})?\s*)*$"}
    return Query(
        alias=alias,
        description=f"e.g. {example}; repeat or comma-separate",
        json_schema_extra={"items": item},
    )


StatusFilter = Annotated[list[str] | None, listed(STATUSES, "open,accepted,scheduled", alias="status")]
PriorityFilter = Annotated[list[str] | None, listed(PRIORITIES, "P1,P2")]
KindFilter = Annotated[list[str] | None, listed(RECOMMENDATION_KINDS, "sensor_check")]


def checked_values(values: list[str], allowed: tuple[str, ...], name: str) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise invalid(("query", name), f"unknown {name} {unknown}; known: {', '.join(allowed)}", values)
    return values


@router.get("")
def list_recommendations(
    session: SessionDep,
    principal: AnyRole,
    page: PageDep,
    window: TimeRangeDep,
    status_: StatusFilter = None,
    customer: Annotated[str | None, Query(description="customer id")] = None,
    asset: Annotated[str | None, Query(description="recommendations covering this asset")] = None,
    priority: PriorityFilter = None,
    kind: KindFilter = None,
    overbooked: Annotated[
        bool | None,
        Query(description="true: visits waiting for technician capacity (no slot fits before the failure)"),
    ] = None,
) -> Page[RecommendationPublic]:
    """Newest first; ``from``/``to`` bound the creation time (event time); ``kind``: ``failure``
    (a machine about to fail) or ``sensor_check`` (a sensor that misreads); ``overbooked``: the
    visits no technician's time fits before their predicted failure."""
    where = crud.RecommendationFilter(
        statuses=checked_values(split_list(status_), STATUSES, "status"),
        priorities=checked_values(split_list(priority), PRIORITIES, "priority"),
        kinds=checked_values(split_list(kind), RECOMMENDATION_KINDS, "kind"),
        overbooked=overbooked,
        customer_id=customer,
        asset_id=asset,
        created_from=window.start,
        created_to=window.end,
    )
    rows, key = crud.list_recommendations(
        session, principal.tenant, where, after=page.after(float, str), limit=page.limit
    )
    return Page(items=[recommendation_public(r) for r in rows], next_cursor=next_cursor(key))


@router.get("/{rec_id}", responses=errors(404))
def get_recommendation(session: SessionDep, principal: AnyRole, rec_id: PathId) -> RecommendationPublic:
    rec = crud.get_recommendation(session, principal.tenant, rec_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"recommendation {rec_id!r} not found")
    return recommendation_public(rec)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such asset or customer"))
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
        raise invalid(("body", "customer_id"), "the assets belong to different customers; give customer_id")
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

"""``/v1/assets``: CRUD for admins, read for dispatchers and FSM; health for every role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from api.checked import CheckedRoute
from api.crud import assets as crud
from api.crud.customers import get_customer
from api.deps import Admin, AnyRole, PageDep, PathId, Principal, Reader, SessionDep, next_cursor
from api.problems import errors
from api.schemas.assets import AssetCreate, AssetPublic, AssetReplace, AssetUpdate, HealthPublic
from api.schemas.common import Page
from api.views import asset_public, health_public
from forestall.state.models import Asset
from forestall.state.repo import event_now_or_wall

router = APIRouter(prefix="/assets", tags=["assets"], route_class=CheckedRoute)


def found_asset(session: Session, principal: Principal, asset_id: str) -> Asset:
    asset = crud.get_asset(session, principal.tenant, asset_id)
    if asset is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"asset {asset_id!r} not found")
    return asset


def _check_customer(session: Session, principal: Principal, customer_id: str | None) -> None:
    if customer_id is not None and get_customer(session, principal.tenant, customer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"customer {customer_id!r} not found")


@router.get("")
def list_assets(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    customer: Annotated[str | None, Query(description="only this customer's assets")] = None,
    site: Annotated[str | None, Query()] = None,
) -> Page[AssetPublic]:
    rows, key = crud.list_assets(
        session, principal.tenant, customer_id=customer, site=site, after=page.after(str), limit=page.limit
    )
    health = crud.health_of(session, principal.tenant, [a.id for a in rows])
    return Page(items=[asset_public(a, health.get(a.id)) for a in rows], next_cursor=next_cursor(key))


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(404, s404="no such customer"))
def create_asset(session: SessionDep, principal: Admin, body: AssetCreate) -> AssetPublic:
    if crud.get_asset(session, principal.tenant, body.id) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"asset {body.id!r} already exists (PUT /v1/assets/{body.id} replaces it)",
        )
    _check_customer(session, principal, body.customer_id)
    now = event_now_or_wall(session, principal.tenant)
    asset = crud.create_asset(session, principal.tenant, body.id, body.model_dump(exclude={"id"}), now)
    session.commit()
    return asset_public(asset, None)


@router.get("/{asset_id}", responses=errors(404))
def get_asset(session: SessionDep, principal: Reader, asset_id: PathId) -> AssetPublic:
    asset = found_asset(session, principal, asset_id)
    return asset_public(asset, crud.get_health(session, principal.tenant, asset_id))


@router.put("/{asset_id}", responses=errors(404, s404="no such customer"))
def replace_asset(session: SessionDep, principal: Admin, asset_id: PathId, body: AssetReplace) -> AssetPublic:
    """Create the asset with this id or replace its registry fields (e.g. assign one ingest
    registered as unassigned)."""
    _check_customer(session, principal, body.customer_id)
    now = event_now_or_wall(session, principal.tenant)
    asset = crud.get_asset(session, principal.tenant, asset_id)
    if asset is None:
        asset = crud.create_asset(session, principal.tenant, asset_id, body.model_dump(), now)
    else:
        crud.update_asset(session, asset, body.model_dump(), now)
    session.commit()
    return asset_public(asset, crud.get_health(session, principal.tenant, asset_id))


@router.patch("/{asset_id}", responses=errors(404, s404="no such asset or customer"))
def update_asset(session: SessionDep, principal: Admin, asset_id: PathId, body: AssetUpdate) -> AssetPublic:
    """Change some fields; a new ``customer_id`` (or null to unassign) appends ``asset_assigned``."""
    asset = found_asset(session, principal, asset_id)
    changes = body.changes()
    _check_customer(session, principal, changes.get("customer_id"))
    crud.update_asset(session, asset, changes, event_now_or_wall(session, principal.tenant))
    session.commit()
    return asset_public(asset, crud.get_health(session, principal.tenant, asset_id))


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_asset(session: SessionDep, principal: Admin, asset_id: PathId) -> Response:
    asset = found_asset(session, principal, asset_id)
    crud.delete_asset(session, asset, event_now_or_wall(session, principal.tenant))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{asset_id}/health", responses=errors(404, s404="no such asset, or not scored yet"))
def get_health(session: SessionDep, principal: AnyRole, asset_id: PathId) -> HealthPublic:
    """The latest health snapshot; 404 until the predictor has scored the asset."""
    found_asset(session, principal, asset_id)
    health = crud.get_health(session, principal.tenant, asset_id)
    if health is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"asset {asset_id!r} has no health snapshot yet")
    return health_public(health)

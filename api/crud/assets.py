"""Assets of a tenant; (re)assigning one to a customer is an ``asset_assigned`` event."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from api.crud.risk import refresh_risk
from forestall.state.models import Asset, AssetHealth
from forestall.state.repo import append_event


def get_asset(session: Session, tenant: str, asset_id: str) -> Asset | None:
    return session.get(Asset, (tenant, asset_id))


def list_assets(
    session: Session,
    tenant: str,
    *,
    customer_id: str | None,
    site: str | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Asset], list[Any] | None]:
    stmt = select(Asset).where(Asset.tenant == tenant)
    if customer_id is not None:
        stmt = stmt.where(Asset.customer_id == customer_id)
    if site is not None:
        stmt = stmt.where(Asset.site == site)
    return page_of(session, stmt, [Asset.id], after=after, limit=limit)


def health_of(session: Session, tenant: str, asset_ids: list[str]) -> dict[str, AssetHealth]:
    if not asset_ids:
        return {}
    rows = session.scalars(
        select(AssetHealth).where(AssetHealth.tenant == tenant, AssetHealth.asset_id.in_(asset_ids))
    )
    return {row.asset_id: row for row in rows}


def get_health(session: Session, tenant: str, asset_id: str) -> AssetHealth | None:
    return session.get(AssetHealth, (tenant, asset_id))


def create_asset(session: Session, tenant: str, asset_id: str, fields: dict[str, Any], now: float) -> Asset:
    customer_id = fields.pop("customer_id", None)
    asset = Asset(tenant=tenant, id=asset_id, customer_id=None, created_at=time.time(), **fields)
    session.add(asset)
    session.flush()
    if customer_id is not None:
        assign(session, asset, customer_id, now)
    return asset


def update_asset(session: Session, asset: Asset, changes: dict[str, Any], now: float) -> Asset:
    """Apply ``changes``; a new ``customer_id`` appends ``asset_assigned`` and refreshes both risks."""
    customer_changes = "customer_id" in changes and changes["customer_id"] != asset.customer_id
    customer_id = changes.pop("customer_id", asset.customer_id)
    for name, value in changes.items():
        setattr(asset, name, value)
    session.flush()
    if customer_changes:
        assign(session, asset, customer_id, now)
    elif asset.customer_id is not None:
        # Criticality and safety weigh into the customer's predicted disruption.
        refresh_risk(session, asset.tenant, asset.customer_id, now)
    return asset


def assign(
    session: Session, asset: Asset, customer_id: str | None, now: float, *, deleted: bool = False
) -> None:
    previous = asset.customer_id
    asset.customer_id = customer_id
    append_event(
        session,
        asset.tenant,
        "asset_assigned",
        now,
        {"customer_id": customer_id, "previous_customer_id": previous, "deleted": deleted},
        customer_id=customer_id,
        asset_id=asset.id,
    )
    session.flush()
    for affected in dict.fromkeys(c for c in (previous, customer_id) if c is not None):
        refresh_risk(session, asset.tenant, affected, now)


def delete_asset(session: Session, asset: Asset, now: float) -> None:
    if asset.customer_id is not None:
        assign(session, asset, None, now, deleted=True)
    session.execute(
        delete(AssetHealth).where(AssetHealth.tenant == asset.tenant, AssetHealth.asset_id == asset.id)
    )
    session.delete(asset)
    session.flush()

"""``/v1/assets/{id}/telemetry``: stored samples from the telemetry store, oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.checked import CheckedRoute
from api.deps import AnyRole, ContextDep, Cursor, PageParams, PathId, SessionDep, TimeRangeDep, split_list
from api.pagination import encode_cursor
from api.problems import errors
from api.routes.assets import found_asset
from api.schemas.assets import TelemetrySample
from api.schemas.common import Page
from forestall.contract import format_ts
from forestall.series import StoreError
from forestall.state.repo import event_now_or_wall

router = APIRouter(prefix="/assets", tags=["assets"], route_class=CheckedRoute)

DEFAULT_SPAN_S = 86400.0


@router.get("/{asset_id}/telemetry", responses=errors(404, 503, s503="the telemetry store is unavailable"))
def get_telemetry(
    ctx: ContextDep,
    session: SessionDep,
    principal: AnyRole,
    asset_id: PathId,
    window: TimeRangeDep,
    sensor: Annotated[
        list[str] | None, Query(description="sensor names (repeat or comma-separate); default all")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Cursor = None,
) -> Page[TelemetrySample]:
    """One item per stored sample in [from, to] (default: the last day of event time)."""
    found_asset(session, principal, asset_id)
    end = window.end if window.end is not None else event_now_or_wall(session, principal.tenant)
    start = window.start if window.start is not None else end - DEFAULT_SPAN_S
    after = PageParams(limit, cursor).after(float)
    if end < start:  # an empty window; InfluxDB would refuse the query
        return Page(items=[], next_cursor=None)
    try:
        rows = ctx.telemetry_store().query_telemetry(
            principal.tenant,
            asset_id,
            start,
            end,
            split_list(sensor) or None,
            limit + 1,
            after=after[0] if after else None,
        )
    except StoreError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"telemetry store unavailable: {exc}"
        ) from exc
    more = len(rows) > limit
    rows = rows[:limit]
    items = [TelemetrySample(ts=format_ts(ts), values=values) for ts, values in rows]
    return Page(items=items, next_cursor=encode_cursor([rows[-1][0]]) if more else None)

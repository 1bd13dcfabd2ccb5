"""One module per resource; ``api_router`` gathers them under ``/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from api.problems import errors
from api.routes import (
    assets,
    commands,
    customers,
    events,
    exports,
    integrations,
    lifecycle,
    recommendations,
    rejections,
    risk_settings,
    technicians,
    telemetry,
    webhooks,
)

# Every module's router has the route class api.checked.CheckedRoute, which adds the statuses
# its dependencies imply; these two come from the app itself (body limit, state DB handler).
api_router = APIRouter(prefix="/v1", responses=errors(413, 503))
for module in (
    customers,
    assets,
    technicians,
    telemetry,
    recommendations,
    lifecycle,
    events,
    risk_settings,
    webhooks,
    rejections,
    commands,
    exports,
    integrations,
):
    api_router.include_router(module.router)

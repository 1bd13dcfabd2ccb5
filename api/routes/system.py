"""Outside ``/v1``: ``/healthz`` and ``/metrics`` (no auth), and the dispatcher board at ``/``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ContextDep, SessionDep
from api.problems import errors
from forestall.state.models import WebhookDelivery

router = APIRouter(tags=["system"])


@router.get("/healthz", responses=errors(413, 503, s503="the state DB is unreachable"))
def healthz(session: SessionDep) -> dict[str, str]:
    """Liveness and state DB reachability."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "state DB unreachable") from exc
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: ContextDep, session: SessionDep) -> Response:
    rows = session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
    counts = {status_: int(count) for status_, count in rows}
    for state in ("pending", "delivered", "dead"):
        ctx.metrics.webhook_backlog.labels(state).set(counts.get(state, 0))
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
def board() -> HTMLResponse:
    """The dispatcher board: static HTML that reads /v1 with the key the user gives it."""
    page = resources.files("api.board").joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"cache-control": "no-cache"})

"""``/v1/webhooks``: subscriptions, their delivery log and replay (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy.orm import Session

from api.checked import CheckedRoute
from api.context import AppContext
from api.crud import webhooks as crud
from api.deps import Admin, ContextDep, PageDep, PathId, Principal, SessionDep, next_cursor
from api.problems import errors, invalid
from api.schemas.common import Page
from api.schemas.webhooks import DeliveryPublic, WebhookCreate, WebhookCreated, WebhookPublic, WebhookUpdate
from api.views import delivery_public, webhook_public
from api.webhooks.egress import EgressRefusedError
from forestall.state.models import WebhookSubscription

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=CheckedRoute)

# Row ids are positive 64-bit integers; a larger one would overflow the database's integer.
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _found(session: Session, principal: Principal, sub_id: str) -> WebhookSubscription:
    sub = crud.get_subscription(session, principal.tenant, sub_id)
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {sub_id!r} not found")
    return sub


def _reachable(ctx: AppContext, url: object) -> str:
    """The URL as text, once its host resolves only to addresses webhooks may reach (else 422)."""
    text = str(url)
    try:
        ctx.egress.vet(text)
    except EgressRefusedError as exc:
        raise invalid(("body", "url"), str(exc), text) from exc
    return text


@router.get("")
def list_webhooks(session: SessionDep, principal: Admin, page: PageDep) -> Page[WebhookPublic]:
    rows, key = crud.list_subscriptions(session, principal.tenant, after=page.after(str), limit=page.limit)
    return Page(items=[webhook_public(s) for s in rows], next_cursor=next_cursor(key))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, s409="the tenant has its maximum of subscriptions"),
)
def create_webhook(
    ctx: ContextDep, session: SessionDep, principal: Admin, body: WebhookCreate
) -> WebhookCreated:
    """Subscribe a URL; the secret (generated when not given) is returned only here.

    The URL's host must resolve to public addresses only (or to the operator's
    ``api.webhook_allowed_networks``); a tenant has at most ``api.webhook_max_subscriptions``.
    """
    url = _reachable(ctx, body.url)
    limit = ctx.settings.api.webhook_max_subscriptions
    if crud.count_subscriptions(session, principal.tenant) >= limit:
        raise HTTPException(status.HTTP_409_CONFLICT, f"a tenant has at most {limit} webhook subscriptions")
    sub = crud.create_subscription(session, principal.tenant, url, body.events, body.secret, body.active)
    session.commit()
    return WebhookCreated(**webhook_public(sub).model_dump(), secret=sub.secret)


@router.get("/{sub_id}", responses=errors(404))
def get_webhook(session: SessionDep, principal: Admin, sub_id: PathId) -> WebhookPublic:
    return webhook_public(_found(session, principal, sub_id))


@router.patch("/{sub_id}", responses=errors(404))
def update_webhook(
    ctx: ContextDep, session: SessionDep, principal: Admin, sub_id: PathId, body: WebhookUpdate
) -> WebhookPublic:
    changes = body.changes()
    if "url" in changes:
        changes["url"] = _reachable(ctx, body.url)
    sub = crud.update_subscription(session, _found(session, principal, sub_id), changes)
    session.commit()
    return webhook_public(sub)


@router.delete("/{sub_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_webhook(session: SessionDep, principal: Admin, sub_id: PathId) -> Response:
    crud.delete_subscription(session, _found(session, principal, sub_id))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{sub_id}/deliveries", responses=errors(404))
def list_deliveries(
    session: SessionDep,
    principal: Admin,
    sub_id: PathId,
    page: PageDep,
    status_: Annotated[Literal["pending", "delivered", "dead"] | None, Query(alias="status")] = None,
) -> Page[DeliveryPublic]:
    """The delivery log, newest first, with every attempt's status code, error and duration."""
    sub = _found(session, principal, sub_id)
    rows, key = crud.list_deliveries(session, sub, status=status_, after=page.after(int), limit=page.limit)
    return Page(items=[delivery_public(*row) for row in rows], next_cursor=next_cursor(key))


@router.get("/{sub_id}/deliveries/{delivery_id}", responses=errors(404))
def get_delivery(
    session: SessionDep, principal: Admin, sub_id: PathId, delivery_id: DeliveryId
) -> DeliveryPublic:
    row = crud.get_delivery(session, _found(session, principal, sub_id), delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"delivery {delivery_id} not found")
    return delivery_public(*row)


@router.post(
    "/{sub_id}/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED, responses=errors(404)
)
def replay_delivery(
    ctx: ContextDep, session: SessionDep, principal: Admin, sub_id: PathId, delivery_id: DeliveryId
) -> DeliveryPublic:
    """Send the delivery again (same webhook-id), e.g. a dead one once the receiver is fixed."""
    row = crud.get_delivery(session, _found(session, principal, sub_id), delivery_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"delivery {delivery_id} not found")
    crud.replay(session, row[0])
    session.commit()
    if ctx.dispatcher is not None:
        ctx.dispatcher.wake()
    return delivery_public(*row)

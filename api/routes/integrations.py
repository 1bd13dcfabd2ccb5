"""``/v1/integrations/grafana``: Grafana alert notifications recorded as ``grafana_alert`` events.

Grafana's webhook contact point posts here with ``Authorization: Bearer <token>``: either the
deployment's ``api.grafana_token`` (then ``?tenant=`` names the tenant) or an API key of role
``grafana`` (or ``admin``), which carries its tenant. Each alert
becomes one row in the events table (kind ``grafana_alert``) linked to the asset named by its
``asset`` / ``asset_id`` label and that asset's customer (or a ``customer`` / ``customer_id``
label) when they exist in the tenant. The worker reads them as evidence for the visit policy
(``predictor/alerts.py``): a firing alert opens or escalates a recommendation for its asset, or
for a customer-level alert the customer's assets most at risk; a resolved one is recorded and
ends that. An alert whose ``tenant`` label names another tenant than the token's is not recorded
(``ignored_other_tenant``): a Grafana whose rules see several tenants' data cannot open visits
for a tenant with another tenant's key.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.checked import CheckedRoute
from api.crud.assets import get_asset
from api.crud.customers import get_customer
from api.deps import ContextDep, SessionDep, within_rate
from api.problems import errors, invalid
from api.schemas.common import ObjectId
from api.schemas.grafana import GrafanaAlert, GrafanaNotification, GrafanaRecorded
from forestall.contract import parse_ts
from forestall.state.keys import lookup_key
from forestall.state.repo import append_event, event_now_or_wall

router = APIRouter(prefix="/integrations", tags=["integrations"], route_class=CheckedRoute)

grafana_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="GrafanaToken",
    description="`api.grafana_token` (with `?tenant=`) or an API key of role `grafana`",
)


def grafana_tenant(
    ctx: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(grafana_bearer)],
    tenant: Annotated[
        ObjectId | None, Query(description="the tenant; required with the deployment's Grafana token")
    ] = None,
) -> str:
    """The tenant the caller may record alerts for; 401 / 403 / 404 / 422 / 429 otherwise."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing Grafana token", headers={"WWW-Authenticate": "Bearer"}
        )
    expected = ctx.settings.api.grafana_token
    if expected and hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        if tenant is None:
            raise invalid(("query", "tenant"), "?tenant= is required with the Grafana token")
        # One budget per tenant: the deployment's token is shared by every tenant's Grafana.
        within_rate(ctx, tenant, "grafana-token")
        return tenant
    record = lookup_key(session, credentials.credentials)
    if record is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid Grafana token", headers={"WWW-Authenticate": "Bearer"}
        )
    if record.role not in ("grafana", "admin"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {record.role!r} may not do this; allowed: grafana, admin"
        )
    if tenant is not None and tenant != record.tenant:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tenant {tenant!r} not found")
    within_rate(ctx, record.tenant, record.id)
    return record.tenant


GrafanaTenant = Annotated[str, Depends(grafana_tenant)]


@router.post(
    "/grafana",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(
        401, 403, 404, 429, s403="the key's role is not grafana or admin", s404="no such tenant"
    ),
)
def grafana_alerts(session: SessionDep, tenant: GrafanaTenant, body: GrafanaNotification) -> GrafanaRecorded:
    """Record each alert as a ``grafana_alert`` event (see the module docs)."""
    now = event_now_or_wall(session, tenant)
    ids = []
    ignored = 0
    for alert in body.alerts:
        if alert.labels.get("tenant", tenant) != tenant:  # a rule over several tenants' data
            ignored += 1
            continue
        event = _record(session, tenant, alert, now)
        session.flush()
        ids.append(event.id)
    session.commit()
    return GrafanaRecorded(recorded=len(ids), event_ids=ids, ignored_other_tenant=ignored)


def _record(session: Session, tenant: str, alert: GrafanaAlert, now: float) -> Any:
    labels = alert.labels
    asset_id = labels.get("asset") or labels.get("asset_id")
    asset = get_asset(session, tenant, asset_id) if asset_id else None
    customer_id = (
        asset.customer_id if asset is not None else labels.get("customer") or labels.get("customer_id")
    )
    if customer_id is not None and get_customer(session, tenant, customer_id) is None:
        customer_id = None
    data = {
        "status": alert.status,
        "alertname": labels.get("alertname"),
        "labels": labels,
        "annotations": alert.annotations,
        "starts_at": alert.startsAt,
        "ends_at": alert.endsAt,
        "generator_url": alert.generatorURL,
        "fingerprint": alert.fingerprint,
        "notified_at": now,  # the tenant's event clock when Grafana (re)sent it: how fresh it is
    }
    return append_event(
        session,
        tenant,
        "grafana_alert",
        _time_or(alert.startsAt, now),
        data,
        customer_id=customer_id,
        asset_id=asset.id if asset is not None else None,
    )


def _time_or(text: str | None, default: float) -> float:
    if not text or text.startswith("0001-"):  # Grafana's "no time" value
        return default
    try:
        return parse_ts(text)
    except ValueError:
        return default

"""Recompute a customer's Experience index from the state DB (used by worker and API).

Gathers the customer's factors from the events table and asset health, turns them into the
drivers' evidence (``risk.evidence``), explains it with the tenant's parameters in force
(``index_params``: the learnt ones, else the prior from the tenant's weights) and stores the
result; a crossing of the tenant threshold goes to the outbox in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forestall.series import Point
from forestall.state.models import (
    Asset,
    AssetHealth,
    Customer,
    CustomerRisk,
    Event,
    ExperienceState,
    Recommendation,
    RiskWeights,
)
from forestall.state.repo import emit_webhook
from forestall.vocab import OPEN_STATUSES
from predictor.experience import DEFAULT_THRESHOLD_PERCENT, IndexParams, prior_params
from predictor.risk import AssetRisk, CustomerFactors, crossed, evidence

DAY = 86400.0
INCIDENT_WINDOW_S = 30 * DAY
SURVEY_WINDOW_S = 90 * DAY
REPEAT_FAULT_WINDOW_S = 180 * DAY


def tenant_weights(session: Session, tenant: str) -> tuple[dict[str, float], float]:
    """The tenant's prior weights (points; names left out take the defaults) and its threshold (%)."""
    row = session.get(RiskWeights, tenant)
    if row is None:
        return {}, DEFAULT_THRESHOLD_PERCENT
    return {k: float(v) for k, v in row.weights.items()}, row.threshold_percent


def index_params(session: Session, tenant: str) -> IndexParams:
    """The parameters the tenant's index is computed with: the learnt ones once in force, else
    the prior from the tenant's current weights (with what has been learnt so far counted)."""
    row = session.get(ExperienceState, tenant)
    stored = IndexParams.from_json(row.params) if row is not None else None
    if stored is not None and stored.in_force == "learned":
        return stored
    prior = prior_params(tenant_weights(session, tenant)[0])
    if stored is None:
        return prior
    return replace(
        prior, outcomes=stored.outcomes, customer_days=stored.customer_days, quality=stored.quality
    )


def asset_risks(session: Session, tenant: str, customer_id: str) -> list[AssetRisk]:
    rows = session.execute(
        select(Asset, AssetHealth)
        .outerjoin(AssetHealth, (AssetHealth.tenant == Asset.tenant) & (AssetHealth.asset_id == Asset.id))
        .where(Asset.tenant == tenant, Asset.customer_id == customer_id)
    ).all()
    return [
        AssetRisk(
            asset_id=asset.id,
            failure_probability=health.failure_probability if health else 0.0,
            ttf_hours=health.ttf_hours if health else None,
            criticality=asset.criticality,
            safety_critical=asset.safety_critical,
        )
        for asset, health in rows
    ]


@dataclass(frozen=True, slots=True)
class _Incidents:
    outages: int
    supply_interruptions: int
    escalations: int
    billing_errors: int
    resolution_hours: tuple[float, ...]
    request_minutes: tuple[float, ...]


def _latest_per_incident(events: list[Event]) -> list[Event]:
    """One record per incident: a re-post with the same kind and opening time updates it.

    FSM systems report an incident when it opens and again when it is resolved; counting
    both would double every outage.
    """
    latest: dict[tuple[str, float], Event] = {}
    for event in sorted(events, key=lambda e: e.id):
        latest[(str(event.data.get("kind", "")), event.occurred_at)] = event
    return list(latest.values())


def _incident_factors(events: list[Event]) -> _Incidents:
    kinds: Counter[str] = Counter()
    resolution_hours: list[float] = []
    request_minutes: list[float] = []
    for event in _latest_per_incident(events):
        kind = str(event.data.get("kind", ""))
        kinds[kind] += 1
        resolved = event.data.get("resolved_at")
        if isinstance(resolved, int | float) and resolved >= event.occurred_at and kind != "ticket":
            resolution_hours.append((resolved - event.occurred_at) / 3600.0)
        duration = event.data.get("duration_min")
        if kind == "ticket" and isinstance(duration, int | float):
            request_minutes.append(float(duration))
    return _Incidents(
        outages=kinds["outage"],
        supply_interruptions=kinds["supply_interruption"],
        escalations=kinds["escalation"],
        billing_errors=kinds["billing_error"],
        resolution_hours=tuple(resolution_hours),
        request_minutes=tuple(request_minutes),
    )


def _survey_factors(events: list[Event]) -> dict[str, tuple[float, ...]]:
    scores: dict[str, list[float]] = {"csat": [], "nps": [], "ces": []}
    for event in events:
        kind, value = event.data.get("kind"), event.data.get("score")
        if kind in scores and isinstance(value, int | float):
            scores[str(kind)].append(float(value))
    return {k: tuple(v) for k, v in scores.items()}


def _events(
    session: Session, tenant: str, customer_id: str, kind: str, since: float, until: float | None
) -> list[Event]:
    stmt = select(Event).where(
        Event.tenant == tenant,
        Event.customer_id == customer_id,
        Event.kind == kind,
        Event.occurred_at >= since,
    )
    if until is not None:
        stmt = stmt.where(Event.occurred_at <= until)
    return list(session.scalars(stmt))


def confirmed_faults(
    session: Session, tenant: str, asset_ids: list[str], now: float, until: float | None = None
) -> Counter[str]:
    """Confirmed faults (failures, faults found on visits) per asset within the window (and up to
    ``until``, if given), in one query."""
    faults: Counter[str] = Counter()
    if not asset_ids:
        return faults
    stmt = select(Event).where(
        Event.tenant == tenant,
        Event.asset_id.in_(asset_ids),
        Event.kind.in_(("maintenance", "outcome")),
        Event.occurred_at >= now - REPEAT_FAULT_WINDOW_S,
    )
    if until is not None:
        stmt = stmt.where(Event.occurred_at <= until)
    for event in session.scalars(stmt):
        confirmed = event.data.get("kind") == "failure" or event.data.get("fault_found") is True
        if confirmed and event.asset_id:
            faults[event.asset_id] += 1
    return faults


def repeats(faults: int) -> int:
    """Faults beyond the first ("prevents": repeat faults weigh more)."""
    return max(faults - 1, 0)


def repeat_faults(
    session: Session, tenant: str, asset_ids: list[str], now: float, until: float | None = None
) -> int:
    """Confirmed faults beyond the first per asset, summed over the assets."""
    return sum(repeats(n) for n in confirmed_faults(session, tenant, asset_ids, now, until).values())


def customer_factors(
    session: Session, customer: Customer, asset_ids: list[str], now: float, until: float | None = None
) -> CustomerFactors:
    """What the customer's recent history says at ``now``; with ``until``, of events up to then
    only (a customer-day taken after its start knows nothing that happened since)."""
    tenant, cid = customer.tenant, customer.id
    incidents = _incident_factors(_events(session, tenant, cid, "incident", now - INCIDENT_WINDOW_S, until))
    surveys = _survey_factors(_events(session, tenant, cid, "feedback", now - SURVEY_WINDOW_S, until))
    upcoming = session.scalar(
        select(func.count())
        .select_from(Recommendation)
        .where(
            Recommendation.tenant == customer.tenant,
            Recommendation.customer_id == customer.id,
            Recommendation.status.in_(OPEN_STATUSES),
        )
    )
    return CustomerFactors(
        segment=customer.segment,
        sla_tier=customer.sla_tier,
        visit_sensitivity=customer.visit_sensitivity,
        upcoming_visits=int(upcoming or 0),
        repeat_faults=repeat_faults(session, customer.tenant, asset_ids, now, until),
        **asdict(incidents),
        **surveys,  # type: ignore[arg-type]
    )


def customer_evidence(
    session: Session, customer: Customer, now: float, until: float | None = None
) -> dict[str, float]:
    """The drivers' evidence of the customer at ``now`` (``customer_factors`` for ``until``)."""
    assets = asset_risks(session, customer.tenant, customer.id)
    factors = customer_factors(session, customer, [a.asset_id for a in assets], now, until)
    return evidence(assets, factors)


def refresh_customer_risk(session: Session, tenant: str, customer_id: str, now: float) -> CustomerRisk | None:
    """Recompute, store and return the customer's risk; None if there is no such customer."""
    customer = session.get(Customer, (tenant, customer_id))
    if customer is None:
        return None
    params = index_params(session, tenant)
    result = params.explain(customer_evidence(session, customer, now), customer.segment)
    _, threshold = tenant_weights(session, tenant)
    stored = session.get(CustomerRisk, (tenant, customer_id))
    previous = stored.risk_index if stored else None
    if stored is None:
        stored = CustomerRisk(tenant=tenant, customer_id=customer_id)
        session.add(stored)
    stored.at, stored.risk_index, stored.contributions = now, result.index, result.contributions
    stored.model = params.describe()
    if crossed(previous, result.index, threshold):
        emit_webhook(
            session,
            tenant,
            "risk.threshold_crossed",
            now,
            {
                "customer_id": customer_id,
                "index": round(result.index, 2),
                "previous": round(previous, 2) if previous is not None else None,
                "threshold": threshold,
                "direction": "up" if result.index >= threshold else "down",
                "contributions": {k: round(v, 3) for k, v in result.contributions.items()},
                "model": params.describe(),
            },
        )
    return stored


def risk_point(risk: CustomerRisk) -> Point:
    """The customer's risk as the telemetry store keeps it (``customer_risk``)."""
    return Point(
        "customer_risk",
        {"tenant": risk.tenant, "customer": risk.customer_id},
        {"risk_index": risk.risk_index, **risk.contributions},
        risk.at,
    )

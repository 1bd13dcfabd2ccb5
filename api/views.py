"""State rows to response models (one place, built on ``forestall.state.views``)."""

from __future__ import annotations

from api.schemas.assets import AssetPublic, HealthPublic
from api.schemas.customers import CustomerPublic, RiskPublic
from api.schemas.events import ContractEventPublic, FeedbackPublic, IncidentPublic, MaintenancePublic
from api.schemas.recommendations import RecommendationPublic
from api.schemas.technicians import TechnicianPublic
from api.schemas.webhooks import AttemptPublic, DeliveryPublic, WebhookPublic
from forestall.contract import format_ts
from forestall.state.models import (
    Asset,
    AssetHealth,
    Customer,
    CustomerRisk,
    DeliveryAttempt,
    Event,
    OutboxEvent,
    Recommendation,
    Technician,
    WebhookDelivery,
    WebhookSubscription,
)
from forestall.state.views import health_view, recommendation_view, risk_view, ts_or_none


def risk_public(risk: CustomerRisk) -> RiskPublic:
    return RiskPublic.model_validate(risk_view(risk))


def health_public(health: AssetHealth) -> HealthPublic:
    return HealthPublic.model_validate(health_view(health))


def recommendation_public(rec: Recommendation) -> RecommendationPublic:
    return RecommendationPublic.model_validate(recommendation_view(rec))


def customer_public(customer: Customer, risk: CustomerRisk | None) -> CustomerPublic:
    return CustomerPublic(
        id=customer.id,
        name=customer.name,
        segment=customer.segment,  # type: ignore[arg-type]  # validated on the way in
        sla_tier=customer.sla_tier,  # type: ignore[arg-type]
        visit_sensitivity=customer.visit_sensitivity,
        created_at=format_ts(customer.created_at),
        risk=risk_public(risk) if risk else None,
    )


def asset_public(asset: Asset, health: AssetHealth | None) -> AssetPublic:
    return AssetPublic(
        id=asset.id,
        customer_id=asset.customer_id,
        asset_type=asset.asset_type,
        site=asset.site,
        criticality=asset.criticality,
        safety_critical=asset.safety_critical,
        online=asset.online,
        online_since=ts_or_none(asset.online_since),
        last_seen_at=ts_or_none(asset.last_seen_at),
        agent_status=asset.agent_status,
        created_at=format_ts(asset.created_at),
        health=health_public(health) if health else None,
    )


def technician_public(technician: Technician) -> TechnicianPublic:
    return TechnicianPublic(
        id=technician.id,
        name=technician.name,
        skills=technician.skills,
        regions=technician.regions,
        timezone=technician.timezone,
        hours=technician.hours,  # type: ignore[arg-type]  # validated on the way in
        active=technician.active,
        created_at=format_ts(technician.created_at),
    )


def _time(value: object) -> str | None:
    return format_ts(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else None


def maintenance_public(event: Event) -> MaintenancePublic:
    return MaintenancePublic(
        id=event.id,
        asset_id=event.asset_id or "",
        customer_id=event.customer_id,
        kind=event.data["kind"],
        occurred_at=format_ts(event.occurred_at),
        fault_code=event.data.get("fault_code"),
        notes=event.data.get("notes"),
        sensor=event.data.get("sensor"),
        recorded_at=format_ts(event.recorded_at),
    )


def incident_public(event: Event) -> IncidentPublic:
    return IncidentPublic(
        id=event.id,
        customer_id=event.customer_id or "",
        kind=event.data["kind"],
        opened_at=format_ts(event.occurred_at),
        resolved_at=_time(event.data.get("resolved_at")),
        duration_min=event.data.get("duration_min"),
        notes=event.data.get("notes"),
        recorded_at=format_ts(event.recorded_at),
    )


def feedback_public(event: Event) -> FeedbackPublic:
    return FeedbackPublic(
        id=event.id,
        customer_id=event.customer_id or "",
        kind=event.data["kind"],
        score=event.data["score"],
        at=format_ts(event.occurred_at),
        comment=event.data.get("comment"),
        recorded_at=format_ts(event.recorded_at),
    )


def contract_event_public(event: Event) -> ContractEventPublic:
    return ContractEventPublic(
        id=event.id,
        customer_id=event.customer_id or "",
        kind=event.data["kind"],
        occurred_at=format_ts(event.occurred_at),
        reason=event.data.get("reason"),
        details=event.data.get("details"),
        recorded_at=format_ts(event.recorded_at),
    )


def webhook_public(sub: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic(
        id=sub.id,
        url=sub.url,
        events=list(sub.events),
        active=sub.active,
        created_at=format_ts(sub.created_at),
    )


def delivery_public(
    delivery: WebhookDelivery, event: OutboxEvent, attempts: list[DeliveryAttempt]
) -> DeliveryPublic:
    return DeliveryPublic(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        message_id=event.webhook_id,
        event_type=event.type,
        event_timestamp=format_ts(event.timestamp),
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=format_ts(delivery.next_attempt_at) if delivery.status == "pending" else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        last_duration_ms=delivery.last_duration_ms,
        delivered_at=ts_or_none(delivery.delivered_at),
        attempt_log=[
            AttemptPublic(
                at=format_ts(a.at), status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
            )
            for a in attempts
        ],
    )

"""The JSON shapes of state rows that leave the system (API responses and webhook data).

One place for each shape, so a webhook's ``data`` and the API's body never disagree.
Times are RFC 3339 strings (UTC, ``Z``).
"""

from __future__ import annotations

from typing import Any

from forestall.contract import format_ts
from forestall.state.models import AssetHealth, CustomerRisk, Recommendation


def ts_or_none(value: float | None) -> str | None:
    return format_ts(value) if value is not None else None


def recommendation_view(rec: Recommendation) -> dict[str, Any]:
    return {
        "id": rec.id,
        "tenant": rec.tenant,
        "customer_id": rec.customer_id,
        "site": rec.site,
        "asset_ids": list(rec.asset_ids),
        "status": rec.status,
        "kind": rec.kind,
        "priority": rec.priority,
        "priority_score": round(rec.priority_score, 4),
        "reason": rec.reason,
        "predicted_failure_at": ts_or_none(rec.predicted_failure_at),
        "confidence": round(rec.confidence, 4),
        "window_start": format_ts(rec.window_start),
        "window_end": format_ts(rec.window_end),
        "sla_due_at": format_ts(rec.sla_due_at),
        "fits_sla": rec.fits_sla,
        "risk_index": round(rec.risk_index, 2),
        "source": rec.source,
        "created_at": format_ts(rec.created_at),
        "updated_at": format_ts(rec.updated_at),
        "scheduled_for": ts_or_none(rec.scheduled_for),
        "closed_at": ts_or_none(rec.closed_at),
        "close_reason": rec.close_reason,
        "outcome": rec.outcome,
        "overbooked": rec.overbooked,
        "capacity": capacity_view(rec.capacity),
    }


def capacity_view(placed: dict[str, Any] | None) -> dict[str, Any] | None:
    """A recommendation's place in the technicians' plan, times as text (None: not planned)."""
    if placed is None:
        return None
    return {
        "rank": placed.get("rank"),
        "harm": placed.get("harm"),
        "harm_factors": placed.get("harm_factors", {}),
        "technician_id": placed.get("technician_id"),
        "start": ts_or_none(placed.get("start")),
        "end": ts_or_none(placed.get("end")),
        "planned_at": ts_or_none(placed.get("at")),
    }


def health_view(health: AssetHealth) -> dict[str, Any]:
    return {
        "asset_id": health.asset_id,
        "at": format_ts(health.at),
        "anomaly_score": round(health.anomaly_score, 4),
        "failure_probability": round(health.failure_probability, 4),
        "ttf_hours": health.ttf_hours,
        "ttf_low_hours": health.ttf_low_hours,
        "ttf_high_hours": health.ttf_high_hours,
        "model_version": health.model_version,
        "top_sensors": list(health.top_sensors),
        "drift": health.drift,
    }


def risk_view(risk: CustomerRisk) -> dict[str, Any]:
    return {
        "customer_id": risk.customer_id,
        "at": format_ts(risk.at),
        "risk_index": round(risk.risk_index, 2),
        "contributions": {k: round(float(v), 3) for k, v in risk.contributions.items()},
        "model": dict(risk.model) if risk.model is not None else None,
    }

"""Visit planning (ARCHITECTURE §6): when to recommend a visit, its window, SLA fit and priority.

Pure functions of asset conditions, the customer and event time ``now``.

>>> cond = AssetCondition("p1", "site-a", 0.8, 0.7, 30.0, 20.0, 4, False, 0, ("vibration_mm_s",))
>>> plan = plan_visit([cond], Customer("c1", "key", "gold", 0.3), risk_index=55.0, now=0.0)
>>> plan.window_end < plan.predicted_failure_at
True
>>> plan.fits_sla, plan.priority
(True, 'P2')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from predictor.models import Health
from predictor.risk import SLA_RESPONSE_HOURS, saturate

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PlannerPolicy:
    open_probability: float = 0.6  # recommend when failure probability reaches this …
    horizon_hours: float = 14 * 24.0  # … and failure is predicted within this horizon
    cancel_probability: float = 0.2  # an untouched recommendation is cancelled below this
    default_ttf_hours: float = 72.0  # when the trend gives no estimate yet
    margin: float = 0.8  # the window closes at this share of the time left before failure
    min_window_hours: float = 1.0
    dismiss_cooldown_hours: float = 72.0
    no_fault_cooldown_hours: float = 48.0
    repair_cooldown_hours: float = 12.0
    expiry_grace_hours: float = 6.0


@dataclass(frozen=True, slots=True)
class AssetCondition:
    asset_id: str
    site: str | None
    failure_probability: float
    anomaly_score: float
    ttf_hours: float | None
    ttf_low_hours: float | None
    criticality: int
    safety_critical: bool
    repeat_faults: int
    top_sensors: tuple[str, ...] = ()


class _AssetLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def criticality(self) -> int: ...
    @property
    def safety_critical(self) -> bool: ...


def condition(asset: _AssetLike, health: Health, repeat_faults: int = 0) -> AssetCondition:
    """What the planner needs to know of an asset, from its registry entry and latest health."""
    return AssetCondition(
        asset.id,
        asset.site,
        health.failure_probability,
        health.anomaly_score,
        health.ttf_hours,
        health.ttf_low_hours,
        asset.criticality,
        asset.safety_critical,
        repeat_faults,
        health.top_sensors,
    )


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    segment: str
    sla_tier: str
    visit_sensitivity: float


@dataclass(frozen=True, slots=True)
class VisitPlan:
    asset_ids: tuple[str, ...]
    site: str | None
    priority: str
    priority_score: float
    predicted_failure_at: float
    confidence: float
    window_start: float
    window_end: float
    sla_due_at: float
    fits_sla: bool
    reason: dict[str, Any] = field(default_factory=dict)


SEGMENT_VALUE = {"key": 1.0, "enterprise": 0.9, "standard": 0.5, "smb": 0.3}
PRIORITY_WEIGHTS = {
    "safety": 0.15,
    "frequency": 0.1,
    "scale": 0.1,
    "urgency": 0.3,
    "segment": 0.1,
    "prevention": 0.25,
}
PRIORITY_CUTS = ((0.55, "P1"), (0.4, "P2"), (0.25, "P3"))


def needs_visit(cond: AssetCondition, policy: PlannerPolicy = PlannerPolicy()) -> bool:
    if cond.failure_probability < policy.open_probability:
        return False
    ttf = cond.ttf_hours if cond.ttf_hours is not None else policy.default_ttf_hours
    return ttf <= policy.horizon_hours


def priority_of(score: float) -> str:
    for cut, name in PRIORITY_CUTS:
        if score >= cut:
            return name
    return "P4"


def priority_score(
    conds: Sequence[AssetCondition], customer: Customer, ttf_hours: float
) -> tuple[float, dict[str, float]]:
    parts = {
        "safety": 1.0 if any(c.safety_critical for c in conds) else 0.0,
        "frequency": saturate(sum(c.repeat_faults for c in conds), 1.5),
        "scale": saturate(len(conds) - 1, 2.0),
        "urgency": math.exp(-max(ttf_hours, 0.0) / 48.0),
        "segment": SEGMENT_VALUE.get(customer.segment, 0.5),
        "prevention": max(c.failure_probability * min(max(c.criticality, 1), 5) / 5.0 for c in conds),
    }
    return sum(PRIORITY_WEIGHTS[k] * v for k, v in parts.items()), parts


def plan_visit(
    conds: Sequence[AssetCondition],
    customer: Customer,
    risk_index: float,
    now: float,
    policy: PlannerPolicy = PlannerPolicy(),
) -> VisitPlan:
    """A visit for the at-risk assets of one site; its window always ends before the failure."""
    if not conds:
        raise ValueError("a visit needs at least one asset")
    ttf = min(c.ttf_hours if c.ttf_hours is not None else policy.default_ttf_hours for c in conds)
    ttf_low = min((c.ttf_low_hours for c in conds if c.ttf_low_hours is not None), default=ttf)
    ttf = max(ttf, 1e-3)
    predicted_failure_at = now + ttf * HOUR
    safe_hours = max(min(ttf_low, ttf) * policy.margin, policy.min_window_hours)
    window_end = min(now + safe_hours * HOUR, now + ttf * HOUR * 0.95)
    sla_due_at = now + SLA_RESPONSE_HOURS.get(customer.sla_tier, 24.0) * HOUR
    score, parts = priority_score(conds, customer, ttf)
    fits = sla_due_at <= window_end
    priority = priority_of(score)
    if not fits and priority in ("P3", "P4"):
        priority = "P2"  # the SLA cannot be met unless the visit is expedited
    top = sorted({s for c in conds for s in c.top_sensors})
    return VisitPlan(
        asset_ids=tuple(sorted(c.asset_id for c in conds)),
        site=conds[0].site,
        priority=priority,
        priority_score=score,
        predicted_failure_at=predicted_failure_at,
        confidence=max(c.failure_probability for c in conds),
        window_start=now,
        window_end=window_end,
        sla_due_at=sla_due_at,
        fits_sla=fits,
        reason={
            "signals": {
                c.asset_id: {
                    "failure_probability": round(c.failure_probability, 3),
                    "anomaly_score": round(c.anomaly_score, 3),
                    "ttf_hours": round(c.ttf_hours, 1) if c.ttf_hours is not None else None,
                }
                for c in conds
            },
            "top_sensors": top,
            "priority_factors": {k: round(v, 3) for k, v in parts.items()},
            "risk_index": round(risk_index, 1),
        },
    )


def escalates(current_priority: str, current_window_end: float, plan: VisitPlan) -> bool:
    """An update is worth sending when priority rises or the window must close sooner."""
    return plan.priority < current_priority or plan.window_end < current_window_end - HOUR


def should_cancel(conds: Sequence[AssetCondition], policy: PlannerPolicy = PlannerPolicy()) -> bool:
    return all(c.failure_probability < policy.cancel_probability for c in conds)


def expired(window_end: float, now: float, policy: PlannerPolicy = PlannerPolicy()) -> bool:
    return now > window_end + policy.expiry_grace_hours * HOUR

"""The drivers of a customer's experience, and the fixed index they made until issue 26 (ARCHITECTURE §6).

``evidence`` turns what happened to a customer into one number per driver, in [0, 1]: 0 for no
evidence, growing monotonically with it (more outages, worse surveys, nearer failures) and
saturating. The Experience index (``predictor.experience``) is learnt on these.

``score`` is the fixed index: each driver adds up to its weight in points, scaled by the
customer's segment and SLA tier ("selects"); the raw sum is mapped onto 0–100 by a saturating
curve and the contributions are scaled by the same factor, so they add up to the index. Its
weights are the learned index's prior; the backtests compare the learned index with it.

>>> factors = CustomerFactors(segment="key", sla_tier="gold", visit_sensitivity=0.2, outages=2)
>>> result = score([AssetRisk("p1", 0.9, 12.0, 5, False)], factors)
>>> round(sum(result.contributions.values()), 6) == round(result.index, 6)
True
>>> result.contributions["predicted_disruption"] > result.contributions["outages"] > 0
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from forestall.vocab import service_level

# Maximum points per contribution before segment/tier scaling (the learned index: its prior).
DEFAULT_WEIGHTS: dict[str, float] = {
    "predicted_disruption": 35.0,
    "outages": 15.0,
    "supply_interruptions": 8.0,
    "resolution_time": 8.0,
    "request_duration": 5.0,
    "escalations": 10.0,
    "billing_errors": 6.0,
    "csat": 8.0,
    "nps": 8.0,
    "ces": 6.0,
    "visit_sensitivity": 6.0,
    "repeat_faults": 6.0,
}

SEGMENT_FACTOR = {"key": 1.2, "enterprise": 1.15, "standard": 1.0, "smb": 0.9}
TIER_FACTOR = {"platinum": 1.15, "gold": 1.1, "silver": 1.0, "bronze": 0.9}


# Raw points at which the index reaches ~63 (1 - 1/e); keeps 0–100 without a hard cap.
INDEX_SCALE = 60.0
# A failure predicted this many hours away counts about 37 % as much as an imminent one.
NEARNESS_HOURS = 72.0


@dataclass(frozen=True, slots=True)
class AssetRisk:
    asset_id: str
    failure_probability: float
    ttf_hours: float | None
    criticality: int
    safety_critical: bool


@dataclass(frozen=True, slots=True)
class CustomerFactors:
    """What the customer's recent history says (counts and scores within the risk window)."""

    segment: str = "standard"
    sla_tier: str = "silver"
    visit_sensitivity: float = 0.5
    outages: int = 0
    supply_interruptions: int = 0
    escalations: int = 0
    billing_errors: int = 0
    resolution_hours: tuple[float, ...] = ()
    request_minutes: tuple[float, ...] = ()
    csat: tuple[float, ...] = ()
    nps: tuple[float, ...] = ()
    ces: tuple[float, ...] = ()
    upcoming_visits: int = 0
    repeat_faults: int = 0


@dataclass(frozen=True, slots=True)
class RiskResult:
    index: float
    contributions: dict[str, float] = field(default_factory=dict)


def saturate(amount: float, scale: float) -> float:
    """0 for no evidence, approaching 1 as evidence grows; monotone in ``amount``."""
    return 1.0 - math.exp(-max(amount, 0.0) / scale)


def nearness(ttf_hours: float | None) -> float:
    """1 for an imminent failure, falling with time to failure; 0.5 when no estimate exists."""
    if ttf_hours is None:
        return 0.5
    return math.exp(-max(ttf_hours, 0.0) / NEARNESS_HOURS)


def disruption(assets: Sequence[AssetRisk]) -> float:
    """Probability-like chance that at least one asset disrupts the customer soon."""
    survive = 1.0
    for asset in assets:
        weight = min(max(asset.criticality, 1), 5) / 5.0
        if asset.safety_critical:
            weight = 1.0
        p = min(max(asset.failure_probability, 0.0), 1.0) * nearness(asset.ttf_hours) * weight
        survive *= 1.0 - p
    return 1.0 - survive


def evidence(assets: Sequence[AssetRisk], f: CustomerFactors) -> dict[str, float]:
    """Each driver's evidence in [0, 1], never lower for more of what drives it."""
    level = service_level(f.sla_tier)
    resolution_target, request_target = level.resolution_hours, level.request_minutes
    return {
        "predicted_disruption": disruption(assets),
        "outages": saturate(f.outages, 2.0),
        "supply_interruptions": saturate(f.supply_interruptions, 2.0),
        "resolution_time": saturate(
            sum(max(h / resolution_target - 1.0, 0.0) for h in f.resolution_hours), 1.0
        ),
        "request_duration": saturate(sum(max(m / request_target - 1.0, 0.0) for m in f.request_minutes), 1.0),
        "escalations": saturate(f.escalations, 1.5),
        "billing_errors": saturate(f.billing_errors, 1.5),
        # Survey badness: each survey adds how far it is from the best score (good ones add 0).
        "csat": saturate(sum((5.0 - min(max(s, 1.0), 5.0)) / 4.0 for s in f.csat), 1.5),
        "nps": saturate(sum((7.0 - min(max(s, 0.0), 10.0)) / 7.0 for s in f.nps if s <= 6.0), 1.5),
        "ces": saturate(sum((min(max(s, 1.0), 7.0) - 3.0) / 4.0 for s in f.ces if s > 3.0), 1.5),
        "visit_sensitivity": min(max(f.visit_sensitivity, 0.0), 1.0) * saturate(f.upcoming_visits, 2.0),
        "repeat_faults": saturate(f.repeat_faults, 1.5),
    }


def score(
    assets: Sequence[AssetRisk],
    factors: CustomerFactors,
    weights: Mapping[str, float] | None = None,
) -> RiskResult:
    """The customer's fixed index and its contributions."""
    return fixed_index(evidence(assets, factors), factors.segment, factors.sla_tier, weights)


def fixed_index(
    drivers: Mapping[str, float], segment: str, sla_tier: str, weights: Mapping[str, float] | None = None
) -> RiskResult:
    """The fixed index of the drivers' evidence (``evidence``), e.g. of a stored customer-day.

    >>> key, smb = (fixed_index({"outages": 0.5}, s, "silver").index for s in ("key", "smb"))
    >>> key > smb > 0  # a key account weighs more
    True
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    factor = SEGMENT_FACTOR.get(segment, 1.0) * TIER_FACTOR.get(sla_tier, 1.0)
    raw = {
        name: max(w[name], 0.0) * min(max(drivers.get(name, 0.0), 0.0), 1.0) * factor
        for name in DEFAULT_WEIGHTS
    }
    total = sum(raw.values())
    if total <= 0.0:
        return RiskResult(0.0, {name: 0.0 for name in raw})
    index = 100.0 * (1.0 - math.exp(-total / INDEX_SCALE))
    scale = index / total
    return RiskResult(index, {name: value * scale for name, value in raw.items()})


def crossed(previous: float | None, current: float, threshold: float) -> bool:
    """Whether the index moved across ``threshold`` (either way) since ``previous``."""
    if previous is None:
        return current >= threshold
    return (previous < threshold) != (current < threshold)

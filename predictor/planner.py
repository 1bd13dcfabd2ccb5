"""Visit planning (ARCHITECTURE §6): when to recommend a visit, its window, SLA fit and priority.

Pure functions of asset conditions, the customer and event time ``now``. ``decide`` is the one
visit policy: the worker applies its actions to the state DB (``visits``) and the backtests
apply them to their simulated worlds, so every figure they print measures this code.

>>> cond = AssetCondition("p1", "site-a", 0.8, 0.7, 30.0, 20.0, 4, False, 0, ("vibration_mm_s",))
>>> plan = plan_visit([cond], Customer("c1", "key", "gold", 0.3), risk_index=55.0, now=0.0)
>>> plan.window_end < plan.predicted_failure_at
True
>>> plan.fits_sla, plan.priority
(True, 'P2')
>>> [type(a).__name__ for a in decide({"p1": cond}, [], [], Customer("c1", "key", "gold", 0.3), 55.0, 0.0)]
['Open']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from forestall.vocab import DEFAULT_KIND, service_level
from predictor.models import Health
from predictor.risk import saturate
from predictor.sensor_faults import SensorFault

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PlannerPolicy:
    open_probability: float = 0.7  # recommend when failure within the models' horizon is this likely
    cancel_probability: float = 0.1  # an untouched recommendation is cancelled below this
    default_ttf_hours: float = (
        48.0  # no time to failure yet: the models' horizon (failure is likely within it)
    )
    margin: float = 0.8  # the window closes at this share of the time left before failure
    min_window_hours: float = 1.0
    dismiss_cooldown_hours: float = 72.0
    no_fault_cooldown_hours: float = 48.0
    repair_cooldown_hours: float = 12.0
    overdue_memory_hours: float = 72.0  # how long a lapsed, outlived prediction raises the bar (_overdue)
    expiry_grace_hours: float = 6.0
    fresh_hours: float = 1.0  # a new recommendation rests on health at most this old (event time)
    sensor_window_hours: float = 72.0  # a sensor check is due within this
    sensor_cooldown_hours: float = 24.0  # after a sensor check ended, its channel waits this long


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
    evidence: Mapping[str, float] = field(default_factory=dict)
    failed: bool = False  # the asset has failed and awaits its repair
    failed_at: float | None = None  # its latest failure (a recommendation older than that is moot)
    at: float | None = None  # event time of the health this rests on
    alerts: tuple[str, ...] = ()  # Grafana alerts firing on it (``alerts``)
    sensor_faults: tuple[SensorFault, ...] = ()  # its channels that misread now


class _AssetLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def criticality(self) -> int: ...
    @property
    def safety_critical(self) -> bool: ...


def condition(
    asset: _AssetLike,
    health: Health,
    repeat_faults: int = 0,
    failed: bool = False,
    failed_at: float | None = None,
    alerts: tuple[str, ...] = (),
) -> AssetCondition:
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
        health.evidence,
        failed,
        failed_at,
        health.at,
        alerts,
        health.sensor_faults,
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
    predicted_failure_at: float | None  # None for a sensor check: it foresees no failure
    confidence: float  # of the failure, or for a sensor check of the sensor fault
    window_start: float
    window_end: float
    sla_due_at: float
    fits_sla: bool
    reason: dict[str, Any] = field(default_factory=dict)
    kind: str = DEFAULT_KIND  # forestall.vocab.RECOMMENDATION_KINDS
    channel: str | None = None  # the sensor a sensor check is for


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
ALERT_PRIORITY = "P2"  # a visit for an asset a Grafana alert fires on is at least this urgent


def needs_visit(
    cond: AssetCondition, policy: PlannerPolicy = PlannerPolicy(), now: float | None = None
) -> bool:
    """A visit is due when failure within the models' horizon has become likely enough, or a
    Grafana alert fires on the asset (someone decided that this signal needs a technician).

    Only on fresh health: an asset that stopped reporting (it may have failed) keeps its last
    health, which says nothing new.
    """
    if cond.failed:
        return False
    if cond.alerts:
        return True
    if cond.failure_probability < policy.open_probability:
        return False
    return now is None or cond.at is None or now - cond.at <= policy.fresh_hours * HOUR


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
    # Before the band's low end, but not a sliver: a wide band would make windows lapse while
    # the failure is still days away (and the recommendation be opened again and again).
    safe_hours = max(min(max(ttf_low, 0.5 * ttf), ttf) * policy.margin, policy.min_window_hours)
    window_end = min(now + safe_hours * HOUR, now + ttf * HOUR * 0.95)
    sla_due_at = now + service_level(customer.sla_tier).response_hours * HOUR
    score, parts = priority_score(conds, customer, ttf)
    fits = sla_due_at <= window_end
    priority = priority_of(score)
    if not fits and priority in ("P3", "P4"):
        priority = "P2"  # the SLA cannot be met unless the visit is expedited
    alerts = sorted({name for c in conds for name in c.alerts})
    if alerts:
        priority = min(priority, ALERT_PRIORITY)
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
                    "evidence": dict(c.evidence),
                }
                for c in conds
            },
            "top_sensors": top,
            "priority_factors": {k: round(v, 3) for k, v in parts.items()},
            "risk_index": round(risk_index, 1),
            **({"alerts": alerts} if alerts else {}),
        },
    )


def escalates(current_priority: str, current_window_end: float, plan: VisitPlan) -> bool:
    """An update is worth sending when priority rises or the window must close sooner."""
    return plan.priority < current_priority or plan.window_end < current_window_end - HOUR


def should_cancel(conds: Sequence[AssetCondition], policy: PlannerPolicy = PlannerPolicy()) -> bool:
    return all(c.failure_probability < policy.cancel_probability and not c.alerts for c in conds)


# -- the one visit policy --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenVisit:
    """A recommendation that is still open (``open``, ``accepted`` or ``scheduled``)."""

    id: str
    asset_ids: tuple[str, ...]
    status: str
    priority: str
    window_start: float
    window_end: float
    from_models: bool = True  # opened by this policy (models or Grafana alert), not by hand
    kind: str = DEFAULT_KIND
    channel: str | None = None  # the sensor a sensor check is for


@dataclass(frozen=True, slots=True)
class ClosedVisit:
    """A recommendation that ended: the planner keeps away from its assets for a while."""

    asset_ids: tuple[str, ...]
    status: str  # dismissed, completed, expired, cancelled
    closed_at: float
    fault_found: bool | None = None
    confidence: float | None = None  # the failure probability of its latest revision (its assets' highest)
    predicted_failure_at: float | None = None
    opened_at: float | None = None
    kind: str = DEFAULT_KIND
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Open:
    plan: VisitPlan


@dataclass(frozen=True, slots=True)
class Revise:
    """Escalate an open recommendation: a higher priority or a window that must close sooner."""

    visit_id: str
    plan: VisitPlan
    priority: str
    window_end: float


@dataclass(frozen=True, slots=True)
class Close:
    """Cancel an untouched recommendation: the risk is gone, or the asset failed before the visit."""

    visit_id: str
    reason: str  # risk_gone | asset_failed | sensor_ok


Action = Open | Revise | Close


def cooling_down(
    closed: Iterable[ClosedVisit], now: float, policy: PlannerPolicy = PlannerPolicy()
) -> set[str]:
    """Assets whose last recommendation closed recently enough that a new one would nag."""
    cooling: set[str] = set()
    for visit in closed:
        if visit.status == "dismissed":
            hours = policy.dismiss_cooldown_hours
        elif visit.status == "completed":
            hours = policy.repair_cooldown_hours if visit.fault_found else policy.no_fault_cooldown_hours
        else:
            continue
        if visit.closed_at >= now - hours * HOUR:
            cooling.update(visit.asset_ids)
    return cooling


def _last_closed(closed: Iterable[ClosedVisit]) -> dict[str, float]:
    last: dict[str, float] = {}
    for visit in closed:
        for asset in visit.asset_ids:
            last[asset] = max(last.get(asset, visit.closed_at), visit.closed_at)
    return last


def cooldown_hours(policy: PlannerPolicy = PlannerPolicy()) -> float:
    """How far back closed recommendations can still cool an asset down."""
    return max(
        policy.dismiss_cooldown_hours,
        policy.no_fault_cooldown_hours,
        policy.repair_cooldown_hours,
        policy.overdue_memory_hours,
    )


def decide(
    conditions: Mapping[str, AssetCondition],
    open_visits: Sequence[OpenVisit],
    closed_visits: Sequence[ClosedVisit],
    customer: Customer,
    risk_index: float,
    now: float,
    policy: PlannerPolicy = PlannerPolicy(),
) -> list[Action]:
    """What to do about one customer's assets now: open, revise or close recommendations.

    One open recommendation per asset (updates escalate, never duplicate); the at-risk assets
    of one site are bundled into one visit; assets cooling down after a dismissal or a visit
    are left alone, and a recommendation that ended is only succeeded on health newer than its
    end; an untouched recommendation is cancelled when its risk is gone or its assets failed
    before anyone came. ``closed_visits``: the recommendations that ended recently.

    Sensor checks (``sensor_actions``) are decided apart: they never block, replace or raise a
    failure visit, and failure visits never hold one back.
    """
    sensor_open = [v for v in open_visits if v.kind == "sensor_check"]
    sensor_closed = [v for v in closed_visits if v.kind == "sensor_check"]
    open_visits = [v for v in open_visits if v.kind != "sensor_check"]
    closed_visits = [v for v in closed_visits if v.kind != "sensor_check"]
    cooling = cooling_down(closed_visits, now, policy)
    ended = _last_closed(closed_visits)
    overdue = _overdue(closed_visits, conditions, now, policy)
    actions: list[Action] = []
    covered = {a for visit in open_visits for a in visit.asset_ids}
    for visit in open_visits:
        mine = [conditions[a] for a in visit.asset_ids if a in conditions]
        if not visit.from_models or not mine:
            continue
        if visit.status == "open" and all(_failed_since(c, visit.window_start) for c in mine):
            actions.append(Close(visit.id, "asset_failed"))
            continue
        alive = [c for c in mine if not c.failed]
        if visit.status == "open" and should_cancel(alive, policy):
            actions.append(Close(visit.id, "risk_gone"))
            continue
        if not alive:  # accepted or scheduled, and its assets are down: someone is on the way
            continue
        plan = plan_visit(alive, customer, risk_index, now, policy)
        if escalates(visit.priority, visit.window_end, plan):
            window_end = max(min(visit.window_end, plan.window_end), visit.window_start)
            actions.append(Revise(visit.id, plan, min(visit.priority, plan.priority), window_end))
    at_risk = [
        c
        for a, c in conditions.items()
        if a not in covered
        and a not in cooling
        and needs_visit(c, policy, now)
        and (a not in ended or c.at is None or c.at > ended[a])
        and (c.alerts or c.failure_probability > overdue.get(a, -1.0))
    ]
    by_site: dict[str | None, list[AssetCondition]] = {}
    for cond in at_risk:
        by_site.setdefault(cond.site, []).append(cond)
    actions.extend(Open(plan_visit(conds, customer, risk_index, now, policy)) for conds in by_site.values())
    actions.extend(sensor_actions(conditions, sensor_open, sensor_closed, customer, risk_index, now, policy))
    return actions


def sensor_actions(
    conditions: Mapping[str, AssetCondition],
    open_checks: Sequence[OpenVisit],
    closed_checks: Sequence[ClosedVisit],
    customer: Customer,
    risk_index: float,
    now: float,
    policy: PlannerPolicy = PlannerPolicy(),
) -> list[Action]:
    """Sensor checks: one per faulty channel of an asset, closed untouched when the channel
    behaves again (``sensor_ok``); a channel whose check ended recently waits
    ``sensor_cooldown_hours`` (a repair needs time to show)."""
    actions: list[Action] = []
    checked = {(a, v.channel) for v in open_checks for a in v.asset_ids}
    since = now - policy.sensor_cooldown_hours * HOUR
    recent = {(a, v.channel) for v in closed_checks if v.closed_at >= since for a in v.asset_ids}
    for visit in open_checks:
        faults = [
            f
            for a in visit.asset_ids
            if a in conditions
            for f in conditions[a].sensor_faults
            if f.channel == visit.channel
        ]
        if visit.status == "open" and visit.from_models and not faults and visit.asset_ids[0] in conditions:
            actions.append(Close(visit.id, "sensor_ok"))
    for asset_id, cond in conditions.items():
        for fault in cond.sensor_faults:
            key = (asset_id, fault.channel)
            if key not in checked and key not in recent and not cond.failed:
                actions.append(Open(plan_sensor_check(cond, fault, customer, risk_index, now, policy)))
    return actions


def plan_sensor_check(
    cond: AssetCondition,
    fault: SensorFault,
    customer: Customer,
    risk_index: float,
    now: float,
    policy: PlannerPolicy = PlannerPolicy(),
) -> VisitPlan:
    """A technician to check one channel of one asset: no failure foreseen, so no urgency; the
    window is ``sensor_window_hours`` (or the SLA's response time, when longer)."""
    sla_due_at = now + service_level(customer.sla_tier).response_hours * HOUR
    window_end = max(now + policy.sensor_window_hours * HOUR, sla_due_at)
    score = 0.2 * fault.confidence * min(max(cond.criticality, 1), 5) / 5.0
    return VisitPlan(
        asset_ids=(cond.asset_id,),
        site=cond.site,
        priority="P4",
        priority_score=score,
        predicted_failure_at=None,
        confidence=fault.confidence,
        window_start=now,
        window_end=window_end,
        sla_due_at=sla_due_at,
        fits_sla=True,
        reason={
            "summary": f"sensor check: {fault.channel} {fault.kind}",
            "sensor": {
                "channel": fault.channel,
                "fault": fault.kind,
                "onset": fault.onset,
                "confidence": fault.confidence,
            },
            "top_sensors": [fault.channel],
            "risk_index": round(risk_index, 1),
        },
        kind="sensor_check",
        channel=fault.channel,
    )


def _overdue(
    closed: Iterable[ClosedVisit], conditions: Mapping[str, AssetCondition], now: float, policy: PlannerPolicy
) -> dict[str, float]:
    """Per asset, the highest confidence of its recommendations that lapsed in the last
    ``overdue_memory_hours`` although the failure they foresaw is past: the asset outlived that
    prediction, so a successor needs more evidence than it had (or a new alert), not the same
    evidence again every few hours. An asset that failed after such a recommendation opened did
    not outlive it (the failure came, only later than foreseen): its new life starts with the
    usual bar, or a short-lived machine's next failure went unannounced."""
    since = now - policy.overdue_memory_hours * HOUR
    overdue: dict[str, float] = {}
    for visit in closed:
        if visit.status != "expired" or visit.confidence is None or visit.predicted_failure_at is None:
            continue
        if visit.closed_at >= since and visit.predicted_failure_at < now:
            opened = visit.opened_at if visit.opened_at is not None else visit.closed_at
            for asset in visit.asset_ids:
                cond = conditions.get(asset)
                if cond is not None and cond.failed_at is not None and cond.failed_at >= opened:
                    continue
                overdue[asset] = max(overdue.get(asset, 0.0), visit.confidence)
    return overdue


def lapse_cutoff(now: float, policy: PlannerPolicy = PlannerPolicy()) -> float:
    """A recommendation whose window ended before this has lapsed (nobody came in time)."""
    return now - policy.expiry_grace_hours * HOUR


def _failed_since(cond: AssetCondition, since: float) -> bool:
    return cond.failed or (cond.failed_at is not None and cond.failed_at >= since)

"""``forestall backtest sim``: the simulated fleet with ground truth, through the live predictor code.

Three maintenance policies run on identical seeded worlds: Forestall (the per-asset models
and the visit planner), calendar maintenance every N days (N set so it makes about as many
visits) and static thresholds on raw sensors. A fault episode counts as *caught* when a visit
was recommended with a lead time (ground-truth failure time minus recommendation time) inside
the useful window: from the customer's SLA response time up to 14 days.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from predictor import planner
from predictor.engine import Predictor
from predictor.risk import SLA_RESPONSE_HOURS
from simulators.world import FleetSpec, VisitRequest, World

HOUR = 3600.0
DAY = 24 * HOUR
TRAVEL_S = 1.5 * HOUR  # recommendation to technician on site
CORRECTIVE_DELAY_S = 3 * HOUR
USEFUL_MAX_S = 14 * DAY


@dataclass(slots=True)
class PolicyResult:
    name: str
    recommendations: int = 0
    caught: int = 0  # episodes with a recommendation whose lead time was useful
    lead_hours: list[float] = field(default_factory=list)
    episodes: int = 0
    failures_occurred: int = 0
    failures_prevented: int = 0
    false_visits: int = 0
    visits_completed: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "recommendations": self.recommendations,
            "fault_episodes": self.episodes,
            "useful_recommendation_share": round(self.caught / self.episodes, 4) if self.episodes else None,
            "median_lead_hours": round(statistics.median(self.lead_hours), 1) if self.lead_hours else None,
            "failures_occurred": self.failures_occurred,
            "failures_prevented": self.failures_prevented,
            "prevented_share": _share(
                self.failures_prevented, self.failures_prevented + self.failures_occurred
            ),
            "false_visits": self.false_visits,
            "false_visit_share": _share(self.false_visits, self.visits_completed),
            "visits_completed": self.visits_completed,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# A policy looks at one asset's reading and says whether to send a technician now.
Decide = Callable[[str, str, float, dict[str, float]], bool]


class Run:
    """One policy over one world: visits, failures, repairs and the ground-truth bookkeeping."""

    def __init__(self, spec: FleetSpec, name: str) -> None:
        self.world = World(spec, start=0.0)
        self.result = PolicyResult(name)
        self.visits: list[tuple[float, str, str]] = []  # (at, asset, kind)
        self.busy: set[str] = set()
        self.counted_onsets: set[tuple[str, float]] = set()
        tiers = {c.id: c.sla_tier for c in self.world.customers}
        self.sla = {
            a.id: SLA_RESPONSE_HOURS.get(tiers[a.customer_id], 24.0) * HOUR for a in self.world.assets
        }

    def recommend(self, asset: str, t: float) -> None:
        equipment = self.world.equipment[asset]
        self.result.recommendations += 1
        self.busy.add(asset)
        self.visits.append((t + TRAVEL_S, asset, "preventive"))
        onset, failure_at = equipment.onset_at, equipment.next_failure_at
        if (
            onset is not None
            and onset <= t
            and failure_at is not None
            and (asset, onset) not in self.counted_onsets
        ):
            self.counted_onsets.add((asset, onset))
            lead = failure_at - t
            if self._sla_s(asset) <= lead <= USEFUL_MAX_S:
                self.result.caught += 1
                self.result.lead_hours.append(lead / HOUR)

    def _sla_s(self, asset: str) -> float:
        return self.sla.get(asset, 24.0 * HOUR)

    def step(self, t: float, on_label: Callable[[str, str, float], None] | None = None) -> None:
        for event in self.world.advance(t):
            self.visits.append((event.at + CORRECTIVE_DELAY_S, event.asset_id, "corrective"))
            if on_label:
                on_label(event.asset_id, "failure", event.at)
        due = [v for v in self.visits if v[0] <= t]
        self.visits = [v for v in self.visits if v[0] > t]
        for at, asset, kind in due:
            report = self.world.perform_visit(VisitRequest(asset, f"{asset}-{at}", None, at, kind))
            if kind == "preventive":
                self.busy.discard(asset)
            if on_label:
                label = "repair" if kind == "corrective" else ("fault" if report.fault_found else "no_fault")
                on_label(asset, label, at)

    def finish(self) -> PolicyResult:
        m = self.world.metrics
        r = self.result
        r.failures_occurred, r.failures_prevented = m.failures_occurred, m.failures_prevented
        r.false_visits, r.visits_completed = m.false_visits, m.visits_completed
        r.episodes = r.failures_occurred + r.failures_prevented
        return r


def run_forestall(spec: FleetSpec, hours: float) -> PolicyResult:
    run = Run(spec, "forestall")
    predictor = Predictor()
    types = {a.id: a.asset_type for a in run.world.assets}
    policy = planner.PlannerPolicy()
    cooldown: dict[str, float] = {}

    def label(asset: str, kind: str, at: float) -> None:
        predictor.label(spec.tenant, asset, types[asset], kind, at)
        if kind in ("fault", "no_fault"):
            hours_ = policy.repair_cooldown_hours if kind == "fault" else policy.no_fault_cooldown_hours
            cooldown[asset] = at + hours_ * HOUR

    t = 0.0
    while t < hours * HOUR:
        run.step(t, label)
        for asset in run.world.assets:
            machine = run.world.equipment[asset.id]
            health = predictor.observe(spec.tenant, asset.id, asset.asset_type, t, machine.read(t))
            cond = planner.condition(asset, health)
            if (
                asset.id not in run.busy
                and cooldown.get(asset.id, -1.0) < t
                and not machine.failed
                and planner.needs_visit(cond, policy)
            ):
                run.recommend(asset.id, t)
        t += spec.sample_interval_s
    return run.finish()


def run_calendar(spec: FleetSpec, hours: float, visits_target: int) -> PolicyResult:
    """Visit every asset every N days, staggered, with N chosen to make about ``visits_target`` visits."""
    run = Run(spec, "calendar")
    n_assets = len(run.world.assets)
    per_asset = max(visits_target / n_assets, 1e-9)
    period = max(hours * HOUR / per_asset, spec.sample_interval_s)
    offsets = {a.id: (i / n_assets) * period for i, a in enumerate(run.world.assets)}
    next_visit = dict(offsets)
    t = 0.0
    while t < hours * HOUR:
        run.step(t)
        for asset in run.world.assets:
            if t >= next_visit[asset.id]:
                next_visit[asset.id] += period
                if not run.world.equipment[asset.id].failed:
                    run.recommend(asset.id, t)
        t += spec.sample_interval_s
    result = run.finish()
    result.name = f"calendar every {period / DAY:.1f} days"
    return result


def run_thresholds(
    spec: FleetSpec, hours: float, sigmas: float = 4.0, learn_hours: float = 24.0
) -> PolicyResult:
    """Static limits per equipment type and sensor (mean ± k·std of the first day), 3 readings in a row."""
    run = Run(spec, "static thresholds")
    stats: dict[tuple[str, str], list[float]] = {}
    limits: dict[tuple[str, str], tuple[float, float]] = {}
    streak: dict[str, int] = {}
    t = 0.0
    while t < hours * HOUR:
        run.step(t)
        for asset in run.world.assets:
            machine = run.world.equipment[asset.id]
            reading = machine.read(t)
            if t < learn_hours * HOUR:
                for name, value in reading.items():
                    stats.setdefault((asset.asset_type, name), []).append(value)
                continue
            if not limits:
                limits = {k: _limits(v, sigmas) for k, v in stats.items()}
            out = any(
                not (lo <= v <= hi)
                for n, v in reading.items()
                for lo, hi in [limits.get((asset.asset_type, n), (-1e300, 1e300))]
            )
            streak[asset.id] = streak.get(asset.id, 0) + 1 if out else 0
            if streak[asset.id] >= 3 and asset.id not in run.busy and not machine.failed:
                streak[asset.id] = 0
                run.recommend(asset.id, t)
        t += spec.sample_interval_s
    return run.finish()


def _limits(values: list[float], sigmas: float) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) or abs(mean) * 0.01 or 1e-3
    return mean - sigmas * std, mean + sigmas * std


def backtest_sim(assets: int, days: float, seed: int) -> dict[str, Any]:
    spec = FleetSpec(tenant="backtest", assets=assets, customers=max(assets // 5, 1), seed=seed)
    hours = days * 24.0
    forestall = run_forestall(spec, hours)
    calendar = run_calendar(spec, hours, visits_target=max(forestall.recommendations, 1))
    thresholds = run_thresholds(spec, hours)
    return {
        "backtest": "sim",
        "assets": assets,
        "days": days,
        "seed": seed,
        **forestall.summary(),
        "baselines": {calendar.name: calendar.summary(), thresholds.name: thresholds.summary()},
    }

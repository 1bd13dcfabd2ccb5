"""``forestall backtest sim``: the simulated fleet with ground truth, through the live predictor and planner.

Three maintenance policies run on identical seeded worlds: Forestall (the per-asset models
and ``planner.decide``, the visit policy the worker applies, here applied to the simulated
world), calendar maintenance every N days (N set so it makes as many visits) and static
thresholds on raw sensors (their width chosen on *another* seed). A fault episode counts as
*caught* when a visit was recommended after the fault's onset and at least ``USEFUL_MIN_S``
before the machine would have failed, and as caught *timely* when that was also at most
``LEAD_MAX_H`` before it (the fleet backtest's lead window: earlier, a part is changed with
much of its life left).

The world is the harder one by default (``simulators.operating``: load setpoints, idle spells,
a season, load-dependent noise and faults, a ``load_pct`` channel); where machines report their
load, the static limits are learnt and applied only on running machines past their first hour,
as state-based alarms are set up.

Forestall *beats* a baseline (``beats``) when it is no worse on the share of episodes caught
and on the share of false visits, and ahead on at least one of them or on the timely share.

With ``sensor_faults`` (a tenth by default) a share of the assets gets a broken sensor (stuck,
spiking, dropping out or drifting; ``simulators.world``). Forestall's sensor checks send a
technician who repairs the sensor (``sensor_checks``, ``sensor_repairs``: apart from the
preventive and false visits);
``sensor_faults_flagged_24h_share`` is the share of broken sensors whose channel the models
flagged within 24 h of the onset (of those whose 24 h ended within the run), and
``sensor_only_visit_share`` the share of failure visits that went to an asset whose only
problem was a sensor.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from predictor import planner
from predictor.engine import Predictor
from simulators.operating import HARDER, Conditions
from simulators.world import FleetSpec, VisitRequest, World, with_conditions

HOUR = 3600.0
DAY = 24 * HOUR
TRAVEL_S = 1.5 * HOUR  # recommendation to technician on site
CORRECTIVE_DELAY_S = 3 * HOUR
USEFUL_MIN_S = 2 * HOUR
LEAD_MAX_H = 96.0  # the fleet backtest's lead window ends here: a visit opened earlier is "early" there
THRESHOLD_SIGMAS = (3.0, 4.0, 5.0, 6.0, 8.0)
LOAD_CHANNEL = "load_pct"
RUNNING_LOAD_PCT = 5.0  # static limits hold while the machine reports at least this load …
STARTUP_S = HOUR  # … and has run this long since it started (a start-up bypass)


@dataclass(slots=True)
class PolicyResult:
    name: str
    recommendations: int = 0
    caught: int = 0  # episodes with a useful recommendation
    lead_hours: list[float] = field(default_factory=list)
    episodes: int = 0
    failures_occurred: int = 0
    failures_prevented: int = 0
    false_visits: int = 0
    visits_completed: int = 0
    sensor_checks: int = 0
    sensor_repairs: int = 0
    sensor_only_visits: int = 0  # failure visits to an asset whose only problem was a sensor
    sensor_faults: int = 0  # broken sensors whose first 24 h ended within the run
    sensor_faults_flagged: int = 0  # … flagged on their channel within those 24 h
    sensor_faults_by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [flagged, of]
    flags_sensors: bool = False  # the policy judges sensors (the baselines do not)

    def summary(self) -> dict[str, Any]:
        sensors: dict[str, Any] = {
            "sensor_checks": self.sensor_checks,
            "sensor_repairs": self.sensor_repairs,
            "sensor_only_visits": self.sensor_only_visits,
            "sensor_only_visit_share": _share(self.sensor_only_visits, self.visits_completed),
        }
        if self.sensor_faults and self.flags_sensors:
            sensors["sensor_faults"] = self.sensor_faults
            sensors["sensor_faults_flagged_24h_share"] = _share(
                self.sensor_faults_flagged, self.sensor_faults
            )
            sensors["sensor_faults_flagged_24h_by_kind"] = {
                kind: f"{flagged}/{of}" for kind, (flagged, of) in sorted(self.sensor_faults_by_kind.items())
            }
        return {
            "recommendations": self.recommendations,
            "fault_episodes": self.episodes,
            "useful_recommendation_share": _share(self.caught, self.episodes),
            "timely_share": _share(sum(h <= LEAD_MAX_H for h in self.lead_hours), self.episodes),
            "median_lead_hours": round(statistics.median(self.lead_hours), 1) if self.lead_hours else None,
            "useful_beyond_96h_share": _share(
                sum(h > LEAD_MAX_H for h in self.lead_hours), len(self.lead_hours)
            ),
            "failures_occurred": self.failures_occurred,
            "failures_prevented": self.failures_prevented,
            "prevented_share": _share(
                self.failures_prevented, self.failures_prevented + self.failures_occurred
            ),
            "false_visits": self.false_visits,
            "false_visit_share": _share(self.false_visits, self.visits_completed),
            "visits_completed": self.visits_completed,
            **sensors,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


Label = Callable[[str, str, float], None]


class Run:
    """One policy over one world: visits, failures, repairs and the ground-truth bookkeeping."""

    def __init__(self, spec: FleetSpec, name: str) -> None:
        self.world = World(spec, start=0.0)
        self.result = PolicyResult(name)
        self.visits: list[tuple[float, str, str, str | None]] = []  # (at, asset, kind, recommendation)
        self.busy: set[str] = set()
        self.counted_onsets: set[tuple[str, float]] = set()
        self.useful: dict[tuple[str, float], float] = {}  # episode -> lead time of its first recommendation
        self.sensor_defects = dict(self.world.sensor_defects)  # ground truth, kept after a repair
        self.sensor_flagged: dict[str, float] = {}  # asset -> when its broken channel was first flagged

    def recommend(self, asset: str, t: float, recommendation: str | None = None) -> None:
        """A recommendation for ``asset`` at ``t``: a technician arrives ``TRAVEL_S`` later."""
        equipment = self.world.equipment[asset]
        self.result.recommendations += 1
        self.busy.add(asset)
        self.visits.append((t + TRAVEL_S, asset, "preventive", recommendation))
        onset, failure_at = equipment.onset_at, equipment.next_failure_at
        if onset is None or failure_at is None or onset > t or (asset, onset) in self.counted_onsets:
            return
        self.counted_onsets.add((asset, onset))
        lead = failure_at - t
        if lead >= USEFUL_MIN_S:
            self.useful[(asset, onset)] = lead / HOUR

    def sensor_check(self, asset: str, t: float, recommendation: str, channel: str | None) -> None:
        """A sensor check for ``asset``: a technician arrives ``TRAVEL_S`` later and repairs the sensor."""
        del channel  # the technician repairs whichever sensor is broken (the world has one per asset)
        self.visits.append((t + TRAVEL_S, asset, "sensor_check", recommendation))

    def flagged(self, asset: str, channels: Iterable[str], t: float) -> None:
        """The models flag these channels of ``asset`` at ``t`` (for the 24 h share)."""
        defect = self.sensor_defects.get(asset)
        if defect is not None and defect.onset_at <= t and defect.channel in channels:
            self.sensor_flagged.setdefault(asset, t)

    def _ended(self, asset: str, onset: float) -> bool:
        equipment = self.world.equipment[asset]
        return equipment.onset_at != onset or equipment.failed

    def step(self, t: float, on_label: Label | None = None) -> list[tuple[str, str | None, bool]]:
        """Advance the world to ``t``; the preventive visits done: (asset, recommendation, fault found)."""
        for event in self.world.advance(t):
            self.visits.append((event.at + CORRECTIVE_DELAY_S, event.asset_id, "corrective", None))
            if on_label:
                on_label(event.asset_id, "failure", event.at)
        due = [v for v in self.visits if v[0] <= t]
        self.visits = [v for v in self.visits if v[0] > t]
        done = []
        for at, asset, kind, recommendation in due:
            equipment = self.world.equipment[asset]
            defect = equipment.sensor_defect
            sensor_only = equipment.fault_code is None and defect is not None and defect.onset_at <= at
            report = self.world.perform_visit(VisitRequest(asset, f"{asset}-{at}", recommendation, at, kind))
            if kind == "sensor_check":
                done.append((asset, recommendation, report.fault_found))
                if on_label and report.fault_found and report.fault_code:
                    on_label(asset, "sensor_repair:" + report.fault_code.removeprefix("sensor:"), at)
                continue
            if kind == "preventive":
                self.busy.discard(asset)
                self.result.sensor_only_visits += sensor_only and not report.fault_found
                done.append((asset, recommendation, report.fault_found))
            if on_label:
                label = "repair" if kind == "corrective" else ("fault" if report.fault_found else "no_fault")
                on_label(asset, label, at)
        return done

    def finish(self) -> PolicyResult:
        m = self.world.metrics
        r = self.result
        # An episode still open at the end (its technician not there yet) is no episode of the
        # world's metrics yet, so its recommendation is not counted either.
        waiting = {asset for _, asset, kind, _ in self.visits if kind == "preventive"}
        ended = {k: v for k, v in self.useful.items() if k[0] not in waiting or self._ended(*k)}
        r.caught, r.lead_hours = len(ended), list(ended.values())
        r.failures_occurred, r.failures_prevented = m.failures_occurred, m.failures_prevented
        r.false_visits, r.visits_completed = m.false_visits, m.visits_completed
        r.episodes = r.failures_occurred + r.failures_prevented
        r.sensor_checks, r.sensor_repairs = m.sensor_checks, m.sensor_repairs
        judged = [
            a for a, d in self.sensor_defects.items() if d.onset_at + DAY <= self.world.equipment[a].now
        ]
        r.sensor_faults = len(judged)
        for asset in judged:
            defect = self.sensor_defects[asset]
            flagged = self.sensor_flagged.get(asset, math.inf) <= defect.onset_at + DAY
            r.sensor_faults_flagged += flagged
            tally = r.sensor_faults_by_kind.setdefault(defect.kind, [0, 0])
            tally[0], tally[1] = tally[0] + flagged, tally[1] + 1
        return r


class Ledger:
    """The simulated FSM's recommendations: what ``planner.decide`` opened, what ended and how.

    The FSM accepts and schedules every recommendation at once, as the simulated dispatcher
    does, and a technician reports on each visit; a visit ends when its last asset is seen.
    """

    def __init__(self) -> None:
        self.open: dict[str, dict[str, planner.OpenVisit]] = {}  # customer -> id -> visit
        self.closed: dict[str, list[planner.ClosedVisit]] = {}
        self._customer_of: dict[str, str] = {}
        self._pending: dict[str, set[str]] = {}  # visit -> assets not yet seen
        self._found: dict[str, bool] = {}
        self._ids = itertools.count(1)

    def apply(self, customer: str, actions: list[planner.Action], run: Run, t: float) -> None:
        visits = self.open.setdefault(customer, {})
        for action in actions:
            if isinstance(action, planner.Open):
                plan = action.plan
                visit = planner.OpenVisit(
                    f"v{next(self._ids)}",
                    plan.asset_ids,
                    "scheduled",
                    plan.priority,
                    t,
                    plan.window_end,
                    kind=plan.kind,
                    channel=plan.channel,
                )
                visits[visit.id] = visit
                self._customer_of[visit.id] = customer
                self._pending[visit.id] = set(plan.asset_ids)
                for asset in plan.asset_ids:
                    if plan.kind == "sensor_check":
                        run.sensor_check(asset, t, visit.id, plan.channel)
                    else:
                        run.recommend(asset, t, visit.id)
            elif isinstance(action, planner.Close):
                closed = visits.pop(action.visit_id)
                self._end(customer, closed, "cancelled", t, None)

    def report(self, asset: str, visit_id: str | None, fault_found: bool, t: float) -> None:
        if visit_id is None or visit_id not in self._pending:
            return
        self._pending[visit_id].discard(asset)
        self._found[visit_id] = self._found.get(visit_id, False) or fault_found
        if not self._pending[visit_id]:
            customer = self._customer_of[visit_id]
            visit = self.open[customer].pop(visit_id)
            self._end(customer, visit, "completed", t, self._found.pop(visit_id))
            del self._pending[visit_id]

    def _end(
        self, customer: str, visit: planner.OpenVisit, status: str, t: float, found: bool | None
    ) -> None:
        self.closed.setdefault(customer, []).append(
            planner.ClosedVisit(visit.asset_ids, status, t, found, kind=visit.kind, channel=visit.channel)
        )

    def recently_closed(
        self, customer: str, t: float, policy: planner.PlannerPolicy
    ) -> list[planner.ClosedVisit]:
        since = t - planner.cooldown_hours(policy) * HOUR
        recent = [v for v in self.closed.get(customer, []) if v.closed_at >= since]
        self.closed[customer] = recent
        return recent


def run_forestall(spec: FleetSpec, hours: float, policy: planner.PlannerPolicy | None = None) -> PolicyResult:
    policy = policy or planner.PlannerPolicy()
    run = Run(spec, "forestall")
    run.result.flags_sensors = True
    predictor = Predictor()
    ledger = Ledger()
    world = run.world
    types = {a.id: a.asset_type for a in world.assets}
    customers = {
        c.id: planner.Customer(c.id, c.segment, c.sla_tier, c.visit_sensitivity) for c in world.customers
    }
    by_customer: dict[str, list[Any]] = {}
    for asset in world.assets:
        by_customer.setdefault(asset.customer_id, []).append(asset)

    def label(asset: str, kind: str, at: float) -> None:
        predictor.label(spec.tenant, asset, types[asset], kind, at)

    t = 0.0
    while t < hours * HOUR:
        for asset_id, visit_id, found in run.step(t, label):
            ledger.report(asset_id, visit_id, found, t)
        for asset in world.assets:
            health = predictor.observe(
                spec.tenant, asset.id, asset.asset_type, t, world.equipment[asset.id].read(t)
            )
            if health.sensor_faults:
                run.flagged(asset.id, [f.channel for f in health.sensor_faults], t)
        predictor.advance(spec.tenant, t)
        for customer_id, assets in by_customer.items():
            conditions = {}
            for asset in assets:
                model = predictor.assets[(spec.tenant, asset.id)]
                if model.last is not None:
                    conditions[asset.id] = planner.condition(
                        asset, model.last, failed=model.down, failed_at=model.failed_at
                    )
            open_visits = list(ledger.open.get(customer_id, {}).values())
            closed = ledger.recently_closed(customer_id, t, policy)
            actions = planner.decide(conditions, open_visits, closed, customers[customer_id], 0.0, t, policy)
            ledger.apply(customer_id, actions, run, t)
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
    """Static limits per equipment type and sensor (mean ± k·std of the first day), 3 readings in a row.

    Where machines report their load, the limits hold only while a machine runs and not in its
    first hour after a start, as state-based alarms are set up (an idle pump has no flow to alarm
    on, a cold one is not overheating); the load itself has no limits.
    """
    run = Run(spec, f"static thresholds ±{sigmas:g} sd")
    stats: dict[tuple[str, str], list[float]] = {}
    limits: dict[tuple[str, str], tuple[float, float]] = {}
    streak: dict[str, int] = {}
    started: dict[str, float] = {}  # asset -> when it started running (-inf: running from the first reading)
    t = 0.0
    while t < hours * HOUR:
        run.step(t)
        for asset in run.world.assets:
            machine = run.world.equipment[asset.id]
            reading = machine.read(t)
            if reading.pop(LOAD_CHANNEL, RUNNING_LOAD_PCT) < RUNNING_LOAD_PCT:
                streak[asset.id] = 0
                started.pop(asset.id, None)
                continue
            if t - started.setdefault(asset.id, t if t > 0 else -math.inf) < STARTUP_S:
                continue
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


def tuned_thresholds(spec: FleetSpec, hours: float) -> float:
    """The threshold width that does best on another seed's world: most useful share, then fewest false."""

    def merit(sigmas: float) -> tuple[float, float]:
        s = run_thresholds(spec, hours, sigmas).summary()
        return (s["useful_recommendation_share"] or 0.0) - (s["false_visit_share"] or 0.0), -sigmas

    return max(THRESHOLD_SIGMAS, key=merit)


def _limits(values: list[float], sigmas: float) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) or abs(mean) * 0.01 or 1e-3
    return mean - sigmas * std, mean + sigmas * std


def beats(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """No worse on caught and false-visit shares, ahead on one of them or on the timely share.

    >>> base = {"useful_recommendation_share": 1.0, "false_visit_share": 0.0, "timely_share": 0.6}
    >>> beats({**base, "timely_share": 0.9}, base), beats(base, base)
    (True, False)
    >>> beats({**base, "timely_share": 0.9, "false_visit_share": 0.1}, base)
    False
    """
    useful, false, timely = (
        (ours[k] or 0.0, theirs[k] or 0.0)
        for k in ("useful_recommendation_share", "false_visit_share", "timely_share")
    )
    no_worse = useful[0] >= useful[1] and false[0] <= false[1]
    return no_worse and (useful[0] > useful[1] or false[0] < false[1] or timely[0] > timely[1])


def backtest_sim(
    assets: int, days: float, seed: int, sensor_faults: float = 0.1, conditions: Conditions = HARDER
) -> dict[str, Any]:
    """The three policies on one world (default: the harder world with a tenth of the sensors broken)."""
    spec = FleetSpec(
        tenant="backtest",
        assets=assets,
        customers=max(assets // 5, 1),
        seed=seed,
        sensor_fault_share=sensor_faults,
    )
    spec = with_conditions(spec, conditions)
    hours = days * 24.0
    forestall = run_forestall(spec, hours)
    calendar = run_calendar(spec, hours, visits_target=max(forestall.recommendations, 1))
    tuning = replace(spec, seed=seed + 1000)
    thresholds = run_thresholds(spec, hours, tuned_thresholds(tuning, hours))
    ours = forestall.summary()
    baselines = {calendar.name: calendar.summary(), thresholds.name: thresholds.summary()}
    return {
        "backtest": "sim",
        "assets": assets,
        "days": days,
        "seed": seed,
        "sensor_fault_share": sensor_faults,
        "conditions": asdict(conditions),
        **ours,
        "baselines": baselines,
        "beats": {name: beats(ours, theirs) for name, theirs in baselines.items()},
        "threshold_width_chosen_on_seed": seed + 1000,
    }

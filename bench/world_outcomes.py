"""How predictable a world file's negative outcomes are from what a service company can see.

A pure world (no API, no models) runs for ``--days``: a crew of the world's technicians under a
plan repairs every breakdown and visits 70 % of the faults once they show (an oracle standing in
for the predictor). At each customer-day after a 30-day warm-up, the drivers of the last 30
days (failures, hours of outage, billing errors, tickets' lateness, negative outcomes, mean CSAT
and NPS, detractors so far, visit sensitivity) are set against whether the customer has a
negative outcome (a detractor NPS, an escalation, a contract ended or downgraded) in the next
30. A plain logistic regression learns on half the customers and is scored (AUC) on the other
half; the AUC of the customers' true grievance is printed beside it. It prints one JSON line.

    python bench/world_outcomes.py simulators/worlds/billing.toml --seed 2
    python bench/world_outcomes.py simulators/worlds/outages.toml --technicians 2 --plan fifo
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from forestall.vocab import service_level
from simulators.crew import HOUR, Crew, Job, crew_from_world, make_technicians
from simulators.customers import ContractEvent, CustomerEvent, Incident, Survey
from simulators.world import FleetSpec, VisitRequest, World
from simulators.worlds import load_world

DAY = 24 * HOUR
START = 1_805_673_600.0  # a Monday, 00:00 UTC
WARM_UP_DAYS, HORIZON_DAYS = 30, 30
DETECTED = 0.7  # share of the faults the oracle sends someone to, once severity passes SHOWS
SHOWS = 0.15


def negative(e: CustomerEvent) -> bool:
    return (
        (isinstance(e, Survey) and e.kind == "nps" and e.score <= 6)
        or (isinstance(e, Incident) and e.kind == "escalation")
        or isinstance(e, ContractEvent)
    )


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.file = load_world(args.world)
        spec = FleetSpec(assets=args.assets, customers=args.customers, seed=args.seed, sensor_fault_share=0)
        self.world = World(spec, START, self.file)
        t = self.file.technicians
        travel = crew_from_world(t, args.seed).travel
        people = make_technicians(args.technicians, t.week(), t.regions, spec.asset_types)
        hours = {"service_hours": t.service_hours, "repair_hours": t.repair_hours}
        self.crew = Crew(people, travel, args.plan, **hours)
        self.rng = random.Random(args.seed)
        self.events: list[CustomerEvent] = []
        self.outages: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.levels: dict[tuple[str, int], float] = {}
        self.down: dict[str, float] = {}
        self.seen: set[tuple[str, float | None]] = set()
        self.tiers = {c.id: c.sla_tier for c in self.world.customers}

    def job(self, asset_id: str, job_id: str, kind: str, at: float, probability: float) -> Job:
        a = self.world.asset_by_id[asset_id]
        rec = None if kind == "corrective" else job_id
        hours = self.crew.work_hours(job_id, kind, 1)
        return Job(
            job_id,
            (asset_id,),
            kind,
            at,
            (a.asset_type,),
            a.site,
            a.customer_id,
            rec,
            self.tiers[a.customer_id],
            probability,
            probability,
            a.criticality * probability,  # the oracle's harm: Forestall's planner weighs more
            hours,
        )

    def run(self, days: int) -> None:
        visits: list[tuple[float, int, VisitRequest]] = []
        t, n = START, 0
        while t < START + days * DAY:
            t += HOUR
            for f in self.world.advance(t):
                self.down[f.asset_id] = f.at
                job_id = f"corrective-{f.asset_id}-{int(f.at)}"
                self.crew.submit(self.job(f.asset_id, job_id, "corrective", f.at, 1.0))
            self.detect(t)
            for a in self.crew.dispatch(t):
                n += 1
                request = VisitRequest(
                    a.job.assets[0], a.job.id, a.job.recommendation_id, a.arrive, a.job.kind
                )
                heapq.heappush(visits, (a.arrive, n, request))
            while visits and visits[0][0] <= t:
                self.perform(heapq.heappop(visits)[2])
            self.events += self.world.customer_events(t)
            if (t - START) % DAY == 0:
                for cid, stream in self.world.streams.items():
                    self.levels[(cid, round((t - START) / DAY))] = stream.level(t)

    def detect(self, t: float) -> None:
        for asset_id, machine in self.world.equipment.items():
            key = (asset_id, machine.onset_at)
            showing = machine.fault_code is not None and machine.degradation > SHOWS
            if machine.failed or not showing or key in self.seen:
                continue
            self.seen.add(key)
            if self.rng.random() < DETECTED:
                probability = min(1.0, 2 * machine.degradation)
                self.crew.submit(self.job(asset_id, f"rec-{asset_id}-{int(t)}", "preventive", t, probability))

    def perform(self, visit: VisitRequest) -> None:
        self.world.perform_visit(visit)
        if visit.asset_id in self.down and not self.world.equipment[visit.asset_id].failed:
            customer = self.world.asset_by_id[visit.asset_id].customer_id
            self.outages[customer].append((self.down.pop(visit.asset_id), visit.at))

    def table(self, days: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
        by_customer: dict[str, list[CustomerEvent]] = defaultdict(list)
        for e in self.events:
            by_customer[e.customer_id].append(e)
        failures: dict[str, list[float]] = defaultdict(list)
        for f in self.world.failures:
            failures[self.world.asset_by_id[f.asset_id].customer_id].append(f.at)
        rows, labels, groups, truth = [], [], [], []
        for c in self.world.customers:
            events, target = by_customer[c.id], service_level(c.sla_tier).request_minutes
            for d in range(WARM_UP_DAYS, days - HORIZON_DAYS):
                t0 = START + d * DAY
                past = [e for e in events if t0 - 30 * DAY <= e.at < t0]
                incidents = [e for e in past if isinstance(e, Incident)]
                lateness = [(e.duration_min or 0) / target - 1 for e in incidents if e.kind == "ticket"]
                rows.append(
                    [
                        float(sum(1 for a in failures[c.id] if t0 - 30 * DAY <= a < t0)),
                        sum((min(b, t0) - a) / HOUR for a, b in self.outages[c.id] if a < t0 < b + 30 * DAY),
                        sum((e.duration_min or 0) / 60 for e in incidents if e.kind != "ticket"),
                        float(sum(1 for e in incidents if e.kind == "billing_error")),
                        sum(max(0.0, late) for late in lateness),
                        float(sum(1 for e in past if negative(e))),
                        _mean_score(past, "csat", 4.0),
                        _mean_score(past, "nps", 8.0),
                        float(sum(1 for e in events if e.at < t0 and negative(e) and isinstance(e, Survey))),
                        c.visit_sensitivity,
                    ]
                )
                labels.append(any(negative(e) for e in events if t0 <= e.at < t0 + HORIZON_DAYS * DAY))
                groups.append(c.id)
                truth.append(self.levels.get((c.id, d), 0.0))
        return np.array(rows, float), np.array(labels, float), groups, np.array(truth)


def _mean_score(events: list[CustomerEvent], kind: str, default: float) -> float:
    scores = [e.score for e in events if isinstance(e, Survey) and e.kind == kind]
    return float(np.mean(scores)) if scores else default


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def held_out_auc(x: np.ndarray, y: np.ndarray, groups: list[str]) -> float:
    """A ridge-logistic regression (Newton) learnt on half the customers, scored on the rest."""
    customers = sorted(set(groups))
    random.Random(0).shuffle(customers)
    train = np.array([g in set(customers[: len(customers) // 2]) for g in groups])
    mean, sd = x[train].mean(0), x[train].std(0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mean) / sd]
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z[train] @ w))
        gradient = z[train].T @ (p - y[train]) / train.sum() + 0.01 * w
        hessian = (z[train].T * (p * (1 - p))) @ z[train] / train.sum() + 0.01 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return auc(z[~train] @ w, y[~train])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("world", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--technicians", type=int, default=100, help="default: enough that nobody waits long")
    parser.add_argument("--plan", default="fifo")
    args = parser.parse_args()
    run = Run(args)
    run.run(args.days)
    x, y, groups, truth = run.table(args.days)
    counts: dict[str, int] = defaultdict(int)
    for e in run.events:
        if negative(e):
            kind = (
                "contract"
                if isinstance(e, ContractEvent)
                else "detractor"
                if isinstance(e, Survey)
                else "escalation"
            )
            counts[kind] += 1
    out: dict[str, Any] = {
        "world": args.world.stem,
        "seed": args.seed,
        "technicians": args.technicians,
        "plan": args.plan,
        "failures": run.world.metrics.failures_occurred,
        "prevented": run.world.metrics.failures_prevented,
        "outage_hours": round(sum(b - a for spans in run.outages.values() for a, b in spans) / HOUR),
        "negatives": dict(counts),
        "customer_days": len(y),
        "positive_share": round(float(y.mean()), 3),
        "auc_drivers_held_out": round(held_out_auc(x, y, groups), 3),
        "auc_true_grievance": round(auc(truth, y), 3),
    }
    print(json.dumps(out))
    options = f"--seed {args.seed} --technicians {args.technicians} --plan {args.plan}"
    print(f"python bench/world_outcomes.py {args.world} {options}")


if __name__ == "__main__":
    main()

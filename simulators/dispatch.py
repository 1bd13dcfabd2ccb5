"""What the simulated FSM system does with each event: the dispatcher's decisions and API calls.

Runs on the FSM simulator's single worker thread; ``FsmSimulator`` feeds it verified
webhooks and sim-channel messages. Every API call is retried a few times; a call that
still fails is logged and counted, never raised into the worker.

Without a crew, a technician leaves for every request at once. With one
(``simulators.crew.Crew``: a finite number of technicians with working hours and travel),
requests wait in its queue: ``tick(now)`` sends whoever the crew's plan picks, and only then is
the recommendation scheduled (at the technician's arrival) and the visit sent to the world.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from forestall.contract import parse_ts
from forestall.vocab import CLOSED_STATUSES
from simulators.apiclient import ApiClient, ApiError, with_retries
from simulators.crew import Assignment, Crew, Job

log = logging.getLogger(__name__)

HOUR: Final = 3600.0
Publish = Callable[[str, str, dict[str, Any]], None]  # (asset, kind, payload) on the sim channel


@dataclass(slots=True)
class FsmStats:
    webhooks_received: int = 0
    webhooks_verified: int = 0
    webhooks_rejected: int = 0
    webhooks_duplicate: int = 0
    recommendations_scheduled: int = 0
    visits_dispatched: int = 0
    sensor_checks_dispatched: int = 0  # technicians sent to check a sensor (they repair it)
    corrective_dispatched: int = 0
    reports: int = 0
    outcomes_posted: int = 0
    failures: int = 0
    api_errors: int = 0
    conflicts: int = 0  # 409s: the recommendation had moved on (accepted already, cancelled)
    jobs_queued: int = 0  # requests put in the crew's queue (with a crew)
    jobs_waiting: int = 0  # … still waiting for a technician
    jobs_cancelled: int = 0  # … taken out of the queue (the recommendation closed)
    wait_hours: float = 0.0  # summed hours from a request being ready to the technician's arrival


@dataclass(slots=True)
class _Job:
    """A scheduled recommendation waiting for its technicians' reports."""

    assets: set[str]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: bool = False  # outcome sent; kept so late duplicates and updates are ignored


@dataclass(slots=True)
class _Outage:
    customer_id: str
    opened_at: float
    fault_code: str | None


class Dispatcher:
    def __init__(
        self,
        api: ApiClient,
        publish: Publish,
        stats: FsmStats,
        *,
        travel_hours: tuple[float, float] = (1.0, 2.0),
        corrective_delay_hours: tuple[float, float] = (2.0, 4.0),
        seed: int = 0,
        retry_attempts: int = 4,
        crew: Crew | None = None,
    ) -> None:
        self.api = api
        self.publish = publish
        self.stats = stats
        self.crew = crew
        self.event_time = float("-inf")  # the latest event time heard of (webhooks, reports, failures)
        self.travel_hours = travel_hours
        self.corrective_delay_hours = corrective_delay_hours
        self.retry_attempts = retry_attempts
        self._rng = random.Random(f"forestall-fsm:{seed}")
        self._jobs: dict[str, _Job] = {}
        self._outages: dict[str, _Outage] = {}
        self._customer_of: dict[str, str | None] = {}
        self._assets: dict[str, dict[str, Any]] = {}
        self._tiers: dict[str, str | None] = {}
        self._accepted: set[str] = set()

    def _call(self, what: str, call: Callable[[], Any], *, conflict_ok: bool = False) -> tuple[bool, Any]:
        """(ok, result) of an API call with retries; failures are logged and counted.

        With ``conflict_ok`` a 409 (the recommendation moved on: accepted already, cancelled
        while the technician was on the road) is expected and only logged.
        """
        try:
            return True, with_retries(call, attempts=self.retry_attempts)
        except ApiError as exc:
            if conflict_ok and exc.status == 409:
                self.stats.conflicts += 1
                log.info("FSM: %s refused: %s", what, exc)
            else:
                self.stats.api_errors += 1
                log.warning("FSM: %s failed: %s", what, exc)
            return False, exc

    # -- webhooks -----------------------------------------------------------------------------

    def on_webhook(self, payload: dict[str, Any]) -> None:
        kind, data = payload.get("type"), payload.get("data")
        if not isinstance(data, dict):
            return
        event_time = parse_ts(payload["timestamp"]) if payload.get("timestamp") is not None else None
        self._heard(event_time)
        if self.crew is not None and data.get("status") in CLOSED_STATUSES:
            if self.crew.cancel(str(data.get("id"))):  # closed while waiting: nobody goes
                self.stats.jobs_cancelled += 1
                self.stats.jobs_waiting = len(self.crew.waiting)
            return
        if kind == "visit.recommended" or (kind == "visit.updated" and str(data.get("id")) not in self._jobs):
            self.take_recommendation(data, event_time)

    def _heard(self, at: float | None) -> None:
        if at is not None:
            self.event_time = max(self.event_time, at)

    def take_recommendation(self, rec: dict[str, Any], event_time: float | None) -> None:
        """Accept, schedule and dispatch one technician per asset of a recommendation."""
        rec_id = str(rec["id"])
        if rec_id in self._jobs or rec.get("status") in CLOSED_STATUSES:
            return
        assets = [str(a) for a in rec.get("asset_ids") or []]
        if rec.get("status") == "scheduled":  # scheduled by someone else (e.g. on the board): just go
            if rec.get("scheduled_for") is not None and assets:
                if self.crew is not None:  # the crew goes when it can, not before that time
                    self._queue_recommendation(rec, parse_ts(rec["scheduled_for"]), accept=False)
                else:
                    self._send_technicians(rec_id, assets, parse_ts(rec["scheduled_for"]), _visit_kind(rec))
            return
        start, end = parse_ts(rec["window_start"]), parse_ts(rec["window_end"])
        if self.crew is not None:
            self._queue_recommendation(rec, max(start, event_time or start))
            return
        arrive = max(start, event_time or start) + self._rng.uniform(*self.travel_hours) * HOUR
        arrive = max(min(arrive, end), start)  # never after the window closes
        ok, err = self._call(f"accept {rec_id}", lambda: self.api.accept(rec_id), conflict_ok=True)
        if not ok and getattr(err, "status", None) != 409:  # 409: accepted already, go on
            return
        ok, _ = self._call(f"schedule {rec_id}", lambda: self.api.schedule(rec_id, arrive), conflict_ok=True)
        if ok and assets:
            self.stats.recommendations_scheduled += 1
            self._send_technicians(rec_id, assets, arrive, _visit_kind(rec))

    # -- the crew's queue ---------------------------------------------------------------------

    def _queue_recommendation(self, rec: dict[str, Any], ready_at: float, *, accept: bool = True) -> None:
        """Accept (once) and queue a recommendation, or refresh it while it waits."""
        assert self.crew is not None
        rec_id = str(rec["id"])
        if accept and rec_id not in self._accepted:
            ok, err = self._call(f"accept {rec_id}", lambda: self.api.accept(rec_id), conflict_ok=True)
            if not ok and getattr(err, "status", None) != 409:  # 409: accepted already, go on
                return
            self._accepted.add(rec_id)
        assets = [str(a) for a in rec.get("asset_ids") or []]
        if not assets:
            return
        infos = [self._asset(a) for a in assets]
        customer = rec.get("customer_id") or infos[0].get("customer_id")
        capacity = rec.get("capacity") if isinstance(rec.get("capacity"), dict) else None
        kind = _visit_kind(rec)
        job = Job(
            id=rec_id,
            assets=tuple(assets),
            kind=kind,
            ready_at=ready_at,
            asset_types=tuple(sorted({str(i["asset_type"]) for i in infos if i.get("asset_type")})),
            site=rec.get("site") or infos[0].get("site"),
            customer_id=str(customer) if customer else None,
            recommendation_id=rec_id,
            sla_tier=self._tier(str(customer)) if customer else None,
            probability=float(rec.get("confidence") or 0.0),
            priority_score=float(rec.get("priority_score") or 0.0),
            harm=float(capacity["harm"]) if capacity and capacity.get("harm") is not None else None,
            work_hours=self.crew.work_hours(rec_id, kind, len(assets)),
        )
        if not self.crew.is_waiting(rec_id):
            self.stats.jobs_queued += 1
        self.crew.submit(job)
        self.stats.jobs_waiting = len(self.crew.waiting)

    def _queue_repair(self, asset: str, at: float, visit_id: str) -> None:
        assert self.crew is not None
        info = self._asset(asset)
        customer = info.get("customer_id")
        job = Job(
            id=visit_id,
            assets=(asset,),
            kind="corrective",
            ready_at=at,
            asset_types=(str(info["asset_type"]),) if info.get("asset_type") else (),
            site=info.get("site"),
            customer_id=str(customer) if customer else None,
            sla_tier=self._tier(str(customer)) if customer else None,
            probability=1.0,
            work_hours=self.crew.work_hours(visit_id, "corrective", 1),
        )
        self.stats.jobs_queued += 1
        self.crew.submit(job)
        self.stats.jobs_waiting = len(self.crew.waiting)

    def tick(self, now: float | None = None) -> list[Assignment]:
        """Send the technicians the crew assigns up to event time ``now`` (default: the latest
        event time heard of)."""
        if self.crew is None:
            return []
        now = self.event_time if now is None else max(now, self.event_time)
        assignments = self.crew.dispatch(now)
        for assignment in assignments:
            self._start(assignment)
        self.stats.jobs_waiting = len(self.crew.waiting)
        return assignments

    def _start(self, assignment: Assignment) -> None:
        job, arrive = assignment.job, assignment.arrive
        self.stats.wait_hours += max(arrive - job.ready_at, 0.0) / HOUR
        if job.kind == "corrective":
            self._dispatch(job.assets[0], job.id, None, arrive, "corrective")
            return
        rec_id = job.id
        ok, _ = self._call(f"schedule {rec_id}", lambda: self.api.schedule(rec_id, arrive), conflict_ok=True)
        if ok:  # refused (409): cancelled or closed meanwhile, nobody goes
            self.stats.recommendations_scheduled += 1
            self._send_technicians(rec_id, list(job.assets), arrive, job.kind)

    def _asset(self, asset: str) -> dict[str, Any]:
        """The asset as the API knows it (customer, site, type), or {} when it cannot say."""
        if asset not in self._assets:
            ok, body = self._call(f"asset {asset}", lambda: self.api.request("GET", f"/v1/assets/{asset}"))
            if not ok or not isinstance(body, dict):
                return {}
            self._assets[asset] = body
        return self._assets[asset]

    def _tier(self, customer: str) -> str | None:
        if customer not in self._tiers:
            path = f"/v1/customers/{customer}"
            ok, body = self._call(f"customer {customer}", lambda: self.api.request("GET", path))
            if not ok or not isinstance(body, dict):
                return None
            tier = body.get("sla_tier")
            self._tiers[customer] = str(tier) if tier else None
        return self._tiers[customer]

    # -- technicians on their way -------------------------------------------------------------

    def _send_technicians(self, rec_id: str, assets: list[str], arrive: float, kind: str) -> None:
        self._jobs[rec_id] = _Job(set(assets))
        for asset in assets:
            self._dispatch(asset, f"{rec_id}-{asset}", rec_id, arrive, kind)

    def _dispatch(self, asset: str, visit_id: str, rec_id: str | None, at: float, kind: str) -> None:
        payload = {"visit_id": visit_id, "recommendation_id": rec_id, "at": at, "kind": kind}
        self.publish(asset, "visit", payload)
        self.stats.visits_dispatched += 1
        self.stats.corrective_dispatched += kind == "corrective"
        self.stats.sensor_checks_dispatched += kind == "sensor_check"

    # -- reports and failures from the world --------------------------------------------------

    def on_report(self, asset: str, report: dict[str, Any]) -> None:
        self.stats.reports += 1
        self._heard(_number(report.get("at")))
        rec_id = report.get("recommendation_id")
        if rec_id:
            self._preventive_report(str(rec_id), asset, report)
        else:
            self._corrective_report(asset, report)

    def _preventive_report(self, rec_id: str, asset: str, report: dict[str, Any]) -> None:
        job = self._jobs.setdefault(rec_id, _Job({asset}))  # unknown (e.g. after a restart): alone
        if job.done:
            return  # a duplicate report
        job.reports[asset] = report
        if not job.assets <= job.reports.keys():
            return
        job.done = True
        found = [r for r in job.reports.values() if r.get("fault_found")]
        repaired = [float(r["at"]) for r in job.reports.values() if r.get("repaired")]
        codes = sorted({str(r["fault_code"]) for r in found if r.get("fault_code")})
        notes = "; ".join(
            f"{a}: {r.get('fault_code') or 'no fault found'}" for a, r in sorted(job.reports.items())
        )
        ok, _ = self._call(
            f"outcome {rec_id}",
            lambda: self.api.outcome(
                rec_id, bool(found), codes[0] if codes else None, max(repaired) if repaired else None, notes
            ),
            conflict_ok=True,
        )
        self.stats.outcomes_posted += ok

    def _corrective_report(self, asset: str, report: dict[str, Any]) -> None:
        at = float(report["at"])
        code = report.get("fault_code")
        if report.get("repaired"):
            self._call(
                f"repair event {asset}",
                lambda: self.api.post_maintenance_event(asset, "repair", at, str(code) if code else None),
            )
        outage = self._outages.pop(asset, None)
        if outage is not None:
            minutes = round(max(at - outage.opened_at, 0.0) / 60.0, 1)
            self._call(
                f"resolve outage {asset}",
                lambda: self.api.post_incident(
                    outage.customer_id,
                    "outage",
                    outage.opened_at,
                    at,
                    minutes,
                    notes=f"{asset} back in service ({outage.fault_code or 'failure'} repaired)",
                ),
            )

    def on_failure(self, asset: str, failure: dict[str, Any]) -> None:
        """Record the failure and the customer's outage; send a technician a few hours later."""
        self.stats.failures += 1
        at = float(failure["at"])
        self._heard(at)
        code = failure.get("fault_code")
        self._call(
            f"failure event {asset}",
            lambda: self.api.post_maintenance_event(asset, "failure", at, str(code) if code else None),
        )
        customer = self._customer(asset)
        if customer is not None:
            self._call(f"outage {asset}", lambda: self.api.post_incident(customer, "outage", at))
            self._outages[asset] = _Outage(customer, at, str(code) if code else None)
        visit_id = f"corrective-{asset}-{int(at)}"
        if self.crew is not None:
            self._queue_repair(asset, at, visit_id)
            return
        arrive = at + self._rng.uniform(*self.corrective_delay_hours) * HOUR
        self._dispatch(asset, visit_id, None, arrive, "corrective")

    def _customer(self, asset: str) -> str | None:
        if asset not in self._customer_of:
            body = self._asset(asset)
            if not body:
                return None
            customer = body.get("customer_id")
            self._customer_of[asset] = str(customer) if customer else None
        return self._customer_of[asset]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _visit_kind(rec: dict[str, Any]) -> str:
    """The technician's errand: check a sensor (``sensor_check``) or inspect the machine."""
    return "sensor_check" if rec.get("kind") == "sensor_check" else "preventive"

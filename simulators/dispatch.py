"""What the simulated FSM system does with each event: the dispatcher's decisions and API calls.

Runs on the FSM simulator's single worker thread; ``FsmSimulator`` feeds it verified
webhooks and sim-channel messages. Every API call is retried a few times; a call that
still fails is logged and counted, never raised into the worker.
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
    ) -> None:
        self.api = api
        self.publish = publish
        self.stats = stats
        self.travel_hours = travel_hours
        self.corrective_delay_hours = corrective_delay_hours
        self.retry_attempts = retry_attempts
        self._rng = random.Random(f"forestall-fsm:{seed}")
        self._jobs: dict[str, _Job] = {}
        self._outages: dict[str, _Outage] = {}
        self._customer_of: dict[str, str | None] = {}

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
        if kind == "visit.recommended" or (kind == "visit.updated" and str(data.get("id")) not in self._jobs):
            event_time = parse_ts(payload["timestamp"]) if payload.get("timestamp") is not None else None
            self.take_recommendation(data, event_time)

    def take_recommendation(self, rec: dict[str, Any], event_time: float | None) -> None:
        """Accept, schedule and dispatch one technician per asset of a recommendation."""
        rec_id = str(rec["id"])
        if rec_id in self._jobs or rec.get("status") in CLOSED_STATUSES:
            return
        assets = [str(a) for a in rec.get("asset_ids") or []]
        if rec.get("status") == "scheduled":  # scheduled by someone else (e.g. on the board): just go
            if rec.get("scheduled_for") is not None and assets:
                self._send_technicians(rec_id, assets, parse_ts(rec["scheduled_for"]), _visit_kind(rec))
            return
        start, end = parse_ts(rec["window_start"]), parse_ts(rec["window_end"])
        arrive = max(start, event_time or start) + self._rng.uniform(*self.travel_hours) * HOUR
        arrive = max(min(arrive, end), start)  # never after the window closes
        ok, err = self._call(f"accept {rec_id}", lambda: self.api.accept(rec_id), conflict_ok=True)
        if not ok and getattr(err, "status", None) != 409:  # 409: accepted already, go on
            return
        ok, _ = self._call(f"schedule {rec_id}", lambda: self.api.schedule(rec_id, arrive), conflict_ok=True)
        if ok and assets:
            self.stats.recommendations_scheduled += 1
            self._send_technicians(rec_id, assets, arrive, _visit_kind(rec))

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
        code = failure.get("fault_code")
        self._call(
            f"failure event {asset}",
            lambda: self.api.post_maintenance_event(asset, "failure", at, str(code) if code else None),
        )
        customer = self._customer(asset)
        if customer is not None:
            self._call(f"outage {asset}", lambda: self.api.post_incident(customer, "outage", at))
            self._outages[asset] = _Outage(customer, at, str(code) if code else None)
        arrive = at + self._rng.uniform(*self.corrective_delay_hours) * HOUR
        self._dispatch(asset, f"corrective-{asset}-{int(at)}", None, arrive, "corrective")

    def _customer(self, asset: str) -> str | None:
        if asset not in self._customer_of:
            ok, body = self._call(f"asset {asset}", lambda: self.api.request("GET", f"/v1/assets/{asset}"))
            if not ok or not isinstance(body, dict):
                return None
            customer = body.get("customer_id")
            self._customer_of[asset] = str(customer) if customer else None
        return self._customer_of[asset]


def _visit_kind(rec: dict[str, Any]) -> str:
    """The technician's errand: check a sensor (``sensor_check``) or inspect the machine."""
    return "sensor_check" if rec.get("kind") == "sensor_check" else "preventive"

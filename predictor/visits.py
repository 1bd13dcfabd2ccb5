"""Visit recommendations in the state DB: open, revise (escalate, bundle), cool down, cancel, expire.

The decisions come from the pure ``planner``; this module applies them to the state DB and
writes each one's webhook into the outbox in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.measurements import capacity_point, visit_capacity_point
from forestall.series import Point
from forestall.state.models import Asset, Customer, CustomerRisk, Recommendation, Technician
from forestall.state.repo import emit_webhook
from forestall.state.views import recommendation_view
from forestall.vocab import DEFAULT_KIND, OPEN_STATUSES
from forestall.workhours import HoursError, WeeklyHours, working_windows
from predictor import capacity, planner
from predictor.engine import Predictor
from predictor.models import Health
from predictor.riskstate import confirmed_faults, repeats

log = logging.getLogger(__name__)
HOUR = 3600.0


class Visits:
    """Applies ``planner.decide`` to one customer's recommendations in the state DB."""

    def __init__(self, predictor: Predictor, policy: planner.PlannerPolicy) -> None:
        self.predictor = predictor
        self.policy = policy
        self.recommendations_opened = 0
        self._counts: dict[str, tuple[int, int, int]] = {}  # per tenant: the plan's last capacity point

    def _conditions(
        self, session: Session, tenant: str, assets: Iterable[Asset], now: float
    ) -> dict[str, planner.AssetCondition]:
        known: list[tuple[Asset, Health, bool, float | None]] = []
        for asset in assets:
            model = self.predictor.assets.get((tenant, asset.id))
            if model is not None and model.last is not None:
                known.append((asset, model.last, model.down, model.failed_at))
        faults = confirmed_faults(session, tenant, [a.id for a, *_ in known], now)
        alerts = self.predictor.alerts
        return {
            a.id: planner.condition(
                a, h, repeats(faults[a.id]), down, failed_at, alerts.active((tenant, a.id), now)
            )
            for a, h, down, failed_at in known
        }

    def plan_customer(
        self, session: Session, tenant: str, customer_id: str, now: float, risk: float
    ) -> list[Point]:
        customer = session.get(Customer, (tenant, customer_id))
        if customer is None:
            return []
        assets = list(
            session.scalars(select(Asset).where(Asset.tenant == tenant, Asset.customer_id == customer_id))
        )
        conds = self._conditions(session, tenant, assets, now)
        ctx = planner.Customer(customer.id, customer.segment, customer.sla_tier, customer.visit_sensitivity)
        open_recs = {
            rec.id: rec
            for rec in session.scalars(
                select(Recommendation).where(
                    Recommendation.tenant == tenant,
                    Recommendation.customer_id == customer_id,
                    Recommendation.status.in_(OPEN_STATUSES),
                )
            )
        }
        open_visits = [
            planner.OpenVisit(
                rec.id,
                tuple(rec.asset_ids),
                rec.status,
                rec.priority,
                rec.window_start,
                rec.window_end,
                rec.source in ("predictor", "grafana"),  # the policy's own: revised and cancelled by it
                kind=rec.kind,
                channel=_channel(rec),
            )
            for rec in open_recs.values()
        ]
        closed = self._recently_closed(session, tenant, customer_id, now)
        points: list[Point] = []
        for action in planner.decide(conds, open_visits, closed, ctx, risk, now, self.policy):
            if isinstance(action, planner.Open):
                points.append(self._open(session, tenant, customer_id, action.plan, risk, now))
            elif isinstance(action, planner.Revise):
                self._revise(session, open_recs[action.visit_id], action, risk, now)
            else:
                self._close(session, open_recs[action.visit_id], "cancelled", action.reason, now)
        return points

    @staticmethod
    def _revise(
        session: Session, rec: Recommendation, action: planner.Revise, risk: float, now: float
    ) -> None:
        plan = action.plan
        rec.priority, rec.window_end = action.priority, action.window_end
        rec.priority_score = max(rec.priority_score, plan.priority_score)
        rec.predicted_failure_at, rec.confidence, rec.reason = (
            plan.predicted_failure_at,
            plan.confidence,
            plan.reason,
        )
        rec.fits_sla, rec.risk_index, rec.updated_at = rec.sla_due_at <= rec.window_end, risk, now
        emit_webhook(session, rec.tenant, "visit.updated", now, recommendation_view(rec))

    def _open(
        self,
        session: Session,
        tenant: str,
        customer_id: str,
        plan: planner.VisitPlan,
        risk: float,
        now: float,
    ) -> Point:
        rec = Recommendation(
            id=f"rec_{uuid.uuid4().hex[:20]}",
            tenant=tenant,
            customer_id=customer_id,
            site=plan.site,
            asset_ids=list(plan.asset_ids),
            status="open",
            kind=plan.kind,
            priority=plan.priority,
            priority_score=plan.priority_score,
            reason=plan.reason,
            predicted_failure_at=plan.predicted_failure_at,
            confidence=plan.confidence,
            window_start=plan.window_start,
            window_end=plan.window_end,
            sla_due_at=plan.sla_due_at,
            fits_sla=plan.fits_sla,
            risk_index=risk,
            # opened on a Grafana alert alone: the models' own risk would not have; they leave it be
            source="grafana"
            if plan.reason.get("alerts") and plan.confidence < self.policy.open_probability
            else "predictor",
            created_at=now,
            updated_at=now,
        )
        session.add(rec)
        emit_webhook(session, tenant, "visit.recommended", now, recommendation_view(rec))
        self.recommendations_opened += 1
        log.info("recommended %s %s for %s (%s)", plan.kind, rec.id, ",".join(rec.asset_ids), rec.priority)
        return Point(
            "recommendation",
            {
                "tenant": tenant,
                "customer": customer_id,
                "asset": plan.asset_ids[0],
                "priority": plan.priority,
                "kind": plan.kind,
                **({"sensor": plan.channel} if plan.channel else {}),
            },
            {
                "priority_score": plan.priority_score,
                "confidence": plan.confidence,
                "assets": float(len(plan.asset_ids)),
                "sla_due_hours": (plan.sla_due_at - now) / HOUR,  # from opening to the SLA's response
                "window_hours": (plan.window_end - now) / HOUR,  # from opening to the window's end
            },
            now,
        )

    def _recently_closed(
        self, session: Session, tenant: str, customer_id: str, now: float
    ) -> list[planner.ClosedVisit]:
        since = now - planner.cooldown_hours(self.policy) * HOUR
        rows = session.scalars(
            select(Recommendation).where(
                Recommendation.tenant == tenant,
                Recommendation.customer_id == customer_id,
                Recommendation.closed_at >= since,
            )
        )
        return [
            planner.ClosedVisit(
                tuple(rec.asset_ids),
                rec.status,
                rec.closed_at if rec.closed_at is not None else now,
                bool(rec.outcome.get("fault_found")) if rec.outcome else None,
                rec.confidence,
                rec.predicted_failure_at,
                rec.created_at,
                kind=rec.kind,
                channel=_channel(rec),
            )
            for rec in rows
        ]

    @staticmethod
    def _close(session: Session, rec: Recommendation, status: str, reason: str, now: float) -> None:
        rec.status, rec.close_reason, rec.closed_at, rec.updated_at = status, reason, now, now
        emit_webhook(
            session, rec.tenant, "visit.cancelled", now, {**recommendation_view(rec), "reason": reason}
        )

    def schedule(self, session: Session, tenant: str, now: float) -> list[Point]:
        """Place the tenant's open failure visits into its technicians' time (``predictor.capacity``).

        Visits the FSM accepted or scheduled hold their slots; the open ones are ranked by harm
        and given the earliest slot that fits. A booked visit's window stretches to its slot (it
        is never expired before the technician comes); one that no slot fits before its predicted
        failure is marked ``overbooked`` with the earliest that would fit. A change of technician,
        slot or overbooked state is sent as ``visit.updated`` (and a ``visit_capacity`` point); a
        pass that changes the tenant's counts of waiting, booked or technicians gives a ``capacity``
        point. A tenant without active technicians is not planned (capacity unknown: every
        recommendation stands as the models made it, and a plan made while it had some is withdrawn).
        """
        active = select(Technician).where(Technician.tenant == tenant, Technician.active.is_(True))
        techs = list(session.scalars(active))
        recs = list(
            session.scalars(
                select(Recommendation).where(
                    Recommendation.tenant == tenant,
                    Recommendation.status.in_(OPEN_STATUSES),
                    Recommendation.kind == DEFAULT_KIND,
                )
            )
        )
        waiting = [r for r in recs if r.status == "open"]
        if not techs:  # no technician (left): the plan no longer holds
            withdrawn = [rec for rec in waiting if rec.capacity is not None]
            for rec in withdrawn:
                rec.capacity, rec.overbooked, rec.updated_at = None, None, now
                emit_webhook(session, tenant, "visit.updated", now, recommendation_view(rec))
            self._counts.pop(tenant, None)
            return [capacity_point(tenant, 0, 0, 0, now)] if withdrawn else []
        horizon = now + capacity.HORIZON_HOURS * HOUR
        crews = [crew for t in techs if (crew := _crew(t, now, horizon)) is not None]
        bookings = [b for r in recs if r.status != "open" and (b := _booking(r)) is not None]
        asset_ids = {i for r in waiting for i in r.asset_ids}
        assets = {
            a.id: a
            for a in session.scalars(select(Asset).where(Asset.tenant == tenant, Asset.id.in_(asset_ids)))
        }
        customer_ids = {r.customer_id for r in waiting}
        customers = {
            c.id: c
            for c in session.scalars(
                select(Customer).where(Customer.tenant == tenant, Customer.id.in_(customer_ids))
            )
        }
        risks = {
            r.customer_id: r.risk_index
            for r in session.scalars(
                select(CustomerRisk).where(
                    CustomerRisk.tenant == tenant, CustomerRisk.customer_id.in_(customer_ids)
                )
            )
        }
        demands, factors = [], {}
        for rec in waiting:
            demand = _demand(rec, assets, customers.get(rec.customer_id or ""), risks, now)
            demands.append(demand)
            factors[rec.id] = demand.factors
        by_id = {r.id: r for r in waiting}
        plan = capacity.schedule(demands, crews, bookings, now)
        waiting_n = sum(a.overbooked for a in plan)
        counts = (waiting_n, len(plan) - waiting_n, len(crews))
        points = [capacity_point(tenant, *counts, now)] if self._counts.get(tenant) != counts else []
        self._counts[tenant] = counts
        for assignment in plan:
            rec = by_id[assignment.visit_id]
            placed = {**assignment.as_dict(factors[rec.id]), "at": now}
            moved = rec.overbooked != assignment.overbooked or _slot_of(rec.capacity) != _slot_of(placed)
            rec.capacity, rec.overbooked = placed, assignment.overbooked
            if assignment.slot is not None and not assignment.overbooked:
                rec.window_end = max(rec.window_end, assignment.slot.end)
                rec.fits_sla = rec.sla_due_at <= rec.window_end
            if moved:
                rec.updated_at = now
                emit_webhook(session, tenant, "visit.updated", now, recommendation_view(rec))
                points.append(
                    visit_capacity_point(
                        tenant, rec.customer_id, rec.asset_ids[0], rec.id, placed, assignment.overbooked, now
                    )
                )
        return points

    def sweep(self, session: Session, tenant: str, now: float) -> list[str]:
        """Expire recommendations whose window has passed without a visit; their assets."""
        recs = session.scalars(
            select(Recommendation).where(
                Recommendation.tenant == tenant,
                Recommendation.status.in_(OPEN_STATUSES),
                Recommendation.window_end < planner.lapse_cutoff(now, self.policy),
            )
        )
        assets: list[str] = []
        for rec in recs:
            self._close(session, rec, "expired", "window_passed", now)
            assets.extend(rec.asset_ids)
        return assets


def _crew(tech: Technician, now: float, horizon: float) -> capacity.Crew | None:
    try:
        hours = WeeklyHours.parse(tech.hours, tech.timezone)
    except HoursError as exc:  # the API refuses these; a row written around it is skipped, not fatal
        log.warning("technician %s/%s has unusable working hours: %s", tech.tenant, tech.id, exc)
        return None
    windows = tuple(working_windows(hours, now, horizon))
    return capacity.Crew(tech.id, frozenset(tech.skills), frozenset(tech.regions), windows)


def _held_slot(rec: Recommendation) -> capacity.Slot | None:
    """The slot a plan stored on the recommendation (None: none, or a plan without a slot)."""
    held = rec.capacity or {}
    tech, start, end = held.get("technician_id"), held.get("start"), held.get("end")
    if tech is None or start is None or end is None:
        return None
    return capacity.Slot(str(tech), float(start), float(end))


def _booking(rec: Recommendation) -> capacity.Booking | None:
    """The technician time an accepted or scheduled visit holds (None: booked outside Forestall)."""
    slot = _held_slot(rec)
    if slot is None:
        return None
    if rec.scheduled_for is not None:  # the FSM's own time wins over the slot Forestall proposed
        return capacity.Booking(
            slot.technician_id, rec.scheduled_for, rec.scheduled_for + slot.end - slot.start
        )
    return capacity.Booking(slot.technician_id, slot.start, slot.end)


def _slot_of(placed: dict[str, object] | None) -> tuple[object, ...]:
    held = placed or {}
    return held.get("technician_id"), held.get("start"), held.get("end")


def _demand(
    rec: Recommendation,
    assets: dict[str, Asset],
    customer: Customer | None,
    risks: dict[str, float],
    now: float,
) -> capacity.Demand:
    mine = [assets[a] for a in rec.asset_ids if a in assets]
    ttf = (rec.predicted_failure_at - now) / HOUR if rec.predicted_failure_at is not None else None
    harm, factors = capacity.harm(
        rec.confidence,
        ttf,
        max((a.criticality for a in mine), default=3),
        any(a.safety_critical for a in mine),
        risks.get(rec.customer_id or "", rec.risk_index),
        customer.segment if customer is not None else "standard",
        customer.sla_tier if customer is not None else "silver",
    )
    return capacity.Demand(
        rec.id,
        frozenset(a.asset_type for a in mine),
        frozenset({rec.site} if rec.site else set()),
        capacity.VisitEffort().seconds(len(rec.asset_ids)),
        rec.predicted_failure_at if rec.predicted_failure_at is not None else rec.window_end,
        harm,
        rec.created_at,
        factors,
        _held_slot(rec),
    )


def _channel(rec: Recommendation) -> str | None:
    """The sensor a sensor check is for (None for a failure visit)."""
    sensor = rec.reason.get("sensor") if isinstance(rec.reason, dict) else None
    channel = sensor.get("channel") if isinstance(sensor, dict) else None
    return str(channel) if channel is not None else None

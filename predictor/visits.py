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

from forestall.series import Point
from forestall.state.models import Asset, Customer, Recommendation
from forestall.state.repo import emit_webhook
from forestall.state.views import recommendation_view
from forestall.vocab import OPEN_STATUSES
from predictor import planner
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


def _channel(rec: Recommendation) -> str | None:
    """The sensor a sensor check is for (None for a failure visit)."""
    sensor = rec.reason.get("sensor") if isinstance(rec.reason, dict) else None
    channel = sensor.get("channel") if isinstance(sensor, dict) else None
    return str(channel) if channel is not None else None

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

from forestall.state.models import Asset, Customer, Recommendation
from forestall.state.repo import emit_webhook
from forestall.state.views import OPEN_STATUSES, recommendation_view
from ingest.store import Point
from predictor import planner
from predictor.engine import Predictor
from predictor.models import Health
from predictor.riskstate import confirmed_faults, repeats

log = logging.getLogger(__name__)
HOUR = 3600.0


class Visits:
    def __init__(self, predictor: Predictor, policy: planner.PlannerPolicy) -> None:
        self.predictor = predictor
        self.policy = policy
        self.recommendations_opened = 0

    def _conditions(
        self, session: Session, tenant: str, assets: Iterable[Asset], now: float
    ) -> dict[str, planner.AssetCondition]:
        healthy: list[tuple[Asset, Health]] = []
        for asset in assets:
            model = self.predictor.assets.get((tenant, asset.id))
            if model is not None and not model.down and model.last is not None:
                healthy.append((asset, model.last))
        faults = confirmed_faults(session, tenant, [a.id for a, _ in healthy], now)
        return {a.id: planner.condition(a, h, repeats(faults[a.id])) for a, h in healthy}

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
        open_recs = list(
            session.scalars(
                select(Recommendation).where(
                    Recommendation.tenant == tenant,
                    Recommendation.customer_id == customer_id,
                    Recommendation.status.in_(OPEN_STATUSES),
                )
            )
        )
        covered = {a for rec in open_recs for a in rec.asset_ids}
        points = [p for rec in open_recs if (p := self._revise(session, rec, conds, ctx, now, risk))]
        cooling = self._cooling_down(session, tenant, customer_id, now)
        at_risk = [
            c
            for a, c in conds.items()
            if a not in covered and a not in cooling and planner.needs_visit(c, self.policy)
        ]
        by_site: dict[str | None, list[planner.AssetCondition]] = {}
        for cond in at_risk:
            by_site.setdefault(cond.site, []).append(cond)
        for site_conds in by_site.values():
            points.append(self._open(session, tenant, customer_id, site_conds, ctx, now, risk))
        return points

    def _revise(
        self,
        session: Session,
        rec: Recommendation,
        conds: dict[str, planner.AssetCondition],
        ctx: planner.Customer,
        now: float,
        risk: float,
    ) -> Point | None:
        mine = [conds[a] for a in rec.asset_ids if a in conds]
        if rec.source != "predictor" or not mine:
            return None
        if rec.status == "open" and planner.should_cancel(mine, self.policy):
            self._close(session, rec, "cancelled", "risk_gone", now)
            return None
        plan = planner.plan_visit(mine, ctx, risk, now, self.policy)
        if not planner.escalates(rec.priority, rec.window_end, plan):
            return None
        rec.priority = min(rec.priority, plan.priority)
        rec.priority_score = max(rec.priority_score, plan.priority_score)
        rec.window_end = max(min(rec.window_end, plan.window_end), rec.window_start)
        rec.predicted_failure_at, rec.confidence, rec.reason = (
            plan.predicted_failure_at,
            plan.confidence,
            plan.reason,
        )
        rec.fits_sla, rec.risk_index, rec.updated_at = rec.sla_due_at <= rec.window_end, risk, now
        emit_webhook(session, rec.tenant, "visit.updated", now, recommendation_view(rec))
        return None

    def _open(
        self,
        session: Session,
        tenant: str,
        customer_id: str,
        conds: list[planner.AssetCondition],
        ctx: planner.Customer,
        now: float,
        risk: float,
    ) -> Point:
        plan = planner.plan_visit(conds, ctx, risk, now, self.policy)
        rec = Recommendation(
            id=f"rec_{uuid.uuid4().hex[:20]}",
            tenant=tenant,
            customer_id=customer_id,
            site=plan.site,
            asset_ids=list(plan.asset_ids),
            status="open",
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
            source="predictor",
            created_at=now,
            updated_at=now,
        )
        session.add(rec)
        emit_webhook(session, tenant, "visit.recommended", now, recommendation_view(rec))
        self.recommendations_opened += 1
        log.info("recommended visit %s for %s (%s)", rec.id, ",".join(rec.asset_ids), rec.priority)
        return Point(
            "recommendation",
            {
                "tenant": tenant,
                "customer": customer_id,
                "asset": plan.asset_ids[0],
                "priority": plan.priority,
            },
            {
                "priority_score": plan.priority_score,
                "confidence": plan.confidence,
                "assets": float(len(plan.asset_ids)),
            },
            now,
        )

    def _cooling_down(self, session: Session, tenant: str, customer_id: str, now: float) -> set[str]:
        """Assets whose last recommendation closed recently enough that a new one would nag."""
        longest = max(self.policy.dismiss_cooldown_hours, self.policy.no_fault_cooldown_hours) * HOUR
        closed = session.scalars(
            select(Recommendation).where(
                Recommendation.tenant == tenant,
                Recommendation.customer_id == customer_id,
                Recommendation.closed_at >= now - longest,
            )
        )
        cooling: set[str] = set()
        for rec in closed:
            if rec.status == "dismissed":
                hours = self.policy.dismiss_cooldown_hours
            elif rec.status == "completed":
                found = bool(rec.outcome and rec.outcome.get("fault_found"))
                hours = self.policy.repair_cooldown_hours if found else self.policy.no_fault_cooldown_hours
            else:
                continue
            if rec.closed_at is not None and rec.closed_at >= now - hours * HOUR:
                cooling.update(rec.asset_ids)
        return cooling

    @staticmethod
    def _close(session: Session, rec: Recommendation, status: str, reason: str, now: float) -> None:
        rec.status, rec.close_reason, rec.closed_at, rec.updated_at = status, reason, now, now
        emit_webhook(
            session, rec.tenant, "visit.cancelled", now, {**recommendation_view(rec), "reason": reason}
        )

    def sweep(self, session: Session, tenant: str, now: float) -> None:
        """Expire recommendations whose window has passed without a visit."""
        recs = session.scalars(
            select(Recommendation).where(
                Recommendation.tenant == tenant, Recommendation.status.in_(OPEN_STATUSES)
            )
        )
        for rec in recs:
            if planner.expired(rec.window_end, now, self.policy):
                self._close(session, rec, "expired", "window_passed", now)

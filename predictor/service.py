"""The predictor's I/O edge: apply models to stored samples and field labels, persist health,
plan recommendations (with their webhooks in the same transaction) and refresh customer risk."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.contract import Sample
from forestall.state.models import Asset, AssetHealth, Customer, Event, Recommendation
from forestall.state.repo import emit_webhook
from forestall.state.views import OPEN_STATUSES, recommendation_view
from ingest.store import Point, TelemetryStore
from predictor import planner
from predictor.engine import Predictor
from predictor.models import Health
from predictor.riskstate import refresh_customer_risk
from predictor.riskstate import repeat_faults as count_repeat_faults

log = logging.getLogger(__name__)
HOUR = 3600.0


@dataclass(slots=True)
class _Changed:
    asset: Asset
    health: Health


class PredictorService:
    def __init__(
        self,
        predictor: Predictor,
        store: TelemetryStore,
        policy: planner.PlannerPolicy | None = None,
    ) -> None:
        self.predictor = predictor
        self.store = store
        self.policy = policy or planner.PlannerPolicy()
        self._changed: dict[tuple[str, str], _Changed] = {}
        self.recommendations_opened = 0

    def observe(self, asset: Asset, samples: Sequence[Sample]) -> None:
        """Feed samples in event-time order; persisted by the next ``flush``."""
        health = None
        for sample in sorted(samples, key=lambda s: s.ts):
            health = self.predictor.observe(
                asset.tenant, asset.id, asset.asset_type, sample.ts, sample.values
            )
        if health is not None:
            self._changed[(asset.tenant, asset.id)] = _Changed(asset, health)

    def flush(self, session: Session, now: dict[str, float]) -> None:
        """Persist health of the assets that changed, plan visits, refresh affected customers."""
        changed, self._changed = self._changed, {}
        points: list[Point] = []
        customers: set[tuple[str, str]] = set()
        for (tenant, _asset), item in changed.items():
            self._store_health(session, item.asset, item.health)
            points.append(_health_point(item.asset, item.health, self.predictor.version))
            if item.asset.customer_id:
                customers.add((tenant, item.asset.customer_id))
        for tenant, customer_id in sorted(customers):
            clock = now.get(tenant)
            if clock is None:
                continue
            risk = refresh_customer_risk(session, tenant, customer_id, clock)
            if risk is not None:
                points.append(
                    Point(
                        "customer_risk",
                        {"tenant": tenant, "customer": customer_id},
                        {"risk_index": risk.risk_index, **risk.contributions},
                        clock,
                    )
                )
                points.extend(self._plan_customer(session, tenant, customer_id, clock, risk.risk_index))
        if points:
            self.store.write_points(points)

    def _store_health(self, session: Session, asset: Asset, health: Health) -> None:
        row = session.get(AssetHealth, (asset.tenant, asset.id))
        if row is None:
            row = AssetHealth(tenant=asset.tenant, asset_id=asset.id)
            session.add(row)
        row.at, row.anomaly_score, row.failure_probability = (
            health.at,
            health.anomaly_score,
            health.failure_probability,
        )
        row.ttf_hours, row.ttf_low_hours, row.ttf_high_hours = (
            health.ttf_hours,
            health.ttf_low_hours,
            health.ttf_high_hours,
        )
        row.model_version, row.top_sensors, row.drift = (
            self.predictor.version,
            list(health.top_sensors),
            False,
        )

    # -- planning -------------------------------------------------------------------------

    def _conditions(
        self, session: Session, tenant: str, assets: Iterable[Asset], now: float
    ) -> dict[str, planner.AssetCondition]:
        result = {}
        for asset in assets:
            model = self.predictor.assets.get((tenant, asset.id))
            health = model.last if model is not None and not model.down else None
            if health is None:
                continue
            repeats = count_repeat_faults(session, tenant, [asset.id], now)
            result[asset.id] = planner.condition(asset, health, repeats)
        return result

    def _plan_customer(
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

    # -- labels from the field -------------------------------------------------------------

    def apply_event(self, session: Session, event: Event) -> None:
        """Turn an outcome or maintenance event into labels for the asset's models.

        The worker passes only events of the assets its partition owns.
        """
        if event.asset_id is None:
            return
        asset = session.get(Asset, (event.tenant, event.asset_id))
        asset_type = asset.asset_type if asset else "unknown"
        label = _label_of(event)
        if label is not None:
            self.predictor.label(event.tenant, event.asset_id, asset_type, label, event.occurred_at)


def _label_of(event: Event) -> str | None:
    data = event.data
    if event.kind == "outcome":
        return "fault" if data.get("fault_found") else "no_fault"
    if event.kind == "maintenance":
        kind = data.get("kind")
        if kind == "failure":
            return "failure"
        if kind == "repair":
            return "repair"
        if kind == "inspection":
            return "fault" if data.get("fault_code") else "no_fault"
    return None


def _health_point(asset: Asset, health: Health, version: str) -> Point:
    fields = {"anomaly_score": health.anomaly_score, "failure_probability": health.failure_probability}
    for name in ("ttf_hours", "ttf_low_hours", "ttf_high_hours"):
        value = getattr(health, name)
        if value is not None:
            fields[name] = value
    tags = {
        "tenant": asset.tenant,
        "asset": asset.id,
        "customer": asset.customer_id or "",
        "model_version": version,
    }
    return Point("asset_health", tags, fields, health.at)

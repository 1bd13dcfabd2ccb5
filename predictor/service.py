"""The predictor's I/O edge: apply models to stored samples and field labels, persist health,
plan recommendations (with their webhooks in the same transaction) and refresh customer risk."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forestall.contract import Sample
from forestall.state.models import Asset, AssetHealth, Event
from ingest.store import Point, TelemetryStore
from predictor import planner
from predictor.engine import Predictor
from predictor.models import Health
from predictor.riskstate import refresh_customer_risk
from predictor.visits import Visits

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
        self.visits = Visits(predictor, policy or planner.PlannerPolicy())
        self._changed: dict[tuple[str, str], _Changed] = {}

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
                points.extend(self.visits.plan_customer(session, tenant, customer_id, clock, risk.risk_index))
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
            health.drift,
        )

    def sweep(self, session: Session, tenant: str, now: float) -> None:
        self.visits.sweep(session, tenant, now)

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

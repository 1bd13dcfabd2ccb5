"""The predictor's I/O edge: one call per chunk of stored telemetry (``process``).

It reads the field's labels from the events table, feeds the chunk's samples to the models
(labels wait for the data they label: ``models``), persists each changed asset's health,
refreshes the affected customers' risk and applies the visit policy, writing webhooks to the
outbox in the same transaction. The worker only stores telemetry and calls ``process``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from forestall.contract import Sample
from forestall.measurements import SEGMENTED, event_points
from forestall.series import Point, TelemetryStore
from forestall.state.models import Asset, AssetHealth, Customer, Event, EventClock
from forestall.vocab import SENSOR_REPAIR
from predictor import planner
from predictor.alerts import most_at_risk
from predictor.engine import Predictor
from predictor.experiencestate import INDEX_OWNER, ExperienceLearning
from predictor.models import Health
from predictor.riskstate import asset_risks, refresh_customer_risk
from predictor.visits import Visits

log = logging.getLogger(__name__)
EVENTS_PER_CHUNK = 1000
PLAN_EVERY_S = 600.0  # event time: health is recorded, visits planned and lapsed ones expired this often
Owns = Callable[[str, str], bool]


class PredictorService:
    def __init__(
        self,
        predictor: Predictor,
        store: TelemetryStore,
        policy: planner.PlannerPolicy | None = None,
        owns: Owns | None = None,
    ) -> None:
        self.predictor = predictor
        self.store = store
        self.visits = Visits(predictor, policy or planner.PlannerPolicy())
        self.experience = ExperienceLearning()  # the Experience index of the tenants it owns
        self.owns: Owns = owns or (lambda _tenant, _asset: True)
        self._planned: dict[tuple[str, str], float] = {}  # probability when last planned, per asset
        self._sensors_planned: dict[tuple[str, str], frozenset[str]] = {}  # faulty channels when last planned
        self._swept: dict[str, float] = {}  # per tenant: its event clock at the last expiry sweep
        self._lapsed: set[tuple[str, str]] = set()  # assets whose recommendation expired: plan on new data

    def process(
        self, session: Session, batches: Sequence[tuple[Asset, Sequence[Sample]]], clocks: Mapping[str, float]
    ) -> int:
        """Labels, then the chunk's samples, health, risk and visits; returns recommendations opened.

        The samples are taken in event-time slices of ``PLAN_EVERY_S``; each slice's health is
        recorded, recommendations whose window passed by the slice's end are expired, and visits
        are planned after a slice in which an asset's probability crossed a threshold of the
        policy, a label was applied or, for an asset whose recommendation expired, new data came
        (and for every changed asset at the end): a chunk that holds hours of a backlog gets the
        decisions it would have got live, at the event time they were due, without planning
        after every slice.
        """
        opened = self.visits.recommendations_opened
        pending: dict[tuple[str, str], Asset] = {}
        points: list[Point] = []
        for key in self._read_labels(session, points):
            if (asset := session.get(Asset, key)) is not None:
                pending[key] = asset
        changed: dict[tuple[str, str], Asset] = dict(pending)
        for slice_, now in self._slices(batches, clocks):
            for ts, asset, sample in slice_:
                self.predictor.observe(asset.tenant, asset.id, asset.asset_type, ts, sample.values)
                key = (asset.tenant, asset.id)
                changed[key] = asset
                if self._crossed(key) or key in self._lapsed:
                    pending[key] = asset
                    self._lapsed.discard(key)
            for tenant, clock in now.items():
                for key in self.predictor.advance(tenant, clock, time.time()):
                    if (asset := pending.get(key) or session.get(Asset, key)) is not None:
                        pending[key] = changed[key] = asset
                self._expire(session, tenant, clock)
                if self.owns(tenant, INDEX_OWNER):  # a day of customer-days, learnt from outcomes
                    points.extend(self.experience.advance(session, tenant, clock))
            points.extend(self._health_points({(a.tenant, a.id): a for _, a, _ in slice_}.values()))
            if pending:
                points.extend(self._plan(session, pending.values(), now))
                pending = {}
        points.extend(self._plan(session, changed.values(), dict(clocks)))
        if points:
            self.store.write_points(points)
        return self.visits.recommendations_opened - opened

    @staticmethod
    def _slices(
        batches: Sequence[tuple[Asset, Sequence[Sample]]], clocks: Mapping[str, float]
    ) -> Iterator[tuple[list[tuple[float, Asset, Sample]], dict[str, float]]]:
        """The chunk's samples in event-time slices, with each tenant's clock at the slice's end."""
        timeline = sorted(
            (
                (sample.ts, n, asset, sample)
                for n, (asset, samples) in enumerate(batches)
                for sample in samples
            ),
            key=lambda item: (item[0], item[1]),
        )
        start = 0
        while start < len(timeline):
            bucket = math.floor(timeline[start][0] / PLAN_EVERY_S)
            end = start
            while end < len(timeline) and math.floor(timeline[end][0] / PLAN_EVERY_S) == bucket:
                end += 1
            slice_ = [(ts, asset, sample) for ts, _, asset, sample in timeline[start:end]]
            now = {asset.tenant: ts for ts, asset, _ in slice_}
            if end == len(timeline):  # the last slice: the tenants' clocks as ingest moved them
                now.update(clocks)
            yield slice_, now
            start = end
        if not timeline:
            yield [], dict(clocks)

    def _crossed(self, key: tuple[str, str]) -> bool:
        """Whether the probability crossed the open or the cancel threshold since it was last planned
        on, or the asset's faulty sensors changed."""
        model = self.predictor.assets[key]
        if frozenset(model.sensors.faults) != self._sensors_planned.get(key, frozenset()):
            return True
        p = model.last.failure_probability if model.last is not None else 0.0
        before = self._planned.get(key, 0.0)
        policy = self.visits.policy
        return (before < policy.open_probability <= p) or (p < policy.cancel_probability <= before)

    # -- labels from the field -------------------------------------------------------------

    def _read_labels(self, session: Session, points: list[Point]) -> list[tuple[str, str]]:
        """Queue the labels of new events (for the assets this worker owns); the assets they touched.

        Each event this worker owns (by its asset, or else its customer) also adds its points to
        ``points`` (``forestall.measurements``: feedback, incidents, failures, visit outcomes).
        """
        events = session.scalars(
            select(Event)
            .where(Event.id > self.predictor.event_cursor)
            .order_by(Event.id)
            .limit(EVENTS_PER_CHUNK)
        )
        touched: list[tuple[str, str]] = []
        for event in events:
            self.predictor.event_cursor = event.id
            owner = event.asset_id or event.customer_id
            if owner is not None and self.owns(event.tenant, owner):
                customer = (
                    session.get(Customer, (event.tenant, event.customer_id))
                    if event.customer_id and event.kind in SEGMENTED
                    else None
                )
                segment = customer.segment if customer is not None else None
                points.extend(
                    event_points(
                        event.id,
                        event.kind,
                        event.tenant,
                        event.customer_id,
                        event.asset_id,
                        event.occurred_at,
                        event.data,
                        segment,
                    )
                )
            if event.kind == "grafana_alert":
                touched.extend(self._take_alert(session, event))
                continue
            label = label_of(event)
            if label is None or event.asset_id is None or not self.owns(event.tenant, event.asset_id):
                continue
            asset = session.get(Asset, (event.tenant, event.asset_id))
            asset_type = asset.asset_type if asset else "unknown"
            self.predictor.label(
                event.tenant, event.asset_id, asset_type, label, event.occurred_at, time.time()
            )
            touched.append((event.tenant, event.asset_id))
        return touched

    def _take_alert(self, session: Session, event: Event) -> list[tuple[str, str]]:
        """A Grafana alert (recorded by the API) marks its asset, or for a customer-level alert the
        customer's assets most at risk, for the planner; a resolved one clears the mark."""
        name = str(event.data.get("alertname") or "grafana")
        resolved = event.data.get("status") == "resolved"
        if event.asset_id is not None:
            targets = [event.asset_id]
        elif event.customer_id is not None:
            # ranked on the state DB's health, which every partition sees alike (each then marks
            # those of the chosen assets it owns)
            chances = {
                r.asset_id: r.failure_probability
                for r in asset_risks(session, event.tenant, event.customer_id)
            }
            targets = list(chances) if resolved else most_at_risk(chances)
        else:
            return []
        touched = []
        for asset_id in targets:
            key = (event.tenant, asset_id)
            if not self.owns(*key):
                continue
            if resolved:
                self.predictor.alerts.resolve(key, name)
            else:
                self.predictor.alerts.fire(key, name, float(event.data.get("notified_at", event.occurred_at)))
            touched.append(key)
        return touched

    # -- health, risk, visits --------------------------------------------------------------

    def _health_points(self, assets: Iterable[Asset]) -> list[Point]:
        out = []
        for asset in assets:
            model = self.predictor.assets.get((asset.tenant, asset.id))
            if model is not None and model.last is not None:
                out.append(_health_point(asset, model.last, self.predictor.version))
        return out

    def _plan(self, session: Session, assets: Iterable[Asset], now: Mapping[str, float]) -> list[Point]:
        """Store the assets' health, refresh their customers' risk and apply the visit policy."""
        points: list[Point] = []
        customers: set[tuple[str, str]] = set()
        for asset in assets:
            model = self.predictor.assets.get((asset.tenant, asset.id))
            if model is None or model.last is None:
                continue
            self._store_health(session, asset, model.last)
            self._planned[(asset.tenant, asset.id)] = model.last.failure_probability
            self._sensors_planned[(asset.tenant, asset.id)] = frozenset(model.sensors.faults)
            if asset.customer_id:
                customers.add((asset.tenant, asset.customer_id))
        planned: dict[str, float] = {}
        for tenant, customer_id in sorted(customers):
            clock = now.get(tenant)
            if clock is None:
                row = session.get(EventClock, tenant)
                clock = row.now if row is not None else None
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
            planned[tenant] = clock
        for tenant, clock in planned.items():
            points.extend(self.visits.schedule(session, tenant, clock))
        return points

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

    def _expire(self, session: Session, tenant: str, clock: float) -> None:
        """Expire the tenant's recommendations whose window passed by its event clock.

        In event time, every ``PLAN_EVERY_S`` of the tenant's clock: a backlog replayed at a
        hundred event hours a second expires them when they lapsed, not seconds of wall clock
        (and days of event time) later, and their assets get a successor on their next data.
        """
        last = self._swept.get(tenant)
        if last is not None and clock - last < PLAN_EVERY_S:
            return
        self._swept[tenant] = clock
        for asset_id in self.visits.sweep(session, tenant, clock):
            self._lapsed.add((tenant, asset_id))


def label_of(event: Event) -> str | None:
    """The model label an outcome or maintenance event amounts to (None: not a label)."""
    data = event.data
    if event.kind == "outcome" and data.get("recommendation_kind") == "sensor_check":
        # a sensor check's technician repaired the sensor or found it sound: either way the sensor
        # reads as it should now (its baseline is learnt again); nothing is said of the machine
        return f"{SENSOR_REPAIR}:{data['sensor']}" if data.get("sensor") else SENSOR_REPAIR
    if event.kind == "outcome":
        return "fault" if data.get("fault_found") else "no_fault"
    if event.kind == "maintenance":
        kind = data.get("kind")
        if kind == "failure":
            return "failure"
        if kind == "repair":
            return "repair"
        if kind == SENSOR_REPAIR:
            return f"{SENSOR_REPAIR}:{data['sensor']}" if data.get("sensor") else SENSOR_REPAIR
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

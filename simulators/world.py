"""The physical world without any I/O: customers, their assets and machines, visits, metrics.

``Fleet`` wires this to the API, the edge agents and the sim channel; backtests can drive it
directly. Metrics follow ARCHITECTURE.md §6: a *prevented* failure is a fault a preventive
visit repaired before the machine failed; a *false visit* is a preventive visit that found
nothing. Corrective visits (sent after a failure) are counted apart.

>>> world = World(FleetSpec(assets=6, customers=2), start=0.0)
>>> [a.id for a in world.assets][:4]
['pump-0001', 'chiller-0001', 'compressor-0001', 'pump-0002']
>>> report = world.perform_visit(VisitRequest("pump-0001", "v1", None, 3600.0, "preventive"))
>>> report.fault_found, world.metrics.false_visits, world.metrics.visits_completed
(False, 1, 1)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from typing import Final

from forestall.vocab import SENSOR_FAULT_KINDS
from simulators.customers import Customer, CustomerEvent, CustomerStream, make_customers
from simulators.operating import HARDER, Conditions
from simulators.physics import (
    DEFAULT_ONSET_RATE_PER_H,
    Equipment,
    FailureEvent,
    SensorDefect,
    VisitReport,
    make_equipment,
)
from simulators.worlds import WorldFile, default_world

SEGMENT_WEIGHT: Final = {"key": 3.0, "standard": 2.0, "smb": 1.0}  # key accounts own more machines


@dataclass(frozen=True, slots=True)
class FleetSpec:
    tenant: str = "demo"
    assets: int = 50
    customers: int = 10
    seed: int = 7
    asset_types: tuple[str, ...] = ("pump", "chiller", "compressor")
    sample_interval_s: float = 600.0
    onset_rate_per_h: float = DEFAULT_ONSET_RATE_PER_H
    degradation_hours: tuple[float, float] | None = None  # None: each failure mode's P-F interval
    healthy_hours: float = 6.0  # commissioning: no fault starts this early, so models see normal first
    sensor_fault_share: float = 0.1  # share of assets with a broken sensor (each kind in turn)
    sensor_fault_hours: tuple[float, float] = (48.0, 480.0)  # its onset, in hours after the start
    # How hard the world is to read (simulators.operating); these defaults are the harder world,
    # ``easy(spec)`` today's world of a daily duty cycle in a constant climate.
    load_cycles: float = HARDER.load_cycles  # share of the load swing that follows setpoints held for hours
    ambient_c: float = HARDER.ambient_c  # the season's half-swing of the machine room's air, °C
    idle_share: float = HARDER.idle_share  # share of the time machines stand idle (spells of 2-12 h)
    load_noise: float = HARDER.load_noise  # noise × (load / 0.5) ** load_noise
    fault_load_exponent: float = HARDER.fault_load_exponent  # early faults show at high load only
    load_channel: bool = HARDER.load_channel  # machines report load_pct

    def __post_init__(self) -> None:
        if self.assets < 1 or self.customers < 1 or not self.asset_types or self.sample_interval_s <= 0:
            raise ValueError("a fleet needs >= 1 asset, >= 1 customer, asset types and a positive interval")
        if not 0.0 <= self.sensor_fault_share <= 1.0:
            raise ValueError("sensor_fault_share is a share of the assets: 0 to 1")
        _ = self.conditions  # each knob within its documented range

    @property
    def conditions(self) -> Conditions:
        """The operating conditions of every machine (``simulators.operating``)."""
        return Conditions(
            load_cycles=self.load_cycles,
            ambient_c=self.ambient_c,
            idle_share=self.idle_share,
            load_noise=self.load_noise,
            fault_load_exponent=self.fault_load_exponent,
            load_channel=self.load_channel,
        )


def easy(spec: FleetSpec) -> FleetSpec:
    """``spec`` in the easy world: a daily duty cycle in a constant climate, no broken sensors.

    >>> easy(FleetSpec()).conditions == Conditions() and easy(FleetSpec()).sensor_fault_share == 0.0
    True
    """
    return replace(with_conditions(spec, Conditions()), sensor_fault_share=0.0)


def with_conditions(spec: FleetSpec, conditions: Conditions) -> FleetSpec:
    """``spec`` with every machine in ``conditions``."""
    return replace(
        spec,
        load_cycles=conditions.load_cycles,
        ambient_c=conditions.ambient_c,
        idle_share=conditions.idle_share,
        load_noise=conditions.load_noise,
        fault_load_exponent=conditions.fault_load_exponent,
        load_channel=conditions.load_channel,
    )


@dataclass(frozen=True, slots=True)
class AssetInfo:
    id: str
    customer_id: str
    asset_type: str
    site: str
    criticality: int  # 1-5
    safety_critical: bool


@dataclass(frozen=True, slots=True)
class VisitRequest:
    asset_id: str
    visit_id: str
    recommendation_id: str | None
    at: float  # event time the technician arrives
    kind: str  # preventive | corrective | sensor_check


@dataclass(slots=True)
class WorldMetrics:
    failures_occurred: int = 0
    failures_prevented: int = 0
    false_visits: int = 0
    visits_completed: int = 0  # preventive visits done
    corrective_visits: int = 0
    sensor_checks: int = 0  # visits to check a sensor (not counted as preventive or false visits)
    sensor_repairs: int = 0  # … that found the sensor broken and repaired it
    samples_published: int = 0  # filled in by the Fleet from its agents' PUBACKed samples
    by_fault: dict[str, int] = field(default_factory=dict)  # failures occurred per fault code

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _layout(spec: FleetSpec, customers: list[Customer]) -> list[AssetInfo]:
    """Spread the assets over the customers (each gets one first) and 1-3 sites per customer."""
    rng = random.Random(f"forestall-fleet:{spec.seed}")
    sites = {c.id: [f"{c.id}-site-{k + 1}" for k in range(rng.randint(1, 3))] for c in customers}
    weights = [SEGMENT_WEIGHT.get(c.segment, 1.0) for c in customers]
    counters: dict[str, int] = {}
    assets = []
    for index in range(spec.assets):
        owner = customers[index] if index < len(customers) else rng.choices(customers, weights)[0]
        asset_type = spec.asset_types[index % len(spec.asset_types)]
        counters[asset_type] = counters.get(asset_type, 0) + 1
        criticality = rng.choices((1, 2, 3, 4, 5), weights=(1, 2, 4, 2, 1))[0]
        assets.append(
            AssetInfo(
                id=f"{asset_type}-{counters[asset_type]:04d}",
                customer_id=owner.id,
                asset_type=asset_type,
                site=rng.choice(sites[owner.id]),
                criticality=criticality,
                safety_critical=rng.random() < (0.35 if criticality >= 4 else 0.05),
            )
        )
    return assets


class World:
    """The simulated physical world; one thread drives it."""

    def __init__(self, spec: FleetSpec, start: float, world: WorldFile | None = None) -> None:
        self.spec = spec
        self.start = start
        self.world = world or default_world()  # how customers react (simulators.worlds)
        self.customers = make_customers(spec.customers, spec.seed, self.world)
        self.assets = _layout(spec, self.customers)
        self.asset_by_id = {a.id: a for a in self.assets}
        conditions = spec.conditions
        self.equipment: dict[str, Equipment] = {
            a.id: make_equipment(
                a.asset_type,
                a.id,
                spec.seed,
                start,
                onset_rate_per_h=spec.onset_rate_per_h,
                degradation_hours=spec.degradation_hours,
                healthy_hours=spec.healthy_hours,
                conditions=conditions,
            )
            for a in self.assets
        }
        self.streams = {c.id: CustomerStream(c, spec.seed, start, self.world) for c in self.customers}
        self.metrics = WorldMetrics()
        self.failures: list[FailureEvent] = []
        self.sensor_defects = self._break_sensors()  # ground truth: every broken sensor, by asset

    def _break_sensors(self) -> dict[str, SensorDefect]:
        """``sensor_fault_share`` of the assets get a broken sensor, the kinds in turn."""
        share = self.spec.sensor_fault_share
        if share <= 0:
            return {}
        rng = random.Random(f"forestall-sensors:{self.spec.seed}")
        count = max(1, round(share * len(self.assets)))
        low, high = self.spec.sensor_fault_hours
        defects = {}
        for n, asset in enumerate(rng.sample(self.assets, count)):
            equipment = self.equipment[asset.id]
            channel = rng.choice(equipment.sensors)
            onset = self.start + rng.uniform(low, high) * 3600.0
            defect = SensorDefect(channel, SENSOR_FAULT_KINDS[n % len(SENSOR_FAULT_KINDS)], onset)
            equipment.sensor_defect = defects[asset.id] = defect
        return defects

    def advance(self, now: float) -> list[FailureEvent]:
        """Advance every machine to ``now``; the failures that happened, each once."""
        events: list[FailureEvent] = []
        for equipment in self.equipment.values():
            events.extend(equipment.advance(now))
        for event in sorted(events, key=lambda e: e.at):
            self._record_failure(event)
        return events

    def _record_failure(self, event: FailureEvent) -> None:
        self.failures.append(event)
        self.metrics.failures_occurred += 1
        self.metrics.by_fault[event.fault_code] = self.metrics.by_fault.get(event.fault_code, 0) + 1
        self.streams[self.asset_by_id[event.asset_id].customer_id].record_failure(event.at, event.asset_id)

    def perform_visit(self, request: VisitRequest) -> VisitReport:
        """The technician arrives at ``request.at``: inspect, repair what is wrong, count it."""
        if request.asset_id not in self.equipment:
            raise KeyError(f"no such asset in this world: {request.asset_id!r}")
        equipment = self.equipment[request.asset_id]
        for event in equipment.advance(request.at):
            self._record_failure(event)
        stream = self.streams[self.asset_by_id[request.asset_id].customer_id]
        if request.kind == "sensor_check":
            report = self._check_sensor(equipment, request.at)
            stream.record_visit(request.at, report.fault_found)
            return report
        corrective = request.kind == "corrective"
        report = equipment.inspect_and_repair(request.at, corrective=corrective)
        if corrective:
            self.metrics.corrective_visits += 1
        else:
            self.metrics.visits_completed += 1
            self.metrics.false_visits += not report.fault_found
            stream.record_visit(request.at, report.fault_found)  # a repair they asked for is no bother
        self.metrics.failures_prevented += report.prevented
        if not equipment.failed:
            stream.record_repair(request.asset_id, request.at)
        return report

    def _check_sensor(self, equipment: Equipment, at: float) -> VisitReport:
        """A technician checks the sensors: a broken one is repaired; the machine is not inspected."""
        defect = equipment.repair_sensor(at)
        self.metrics.sensor_checks += 1
        self.metrics.sensor_repairs += defect is not None
        code = f"sensor:{defect.channel}" if defect is not None else None
        return VisitReport(
            fault_found=defect is not None, fault_code=code, repaired=defect is not None, prevented=False
        )

    def customer_events(self, now: float) -> list[CustomerEvent]:
        """Incidents and surveys that became known up to ``now``, over all customers."""
        events: list[CustomerEvent] = []
        for stream in self.streams.values():
            events.extend(stream.advance(now))
        return sorted(events, key=lambda e: e.at)

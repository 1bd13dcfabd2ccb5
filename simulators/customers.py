"""Simulated customers: who they are, what happens to them, how they react (pure).

Each customer has a segment, an SLA tier, a visit sensitivity, a latent satisfaction and what
they mind (``simulators.reactions.Minds``, drawn around the world file's strengths). In event
time they open tickets, suffer billing errors, supply interruptions and unrelated outages, and
answer surveys (CSAT 1-5, NPS 0-10, CES 1-7). Equipment failures at the customer *disrupt* them:
for a few days tickets, supply interruptions and surveys come more often. Everything that
happens to them adds to their *grievance* (``simulators.reactions``): failures, outage hours,
tickets resolved late, billing errors, visits. Their negative outcomes follow from it:
escalations, low scores (a detractor NPS) and contracts ended or downgraded. The outage caused by
a failure itself is reported by the FSM system, not by this stream.

Time is cut into whole hours. Each hour draws its events from its own seeded generator, the same
number of draws whatever happens, so the stream does not depend on how often ``advance`` is
called, and two runs that differ in one visit differ only where that visit's reaction reaches.

>>> customers = make_customers(3, seed=7)
>>> [c.id for c in customers]
['cust-001', 'cust-002', 'cust-003']
>>> stream = CustomerStream(customers[0], seed=7, start=0.0)
>>> events = stream.advance(90 * DAY)
>>> all(0.0 <= e.at <= 90 * DAY for e in events) and len(events) > 10
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from forestall.vocab import service_level
from simulators.reactions import DAY as DAY  # re-exported: the stream's time units
from simulators.reactions import HOUR as HOUR
from simulators.reactions import (
    Grievance,
    Minds,
    chance,
    contract_per_hour,
    draw_minds,
    escalation_per_hour,
    own_factor,
    survey_quality,
)
from simulators.worlds import WorldFile, default_world

SEGMENTS: Final = ("key", "standard", "smb")  # the simulated mix: no enterprise accounts
INCIDENT_KINDS: Final = ("outage", "supply_interruption", "escalation", "billing_error", "ticket")
SURVEY_KINDS: Final = ("csat", "nps", "ces")
CONTRACT_KINDS: Final = ("ended", "downgraded")
# The order each hour draws in; every kind draws DRAWS_PER_KIND numbers, happen or not.
DRAW_ORDER: Final = (
    "ticket",
    "billing_error",
    "supply_interruption",
    "outage",
    "escalation",
    "survey",
    "contract",
)
DRAWS_PER_KIND: Final = 4

# A fresh failure (disruption 1) multiplies each rate by 1 + gain.
DISRUPTION_GAIN: Final = {"ticket": 1.0, "supply_interruption": 2.0}
SEGMENT_VOLUME: Final = {"key": 1.6, "standard": 1.0, "smb": 0.6}
TIER_BY_SEGMENT: Final = {
    "key": ("platinum", "platinum", "gold"),
    "standard": ("gold", "silver", "silver"),
    "smb": ("silver", "bronze", "bronze"),
}
DISRUPTION_TAU_H: Final = 72.0  # a failure's disruption fades to 37 % after three days
LATE_RATIO_CAP: Final = 5.0  # a ticket this many targets late weighs as much as any later one
NAMES: Final = (
    "Northwind Utilities",
    "Harbor Cold Storage",
    "Alder Hospital",
    "Summit Foods",
    "Riverside Mall",
    "Cobalt Data Center",
    "Greenfield Dairy",
    "Meridian Hotels",
    "Oakridge Schools",
    "Pioneer Plastics",
    "Bluewater Brewing",
    "Keystone Logistics",
    "Lakeside Offices",
    "Granite Pharma",
    "Willow Farms",
)
_NORMAL: Final = NormalDist()


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    segment: str
    sla_tier: str
    visit_sensitivity: float
    satisfaction: float  # latent, 0..1; what surveys measure through their noise
    minds: Minds | None = None  # None: exactly the world's strengths


@dataclass(frozen=True, slots=True)
class Incident:
    customer_id: str
    kind: str
    opened_at: float
    resolved_at: float | None = None
    duration_min: float | None = None

    @property
    def at(self) -> float:
        """When the incident is known in full (reported): on resolution if it has one."""
        return self.resolved_at if self.resolved_at is not None else self.opened_at


@dataclass(frozen=True, slots=True)
class Survey:
    customer_id: str
    kind: str  # csat | nps | ces
    score: int
    at: float


@dataclass(frozen=True, slots=True)
class ContractEvent:
    customer_id: str
    kind: str  # ended | downgraded
    at: float


CustomerEvent = Incident | Survey | ContractEvent


def make_customers(count: int, seed: int, world: WorldFile | None = None) -> list[Customer]:
    """``count`` customers, about 20 % key accounts, half standard, the rest small business;
    their satisfaction, visit sensitivity and what they mind drawn as ``world`` says."""
    world = world or default_world()
    people = world.customers
    rng = random.Random(f"forestall-customers:{seed}")
    customers = []
    for index in range(count):
        segment = rng.choices(SEGMENTS, weights=(0.2, 0.5, 0.3))[0]
        name = NAMES[index % len(NAMES)] + (f" {index // len(NAMES) + 1}" if index >= len(NAMES) else "")
        customer_id = f"cust-{index + 1:03d}"
        tier = rng.choice(TIER_BY_SEGMENT[segment])
        sensitivity = round(rng.uniform(*getattr(people.visit_sensitivity, segment)), 2)
        satisfaction = rng.uniform(*people.satisfaction)
        minds_rng = random.Random(f"forestall-minds:{seed}:{customer_id}")
        minds = draw_minds(world.reactions, sensitivity, people.spread, minds_rng)
        customers.append(Customer(customer_id, name, segment, tier, sensitivity, satisfaction, minds))
    return customers


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


def _normal(u: float) -> float:
    """The standard normal quantile of a uniform draw (one draw, whatever its value)."""
    return _NORMAL.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))


class CustomerStream:
    """One customer's incidents, surveys and contract events in event time, reacting to what
    happens to them."""

    def __init__(self, customer: Customer, seed: int, start: float, world: WorldFile | None = None) -> None:
        self.customer = customer
        self.world = world or default_world()
        self.minds = customer.minds or draw_minds(
            self.world.reactions, customer.visit_sensitivity, 0.0, random.Random(0)
        )
        self.grievance = Grievance(self.world.reactions.memory_days * DAY)
        self._seed = f"forestall-customer:{seed}:{customer.id}"
        # Some accounts are messier than others: their own rates of tickets and billing errors.
        exposure = random.Random(f"forestall-exposure:{seed}:{customer.id}")
        spread = self.world.customers.spread
        self.exposure = {kind: own_factor(exposure, spread) for kind in ("ticket", "billing_error")}
        self._next_hour = math.floor(start / HOUR)
        self._disruptions: list[float] = []  # failure times
        self._waiting: list[CustomerEvent] = []  # drawn; an incident is reported once resolved
        self._last_contract: float | None = None
        self.contract_ended = False
        self.failures = 0

    # -- what happens to the customer ---------------------------------------------------------

    def record_failure(self, at: float, machine: str | None = None) -> None:
        """A machine of theirs failed at ``at``; it is down until :meth:`record_repair`."""
        self.failures += 1
        self._disruptions.append(at)
        self.grievance.add(at, self.minds.failure)
        if machine is not None:
            self.grievance.open_outage(machine, at, self.minds.outage_hour)

    def record_repair(self, machine: str, at: float) -> None:
        """The machine is back in service at ``at``."""
        self.grievance.close_outage(machine, at)

    def record_visit(self, at: float, fault_found: bool) -> None:
        factor = 1.0 if fault_found else self.minds.false_visit_factor
        self.grievance.add(at, self.minds.visit * factor)

    def disruption(self, at: float) -> float:
        """How disrupted the customer is by recent failures (1 at a fresh failure, fading)."""
        return sum(math.exp(-(at - t) / (DISRUPTION_TAU_H * HOUR)) for t in self._disruptions if t <= at)

    def level(self, at: float) -> float:
        """The customer's grievance at ``at`` (``simulators.reactions``)."""
        return self.grievance.level(at)

    # -- what the customer does ---------------------------------------------------------------

    def rate_per_hour(self, kind: str, at: float, grievance: float | None = None) -> float:
        events, outcomes = self.world.events, self.world.outcomes
        volume = SEGMENT_VOLUME.get(self.customer.segment, 1.0)
        if kind == "escalation":
            level = self.level(at) if grievance is None else grievance
            return escalation_per_hour(events.escalations, volume, outcomes, level)
        if kind == "contract":
            last = self._last_contract
            if self.contract_ended or (last is not None and at - last < outcomes.contract_gap_days * DAY):
                return 0.0
            return contract_per_hour(outcomes, self.level(at) if grievance is None else grievance)
        per_day = {
            "ticket": events.tickets,
            "billing_error": events.billing_errors,
            "supply_interruption": events.supply_interruptions,
            "outage": events.outages,
            "survey": events.surveys,
        }[kind]
        own = self.exposure.get(kind, 1.0)
        return per_day / 24.0 * volume * own * (1.0 + DISRUPTION_GAIN.get(kind, 0.0) * self.disruption(at))

    def advance(self, now: float) -> list[CustomerEvent]:
        """Events that became known up to ``now``, in time order; each is returned once."""
        while (self._next_hour + 1) * HOUR <= now:
            self._draw_hour(self._next_hour * HOUR)
            self._next_hour += 1
        due = [e for e in self._waiting if e.at <= now]
        self._waiting = [e for e in self._waiting if e.at > now]
        return sorted(due, key=lambda e: e.at)

    def _draw_hour(self, hour_start: float) -> None:
        # Forgetting by the hour drawn (not by the caller's ``now``) keeps the stream step-free.
        self.grievance.forget(hour_start)
        cutoff = hour_start - 12 * DISRUPTION_TAU_H * HOUR
        self._disruptions = [t for t in self._disruptions if t >= cutoff]
        rng = random.Random(f"{self._seed}:{int(hour_start // HOUR)}")
        draws = [rng.random() for _ in range(len(DRAW_ORDER) * DRAWS_PER_KIND)]
        middle = hour_start + HOUR / 2
        level = self.level(middle)
        for n, kind in enumerate(DRAW_ORDER):
            happens, when, a, b = draws[n * DRAWS_PER_KIND : (n + 1) * DRAWS_PER_KIND]
            if happens >= chance(self.rate_per_hour(kind, middle, level)):
                continue
            at = hour_start + when * HOUR
            if kind == "survey":
                self._waiting.append(self._survey(at, a, b))
            elif kind == "contract":
                self._waiting.append(self._contract(at, a))
            else:
                self._waiting.append(self._incident(kind, at, a))

    def _incident(self, kind: str, at: float, a: float) -> Incident:
        cid = self.customer.id
        if kind == "ticket":
            target = service_level(self.customer.sla_tier).request_minutes
            slowness = math.exp(self.world.events.ticket_slowness * _normal(a))
            minutes = target * slowness * (1.0 + 0.2 * self.disruption(at))
            resolved = at + minutes * 60.0
            late = min(minutes / target, LATE_RATIO_CAP) - 1.0
            self.grievance.add(resolved, self.minds.slow_resolution * max(late, 0.0))
            return Incident(cid, kind, at, resolved, round(minutes, 1))
        if kind in ("outage", "supply_interruption"):
            hours = math.exp(math.log(2.0) + 0.6 * _normal(a))
            self.grievance.add_outage(at, at + hours * HOUR, self.minds.outage_hour)
            return Incident(cid, kind, at, at + hours * HOUR, round(hours * 60.0, 1))
        if kind == "billing_error":
            self.grievance.add(at, self.minds.billing_error)
        return Incident(cid, kind, at)

    def _survey(self, at: float, a: float, b: float) -> Survey:
        quality = survey_quality(self.customer.satisfaction, self.world.outcomes, self.level(at))
        kind = "csat" if a < 0.5 else "nps" if a < 0.8 else "ces"
        noise = _normal(b)
        if kind == "csat":
            score = _clamp(1.0 + 4.0 * quality + 0.5 * noise, 1, 5)
        elif kind == "nps":
            score = _clamp(10.0 * quality + noise, 0, 10)
        else:
            score = _clamp(7.0 - 6.0 * quality + 0.7 * noise, 1, 7)
        return Survey(self.customer.id, kind, score, at)

    def _contract(self, at: float, a: float) -> ContractEvent:
        kind = "downgraded" if a < self.world.outcomes.downgrade_share else "ended"
        self._last_contract = at
        self.contract_ended = kind == "ended"
        return ContractEvent(self.customer.id, kind, at)

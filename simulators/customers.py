"""Simulated customers: who they are, and the incidents and surveys they produce (pure).

Each customer has a segment, an SLA tier, a visit sensitivity and a latent satisfaction.
In event time they open tickets, suffer billing errors, supply interruptions, unrelated
outages and escalations, and answer surveys (CSAT 1-5, NPS 0-10, CES 1-7). Equipment
failures at the customer are *shocks*: for a few days afterwards escalations, tickets and
surveys come more often and the scores drop. Visits shock sensitive customers a little,
false visits more. The outage caused by a failure itself is reported by the FSM system,
not by this stream.

Time is cut into whole hours; each hour draws its events from the customer's own seeded
generator, so the stream does not depend on how often ``advance`` is called.

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
from typing import Final

from forestall.vocab import service_level

HOUR: Final = 3600.0
DAY: Final = 86400.0
SEGMENTS: Final = ("key", "standard", "smb")  # the simulated mix: no enterprise accounts
INCIDENT_KINDS: Final = ("outage", "supply_interruption", "escalation", "billing_error", "ticket")
SURVEY_KINDS: Final = ("csat", "nps", "ces")

# Events per day for a standard customer without recent shocks.
BASE_RATES_PER_DAY: Final = {
    "ticket": 0.3,
    "billing_error": 0.02,
    "supply_interruption": 0.03,
    "escalation": 0.02,
    "outage": 0.01,
    "survey": 0.25,
}
# A fresh failure (stress 1) multiplies each rate by 1 + gain.
STRESS_GAIN: Final = {
    "ticket": 3.0,
    "billing_error": 0.0,
    "supply_interruption": 4.0,
    "escalation": 10.0,
    "outage": 0.0,
    "survey": 4.0,
}
SEGMENT_VOLUME: Final = {"key": 1.6, "standard": 1.0, "smb": 0.6}
TIER_BY_SEGMENT: Final = {
    "key": ("platinum", "platinum", "gold"),
    "standard": ("gold", "silver", "silver"),
    "smb": ("silver", "bronze", "bronze"),
}
STRESS_TAU_H: Final = 72.0  # a shock fades to 37 % after three days
FAILURE_SHOCK: Final = 1.0
VISIT_SHOCK: Final = 0.15  # * visit_sensitivity; a false visit counts three times
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


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    segment: str
    sla_tier: str
    visit_sensitivity: float
    satisfaction: float  # latent, 0..1; what surveys measure through their noise


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


CustomerEvent = Incident | Survey


def make_customers(count: int, seed: int) -> list[Customer]:
    """``count`` customers, about 20 % key accounts, half standard, the rest small business."""
    rng = random.Random(f"forestall-customers:{seed}")
    customers = []
    for index in range(count):
        segment = rng.choices(SEGMENTS, weights=(0.2, 0.5, 0.3))[0]
        name = NAMES[index % len(NAMES)] + (f" {index // len(NAMES) + 1}" if index >= len(NAMES) else "")
        customers.append(
            Customer(
                id=f"cust-{index + 1:03d}",
                name=name,
                segment=segment,
                sla_tier=rng.choice(TIER_BY_SEGMENT[segment]),
                visit_sensitivity=round(rng.uniform(0.05, 0.95), 2),
                satisfaction=rng.uniform(0.55, 0.9),
            )
        )
    return customers


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


class CustomerStream:
    """One customer's incidents and surveys in event time, reacting to failures and visits."""

    def __init__(self, customer: Customer, seed: int, start: float) -> None:
        self.customer = customer
        self._rng = random.Random(f"forestall-customer:{seed}:{customer.id}")
        self._next_hour = math.floor(start / HOUR)
        self._shocks: list[tuple[float, float]] = []  # (at, magnitude)
        self._waiting: list[CustomerEvent] = []  # drawn; an incident is reported once resolved
        self.failures = 0

    def record_failure(self, at: float) -> None:
        self.failures += 1
        self._shocks.append((at, FAILURE_SHOCK))

    def record_visit(self, at: float, fault_found: bool) -> None:
        magnitude = VISIT_SHOCK * self.customer.visit_sensitivity * (1.0 if fault_found else 3.0)
        self._shocks.append((at, magnitude))

    def stress(self, at: float) -> float:
        """Sum of past shocks, each fading exponentially."""
        return sum(m * math.exp(-(at - t) / (STRESS_TAU_H * HOUR)) for t, m in self._shocks if t <= at)

    def rate_per_hour(self, kind: str, at: float) -> float:
        volume = SEGMENT_VOLUME.get(self.customer.segment, 1.0)
        return BASE_RATES_PER_DAY[kind] / 24.0 * volume * (1.0 + STRESS_GAIN[kind] * self.stress(at))

    def advance(self, now: float) -> list[CustomerEvent]:
        """Events that became known up to ``now``, in time order; each is returned once."""
        while (self._next_hour + 1) * HOUR <= now:
            self._draw_hour(self._next_hour * HOUR)
            self._next_hour += 1
        cutoff = now - 10 * STRESS_TAU_H * HOUR
        self._shocks = [(t, m) for t, m in self._shocks if t >= cutoff]
        due = [e for e in self._waiting if e.at <= now]
        self._waiting = [e for e in self._waiting if e.at > now]
        return sorted(due, key=lambda e: e.at)

    def _draw_hour(self, hour_start: float) -> None:
        for kind in (*INCIDENT_KINDS, "survey"):
            rate = self.rate_per_hour(kind, hour_start + HOUR / 2)
            if self._rng.random() >= rate:
                continue
            at = hour_start + self._rng.uniform(0.0, HOUR)
            event: CustomerEvent = self._survey(at) if kind == "survey" else self._incident(kind, at)
            self._waiting.append(event)

    def _incident(self, kind: str, at: float) -> Incident:
        rng, cid = self._rng, self.customer.id
        if kind == "ticket":
            target = service_level(self.customer.sla_tier).request_minutes
            minutes = target * rng.lognormvariate(0.0, 0.5) * (1.0 + 0.5 * self.stress(at))
            return Incident(cid, kind, at, at + minutes * 60.0, round(minutes, 1))
        if kind in ("outage", "supply_interruption"):
            hours = rng.lognormvariate(math.log(2.0), 0.6)
            return Incident(cid, kind, at, at + hours * HOUR, round(hours * 60.0, 1))
        return Incident(cid, kind, at)

    def _survey(self, at: float) -> Survey:
        rng = self._rng
        quality = self.customer.satisfaction - 0.35 * min(self.stress(at), 2.0)
        kind = rng.choices(SURVEY_KINDS, weights=(0.5, 0.3, 0.2))[0]
        if kind == "csat":
            score = _clamp(1.0 + 4.0 * quality + rng.gauss(0.0, 0.5), 1, 5)
        elif kind == "nps":
            score = _clamp(10.0 * quality + rng.gauss(0.0, 1.0), 0, 10)
        else:
            score = _clamp(7.0 - 6.0 * quality + rng.gauss(0.0, 0.7), 1, 7)
        return Survey(self.customer.id, kind, score, at)

"""Technician capacity: which failure visit gets which technician's time, ranked by the harm it avoids.

Pure functions of the open recommendations (``Demand``), the registered technicians (``Crew``:
skills, regions and their working windows in UTC from ``forestall.workhours``), the time already
booked (``Booking``) and event time ``now``. The worker stores what ``schedule`` returns on each
recommendation; the backtests run the same function with other ranking keys to compare plans.

- **Harm.** A visit's expected customer harm avoided (``harm``) is the failure probability, times
  how soon the failure is due, times what the asset means (criticality, safety), times the customer:
  their Experience Risk Index, segment and SLA tier. Its factors are kept so the dispatcher sees
  why one visit comes before another.
- **Schedule.** In order of harm (then the earlier deadline), each visit takes the earliest slot
  of travel plus work that fits in one working window of a technician who may serve all its
  assets and is free then. A slot that ends by the visit's deadline (the predicted failure, at
  the latest the recommendation's window end) is *booked*; one that cannot is *overbooked*: the
  recommendation says so and carries the earliest slot that would fit, which is held too, so the
  plan stays one honest queue. No slot within the planning horizon: overbooked with no slot.

>>> crew = Crew("tech-1", frozenset({"pump"}), frozenset({"north"}), ((0.0, 8 * HOUR),))
>>> near = Demand("rec-a", frozenset({"pump"}), frozenset({"north"}), 2 * HOUR, 4 * HOUR, harm=0.9)
>>> far = Demand("rec-b", frozenset({"pump"}), frozenset({"north"}), 2 * HOUR, 3 * HOUR, harm=0.2)
>>> plan = schedule([far, near], [crew], [], 0.0)
>>> [(a.visit_id, a.overbooked, a.slot.start / HOUR if a.slot else None) for a in plan]
[('rec-a', False, 0.0), ('rec-b', True, 2.0)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from predictor.planner import SEGMENT_VALUE
from predictor.risk import TIER_FACTOR

HOUR = 3600.0

# How many hours ahead the scheduler looks for a slot (a recommendation beyond it is overbooked).
HORIZON_HOURS = 14 * 24.0
# A failure this many hours away weighs about 37 % of an imminent one in the harm.
URGENCY_HOURS = 72.0
SAFETY_WEIGHT = 1.5  # a safety-critical asset's failure harms more than its criticality says
INDEX_WEIGHT = 2.0  # a customer at index 100 weighs 1 + this as much as one at 0


@dataclass(frozen=True, slots=True)
class VisitEffort:
    """How long a visit keeps a technician: travel, then the work on its assets."""

    travel_hours: float = 1.0
    first_asset_hours: float = 2.0
    next_asset_hours: float = 0.5

    def seconds(self, assets: int) -> float:
        return (
            self.travel_hours + self.first_asset_hours + self.next_asset_hours * max(assets - 1, 0)
        ) * HOUR


@dataclass(frozen=True, slots=True)
class Crew:
    """A technician (or crew): the asset types they serve, their regions (sites or region labels)
    and their working windows in UTC epoch seconds, sorted and disjoint."""

    id: str
    skills: frozenset[str]
    regions: frozenset[str]
    windows: tuple[tuple[float, float], ...]

    def serves(self, demand: Demand) -> bool:
        """Every asset type of the visit is a skill, and a region covers its site (a visit whose
        assets have no site may go to anyone with the skills)."""
        return demand.asset_types <= self.skills and (not demand.places or bool(demand.places & self.regions))


@dataclass(frozen=True, slots=True)
class Demand:
    """An open failure recommendation that needs a technician.

    ``asset_types``: of its assets (a technician must have every one as a skill); ``places``:
    its site and region labels (a technician must cover one); ``duration``: travel and work in
    seconds; ``deadline``: when it must be done (event time); ``created_at`` orders first come,
    first served."""

    visit_id: str
    asset_types: frozenset[str]
    places: frozenset[str]
    duration: float
    deadline: float
    harm: float = 0.0
    created_at: float = 0.0
    factors: Mapping[str, float] = field(default_factory=dict)
    previous: Slot | None = None  # the slot an earlier plan gave it, kept while still free


@dataclass(frozen=True, slots=True)
class Booking:
    """Technician time already taken (a visit the FSM accepted or scheduled)."""

    technician_id: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Slot:
    technician_id: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Assignment:
    visit_id: str
    rank: int  # 1: served first
    slot: Slot | None  # booked, or for an overbooked visit the earliest that would fit (None: none)
    overbooked: bool
    harm: float

    def as_dict(self, factors: Mapping[str, float] | None = None) -> dict[str, object]:
        """What a recommendation stores of its place in the plan (``Recommendation.capacity``)."""
        return {
            "rank": self.rank,
            "harm": round(self.harm, 4),
            "technician_id": self.slot.technician_id if self.slot else None,
            "start": self.slot.start if self.slot else None,
            "end": self.slot.end if self.slot else None,
            "harm_factors": {k: round(v, 4) for k, v in (factors or {}).items()},
        }


def harm(
    failure_probability: float,
    ttf_hours: float | None,
    criticality: int,
    safety_critical: bool,
    risk_index: float,
    segment: str,
    sla_tier: str,
) -> tuple[float, dict[str, float]]:
    """Expected customer harm a visit avoids, and its factors (their product).

    Every factor grows with what makes a failure worse for the customer: a likelier or nearer
    failure, a more critical asset, a customer more at risk of leaving (index 0-100), a more
    valuable segment and a stricter SLA.

    >>> at_risk = harm(0.9, 12.0, 5, True, 80.0, "key", "gold")
    >>> calm = harm(0.9, 12.0, 5, True, 20.0, "key", "gold")
    >>> at_risk[0] > calm[0], at_risk[1]["customer_risk"], calm[1]["customer_risk"]
    (True, 2.6, 1.4)
    """
    factors = {
        "failure_probability": min(max(failure_probability, 0.0), 1.0),
        "urgency": math.exp(-max(ttf_hours if ttf_hours is not None else 0.0, 0.0) / URGENCY_HOURS),
        "asset": min(max(criticality, 1), 5) / 5.0 * (SAFETY_WEIGHT if safety_critical else 1.0),
        "customer_risk": 1.0 + INDEX_WEIGHT * min(max(risk_index, 0.0), 100.0) / 100.0,
        # what a segment is worth to the planner's priority, and a tier to the risk index
        "segment": SEGMENT_VALUE.get(segment, SEGMENT_VALUE["standard"]),
        "sla": TIER_FACTOR.get(sla_tier, TIER_FACTOR["silver"]),
    }
    return math.prod(factors.values()), factors


# Ranking keys: Forestall's plan and the baselines the experience backtest compares it with.
RankKey = Callable[[Demand], tuple[float, ...]]


def by_harm(demand: Demand) -> tuple[float, ...]:
    return (-demand.harm, demand.deadline, demand.created_at)


def first_come(demand: Demand) -> tuple[float, ...]:
    return (demand.created_at, demand.deadline)


def by_sla(demand: Demand) -> tuple[float, ...]:
    """The strictest SLA tier first, then first come (a dispatcher's usual rule)."""
    return (-demand.factors.get("sla", 1.0), demand.created_at, demand.deadline)


def by_probability(demand: Demand) -> tuple[float, ...]:
    """The likeliest failure first, whoever the customer."""
    return (-demand.factors.get("failure_probability", 0.0), demand.created_at, demand.deadline)


# The plans the experience backtest compares: Forestall's and three a dispatcher might use.
RANKINGS: dict[str, RankKey] = {
    "forestall": by_harm,
    "fifo": first_come,
    "sla": by_sla,
    "probability": by_probability,
}


def schedule(
    demands: Iterable[Demand],
    crews: Sequence[Crew],
    bookings: Iterable[Booking],
    now: float,
    key: RankKey = by_harm,
) -> list[Assignment]:
    """Each demand's place in the plan, in rank order (see the module's docstring)."""
    busy: dict[str, list[tuple[float, float]]] = {c.id: [] for c in crews}
    for booking in bookings:
        if booking.technician_id in busy and booking.end > now:
            busy[booking.technician_id].append((booking.start, booking.end))
    limit = now + HORIZON_HOURS * HOUR
    out: list[Assignment] = []
    by_id = {c.id: c for c in crews}
    for rank, demand in enumerate(sorted(demands, key=key), start=1):
        best = _still_free(demand, by_id, busy, now)
        for crew in crews if best is None else ():
            if not crew.serves(demand):
                continue
            start = earliest_start(crew.windows, busy[crew.id], now, demand.duration, limit)
            if start is not None and (best is None or start + demand.duration < best.end):
                best = Slot(crew.id, start, start + demand.duration)
        if best is not None:
            busy[best.technician_id].append((best.start, best.end))
        overbooked = best is None or best.end > demand.deadline
        out.append(Assignment(demand.visit_id, rank, best, overbooked, demand.harm))
    return out


def _still_free(
    demand: Demand, crews: Mapping[str, Crew], busy: Mapping[str, list[tuple[float, float]]], now: float
) -> Slot | None:
    """The demand's previous slot, when its technician may still serve it then: a plan does not
    move a visit the FSM was told of unless a more harmful one needs that time. A slot under way
    (started before ``now``) counts from ``now``."""
    slot = demand.previous
    crew = crews.get(slot.technician_id) if slot is not None else None
    if slot is None or crew is None or not crew.serves(demand) or slot.end - slot.start < demand.duration:
        return None
    if slot.end <= now:
        return None
    inside = any(lo <= max(slot.start, now) and slot.end <= hi for lo, hi in crew.windows)
    clash = any(b_lo < slot.end and slot.start < b_hi for b_lo, b_hi in busy[slot.technician_id])
    return slot if inside and not clash else None


def earliest_start(
    windows: Sequence[tuple[float, float]],
    busy: Sequence[tuple[float, float]],
    now: float,
    duration: float,
    limit: float,
) -> float | None:
    """The earliest time ≥ ``now`` at which ``duration`` fits inside one working window without
    touching busy time, starting before ``limit``; None when there is none.

    >>> earliest_start([(0.0, 10.0), (20.0, 30.0)], [(2.0, 5.0)], 0.0, 4.0, 100.0)
    5.0
    >>> earliest_start([(0.0, 10.0), (20.0, 30.0)], [(2.0, 5.0), (6.0, 8.0)], 0.0, 4.0, 100.0)
    20.0
    >>> earliest_start([(0.0, 3.0)], [], 0.0, 4.0, 100.0) is None
    True
    """
    taken = sorted(busy)
    for lo, hi in windows:
        t = max(lo, now)
        for b_lo, b_hi in taken:
            if b_hi <= t or b_lo >= hi:
                continue
            if b_lo >= t + duration:
                break
            t = max(t, b_hi)
        if t >= limit:
            return None
        if t + duration <= hi:
            return t
    return None

"""How a simulated customer reacts to what happens to them: a latent grievance (pure).

Each thing that happens to a customer adds to their grievance: a failure of one of their
machines, every hour a machine of theirs (or their supply) is down, a ticket resolved later than
its SLA target, a billing error, a visit (by their visit sensitivity; a visit that found nothing
counts ``false_visit_factor`` times). Each addition is the world's strength for it times what this
customer minds (:class:`Minds`), and fades exponentially with the world's memory. Negative
outcomes follow from the grievance: escalations come more often, survey scores drop (an NPS of
6 or less is a detractor) and contracts are ended or downgraded (``simulators.customers`` draws
them hour by hour).

Nothing here lowers a grievance except time: adding a failure, an outage hour, a billing error or
a visit never lowers it, at any later time.

>>> grievance = Grievance(memory_s=86400.0)
>>> grievance.add(0.0, 1.0)
>>> grievance.open_outage("pump-1", 0.0, per_hour=0.1)
>>> round(grievance.level(3600.0), 3)  # the shock, faded an hour; an hour of outage
1.057
>>> grievance.close_outage("pump-1", 3600.0)
>>> round(grievance.level(86400.0), 3)  # a day on, both faded to about e^-1
0.405
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from simulators.worlds import Outcomes, Reactions

HOUR: Final = 3600.0
DAY: Final = 86400.0
FORGET_AFTER: Final = 12.0  # memories: what is older than this many of them weighs under 1e-5


@dataclass(frozen=True, slots=True)
class Minds:
    """How much one customer minds each thing: the world's strength times their own factor.

    ``visit`` already includes the customer's visit sensitivity.
    """

    failure: float
    outage_hour: float
    slow_resolution: float
    billing_error: float
    visit: float
    false_visit_factor: float


def own_factor(rng: random.Random, spread: float) -> float:
    """A customer's factor on one strength: log-normal with mean 1 and log-spread ``spread``."""
    return math.exp(spread * rng.gauss(0.0, 1.0) - spread * spread / 2.0)


def draw_minds(reactions: Reactions, visit_sensitivity: float, spread: float, rng: random.Random) -> Minds:
    """What a customer minds, drawn around the world's ``reactions``.

    >>> from simulators.worlds import load_world, WORLDS_DIR
    >>> world = load_world(WORLDS_DIR / "outages.toml")
    >>> minds = draw_minds(world.reactions, 0.5, 0.0, random.Random(1))
    >>> minds.failure == world.reactions.failure, minds.visit == world.reactions.visit * 0.5
    (True, True)
    """
    return Minds(
        failure=reactions.failure * own_factor(rng, spread),
        outage_hour=reactions.outage_hour * own_factor(rng, spread),
        slow_resolution=reactions.slow_resolution * own_factor(rng, spread),
        billing_error=reactions.billing_error * own_factor(rng, spread),
        visit=reactions.visit * visit_sensitivity,
        false_visit_factor=reactions.false_visit_factor,
    )


def faded(magnitude: float, age_s: float, memory_s: float) -> float:
    """What is left of a shock of ``magnitude`` after ``age_s`` (nothing before it happened)."""
    return magnitude * math.exp(-age_s / memory_s) if age_s >= 0.0 else 0.0


def outage_weight(per_hour: float, start: float, end: float | None, at: float, memory_s: float) -> float:
    """What an outage from ``start`` to ``end`` (None: still on) weighs at ``at``: each hour of
    it adds ``per_hour``, fading from that hour on.

    >>> outage_weight(0.1, 0.0, None, 2 * HOUR, 1e12) == outage_weight(0.1, 0.0, 2 * HOUR, 2 * HOUR, 1e12)
    True
    >>> round(outage_weight(0.1, 0.0, None, 2 * HOUR, 1e12), 6)  # two hours at no fading
    0.2
    """
    stop = at if end is None else min(end, at)
    if stop <= start:
        return 0.0
    memory_h = memory_s / HOUR
    return per_hour * memory_h * (math.exp(-(at - stop) / memory_s) - math.exp(-(at - start) / memory_s))


@dataclass(slots=True)
class Grievance:
    """One customer's grievance: the shocks and outages they lived through, and their fading."""

    memory_s: float
    shocks: list[tuple[float, float]] = field(default_factory=list)  # (at, magnitude)
    outages: list[tuple[float, float | None, float]] = field(default_factory=list)  # start, end, per hour
    _open: dict[str, int] = field(default_factory=dict)  # machine -> index of its open outage

    def add(self, at: float, magnitude: float) -> None:
        if magnitude > 0.0:
            self.shocks.append((at, magnitude))

    def add_outage(self, start: float, end: float, per_hour: float) -> None:
        """An outage whose end is known (the customer's supply, an unrelated outage)."""
        if per_hour > 0.0 and end > start:
            self.outages.append((start, end, per_hour))

    def open_outage(self, machine: str, at: float, per_hour: float) -> None:
        """A machine of the customer is down from ``at`` until :meth:`close_outage`."""
        if machine in self._open or per_hour <= 0.0:
            return
        self._open[machine] = len(self.outages)
        self.outages.append((at, None, per_hour))

    def close_outage(self, machine: str, at: float) -> None:
        index = self._open.pop(machine, None)
        if index is not None:
            start, _, per_hour = self.outages[index]
            self.outages[index] = (start, max(at, start), per_hour)

    def level(self, at: float) -> float:
        """The grievance at ``at``: every shock and outage hour so far, each faded since."""
        shocks = sum(faded(m, at - t, self.memory_s) for t, m in self.shocks)
        outages = sum(outage_weight(r, s, e, at, self.memory_s) for s, e, r in self.outages)
        return shocks + outages

    def forget(self, before: float) -> None:
        """Drop what ended ``FORGET_AFTER`` memories before ``before`` (it weighs nothing any more)."""
        cutoff = before - FORGET_AFTER * self.memory_s
        self.shocks = [(t, m) for t, m in self.shocks if t >= cutoff]
        still_open = set(self._open.values())
        kept = [
            (i, (start, end, rate))
            for i, (start, end, rate) in enumerate(self.outages)
            if i in still_open or (end is not None and end >= cutoff)
        ]
        renumber = {old: new for new, (old, _) in enumerate(kept)}
        self.outages = [o for _, o in kept]
        self._open = {machine: renumber[i] for machine, i in self._open.items()}


def escalation_per_hour(base_per_day: float, volume: float, outcomes: Outcomes, grievance: float) -> float:
    """Escalations an hour: the base rate, ``1 + escalation_gain × grievance`` times."""
    return base_per_day / 24.0 * volume * (1.0 + outcomes.escalation_gain * grievance)


def contract_per_hour(outcomes: Outcomes, grievance: float) -> float:
    """Contracts ended or downgraded an hour: none without grievance, then in proportion to it."""
    return outcomes.contracts_per_day / 24.0 * grievance


def survey_quality(satisfaction: float, outcomes: Outcomes, grievance: float) -> float:
    """What a survey measures through its noise: satisfaction less the grievance's toll (capped)."""
    return satisfaction - outcomes.score_drop * min(grievance, outcomes.score_drop_cap)


def chance(rate_per_hour: float) -> float:
    """The chance of at least one event in an hour at ``rate_per_hour`` (Poisson)."""
    return 1.0 - math.exp(-max(rate_per_hour, 0.0))

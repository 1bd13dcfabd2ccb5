"""The simulated FSM's technicians: a finite crew with working hours, travel and a queue (pure).

Requests for a technician (:class:`Job`: a recommendation's visit, a breakdown's repair) wait in
a queue. Whenever a technician is at work and free, the *plan* picks the next job among those
waiting that they may serve (their skills cover its asset types, their regions its site). They
travel there from where they are (the last site, or home at the start of a working window), and
the work keeps them busy for the job's hours. A job starts only if travel and work fit in the
working window, unless it is longer than a whole window (then it starts at the window's start
and runs over). Plans (``PLANS``) are ranking keys: a breakdown first in every plan (a stopped
machine is the FSM's emergency), then Forestall's order (the harm the visit avoids, else its
priority score), first come first served, SLA tier, or failure probability.

:meth:`Crew.dispatch` commits the decisions due up to an event time ``now`` and never revisits
them; a job submitted later that was ready earlier waits for the next decision.

>>> from forestall.workhours import WeeklyHours
>>> days = WeeklyHours.parse({d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}, "UTC")
>>> crew = Crew([Technician("tech-1", "Ada", ("pump",), ("region-1",), days, "region-1")],
...             Travel(seed=1, regions=1, within=(1.0, 1.0), between=(2.0, 2.0)), "fifo")
>>> monday = 1_805_673_600.0  # 2027-03-22T00:00:00Z
>>> crew.submit(Job("rec-1", ("pump-1",), "preventive", ready_at=monday, asset_types=("pump",), site="s1"))
>>> crew.submit(Job("rec-2", ("pump-2",), "preventive", ready_at=monday, asset_types=("pump",), site="s2"))
>>> [(a.job.id, (a.arrive - monday) / 3600, (a.done - monday) / 3600) for a in crew.dispatch(monday + DAY)]
[('rec-1', 9.0, 10.0), ('rec-2', 11.0, 12.0)]
"""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from forestall.vocab import SLA_TIERS
from forestall.workhours import WeeklyHours, can_serve, working_windows

if TYPE_CHECKING:
    from simulators.worlds import Technicians

HOUR: Final = 3600.0
DAY: Final = 86400.0
WINDOW_CHUNK_S: Final = 14 * DAY  # working windows are computed this far ahead at a time
HOME: Final = "home:"  # a technician's place at the start of a working window: their home region


@dataclass(frozen=True, slots=True)
class Technician:
    id: str
    name: str
    skills: tuple[str, ...]  # asset types; empty: any
    regions: tuple[str, ...]  # region labels covered; empty: any
    hours: WeeklyHours
    home: str  # the region each working window starts from


@dataclass(frozen=True, slots=True)
class Job:
    """One trip: the assets of a recommendation at one site, or a broken machine."""

    id: str  # the recommendation id, or ``corrective-<asset>-<at>``
    assets: tuple[str, ...]
    kind: str  # preventive | corrective | sensor_check
    ready_at: float  # event time from which a technician may go
    asset_types: tuple[str, ...] = ()
    site: str | None = None
    customer_id: str | None = None
    recommendation_id: str | None = None
    sla_tier: str | None = None
    probability: float = 0.0  # the recommendation's failure probability (1 for a breakdown)
    priority_score: float = 0.0
    harm: float | None = None  # Forestall's expected harm avoided, when it planned the visit
    work_hours: float = 1.0


@dataclass(frozen=True, slots=True)
class Assignment:
    job: Job
    technician_id: str
    depart: float
    arrive: float
    done: float


Plan = Callable[[Job], tuple[float, ...]]


def _urgent(job: Job) -> float:
    return 0.0 if job.kind == "corrective" else 1.0


def forestall_plan(job: Job) -> tuple[float, ...]:
    """Forestall's order: the harm its planner says the visit avoids, else its priority score."""
    if job.harm is not None:
        return (_urgent(job), 0.0, -job.harm, job.ready_at)
    return (_urgent(job), 1.0, -job.priority_score, job.ready_at)


def fifo_plan(job: Job) -> tuple[float, ...]:
    return (_urgent(job), job.ready_at)


def sla_plan(job: Job) -> tuple[float, ...]:
    tier = SLA_TIERS.index(job.sla_tier) if job.sla_tier in SLA_TIERS else len(SLA_TIERS)
    return (_urgent(job), float(tier), job.ready_at)


def probability_plan(job: Job) -> tuple[float, ...]:
    return (_urgent(job), -job.probability, job.ready_at)


PLANS: Final[Mapping[str, Plan]] = {
    "forestall": forestall_plan,
    "fifo": fifo_plan,
    "sla": sla_plan,
    "probability": probability_plan,
}


@dataclass(frozen=True, slots=True)
class Travel:
    """Sites spread over ``regions`` regions; hours between two places drawn once per pair.

    >>> travel = Travel(seed=3, regions=1, within=(0.5, 1.5), between=(2.0, 3.0))
    >>> travel.region_of("cust-001-site-1"), travel.hours("a", "a")
    ('region-1', 0.0)
    >>> 0.5 <= travel.hours("a", "b") == travel.hours("b", "a") <= 1.5
    True
    """

    seed: int
    regions: int
    within: tuple[float, float]
    between: tuple[float, float]

    def region_of(self, place: str | None) -> str:
        if place is None:
            return "region-1"
        if place.startswith(HOME):
            return place[len(HOME) :]
        return f"region-{zlib.crc32(f'{self.seed}:{place}'.encode()) % self.regions + 1}"

    def hours(self, origin: str, site: str | None) -> float:
        """Hours from ``origin`` (a site, or ``home:<region>``) to ``site`` (None: unknown)."""
        if site is not None and origin == site:
            return 0.0
        same = self.region_of(origin) == self.region_of(site)
        low, high = self.within if same else self.between
        pair = "|".join(sorted((origin, site or "?")))
        return random.Random(f"forestall-travel:{self.seed}:{pair}").uniform(low, high)


@dataclass(slots=True)
class _State:
    technician: Technician
    free_at: float = float("-inf")
    place: str = ""
    shift_end: float = float("-inf")  # end of the working window they last worked in
    windows: list[tuple[float, float]] = field(default_factory=list)
    computed: tuple[float, float] | None = None  # the span ``windows`` covers

    def next_window(self, t: float) -> tuple[float, float] | None:
        """The working window that contains ``t`` or comes next (None: none within two weeks)."""
        if self.computed is None or t < self.computed[0] + 7 * DAY:
            # From a week back, so the window holding ``t`` is whole (not cut where we started).
            self.windows, self.computed = [], (t - 7 * DAY, t - 7 * DAY)
        low, high = self.computed
        while high < t + WINDOW_CHUNK_S:
            self.windows = _merged(
                self.windows + working_windows(self.technician.hours, high, high + WINDOW_CHUNK_S)
            )
            high += WINDOW_CHUNK_S
        self.computed = (low, high)
        index = bisect.bisect_right([end for _, end in self.windows], t)
        return self.windows[index] if index < len(self.windows) else None


def _merged(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in windows:
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(frozen=True, slots=True)
class _Decision:
    state: _State
    start: float
    window: tuple[float, float]
    jobs: list[Job]  # waiting, ready by ``start``, that this technician may serve


class Crew:
    """Technicians and the jobs waiting for them; one thread uses it."""

    def __init__(
        self,
        technicians: Sequence[Technician],
        travel: Travel,
        plan: Plan | str = "forestall",
        *,
        service_hours: tuple[float, float] = (1.0, 2.0),
        repair_hours: tuple[float, float] = (2.0, 4.0),
    ) -> None:
        if not technicians:
            raise ValueError("a crew needs at least one technician")
        if isinstance(plan, str) and plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; one of {', '.join(PLANS)}")
        self.technicians = list(technicians)
        self.travel = travel
        self.plan = PLANS[plan] if isinstance(plan, str) else plan
        self.service_hours = service_hours  # on site, per asset of a visit
        self.repair_hours = repair_hours  # on site, to repair a broken machine
        self._states = [_State(t, place=HOME + t.home) for t in self.technicians]
        self._waiting: dict[str, Job] = {}

    @property
    def waiting(self) -> list[Job]:
        """The jobs no technician has taken yet, oldest first."""
        return sorted(self._waiting.values(), key=lambda j: (j.ready_at, j.id))

    def submit(self, job: Job) -> None:
        """Queue ``job``; a waiting job with the same id is replaced (keeping its ready time)."""
        old = self._waiting.get(job.id)
        if old is not None and old.ready_at < job.ready_at:
            job = replace(job, ready_at=old.ready_at)
        self._waiting[job.id] = job

    def cancel(self, job_id: str) -> bool:
        """Take a waiting job out of the queue; False if it is not waiting (taken or unknown)."""
        return self._waiting.pop(job_id, None) is not None

    def is_waiting(self, job_id: str) -> bool:
        return job_id in self._waiting

    def work_hours(self, job_id: str, kind: str, assets: int) -> float:
        """Hours on site for a job: one draw per asset, fixed by the job's id (so every plan
        gives the same job the same work)."""
        hours = self.repair_hours if kind == "corrective" else self.service_hours
        rng = random.Random(f"forestall-work:{self.travel.seed}:{job_id}")
        return sum(rng.uniform(*hours) for _ in range(max(assets, 1)))

    def serves(self, technician: Technician, job: Job) -> bool:
        """Their skills cover every asset type of the job (unknown types: any) and their regions
        the job's site's region."""
        region = self.travel.region_of(job.site)
        skills = technician.skills if job.asset_types else ()
        return all(can_serve(skills, technician.regions, t, None, region) for t in job.asset_types or ("",))

    def dispatch(self, now: float) -> list[Assignment]:
        """Assign waiting jobs, in the plan's order, wherever a technician is free by ``now``."""
        out: list[Assignment] = []
        while self._waiting and (decision := self._next_decision(now)) is not None:
            assignment = self._assign(decision)
            if assignment is not None:
                out.append(assignment)
        return out

    def _next_decision(self, now: float) -> _Decision | None:
        best: _Decision | None = None
        for state in self._states:
            jobs = [j for j in self._waiting.values() if self.serves(state.technician, j)]
            if not jobs:
                continue
            earliest = max(state.free_at, min(j.ready_at for j in jobs))
            window = state.next_window(earliest)
            if window is None:
                continue
            start = max(earliest, window[0])
            if start <= now and (best is None or start < best.start):
                best = _Decision(state, start, window, [j for j in jobs if j.ready_at <= start])
        return best

    def _assign(self, decision: _Decision) -> Assignment | None:
        state, start, (window_start, window_end) = decision.state, decision.start, decision.window
        tech = state.technician
        if start >= state.shift_end:  # a new working window: the day starts from home
            state.place = HOME + tech.home
        state.shift_end = window_end
        for job in sorted(decision.jobs, key=lambda j: (self.plan(j), j.ready_at, j.id)):
            travel = self.travel.hours(state.place, job.site) * HOUR
            busy = travel + job.work_hours * HOUR
            # A job longer than any window goes at a window's start, and runs over.
            if start + busy <= window_end or (start == window_start and busy > window_end - window_start):
                del self._waiting[job.id]
                state.free_at = start + busy
                state.place = job.site or state.place
                return Assignment(job, tech.id, start, start + travel, start + busy)
        state.free_at = window_end  # nothing fits in what is left of the day
        return None


def crew_from_world(
    technicians: Technicians, seed: int, skills: Iterable[str] = (), plan: Plan | str | None = None
) -> Crew:
    """The crew a world file's ``[technicians]`` describes (``plan`` overrides its plan)."""
    travel = Travel(
        seed, technicians.regions, technicians.travel_hours_within, technicians.travel_hours_between
    )
    return Crew(
        make_technicians(technicians.count, technicians.week(), technicians.regions, skills),
        travel,
        technicians.plan if plan is None else plan,
        service_hours=technicians.service_hours,
        repair_hours=technicians.repair_hours,
    )


def make_technicians(
    count: int, hours: WeeklyHours, regions: int, skills: Iterable[str] = ()
) -> list[Technician]:
    """``count`` technicians with every skill, spread over the regions in turn, each covering
    their home region (every region when there is one)."""
    labels = [f"region-{k + 1}" for k in range(regions)]
    return [
        Technician(
            id=f"tech-{n + 1:03d}",
            name=f"Technician {n + 1}",
            skills=tuple(skills),
            regions=(labels[n % regions],),
            hours=hours,
            home=labels[n % regions],
        )
        for n in range(count)
    ]


def covered_sites(technician: Technician, sites: Iterable[str], travel: Travel) -> list[str]:
    """The sites of a technician's regions: what they register as their regions, since an asset
    names its ``site`` and no region."""
    covered = set(technician.regions)
    return sorted(s for s in sites if not covered or travel.region_of(s) in covered)


def technician_hours(technicians: Iterable[Technician], start: float, end: float) -> float:
    """Working hours the technicians have between ``start`` and ``end``, together."""
    return sum(sum(b - a for a, b in working_windows(t.hours, start, end)) for t in technicians) / HOUR


def technicians_for(ratio: float, needed_hours: float, hours: WeeklyHours, start: float, end: float) -> int:
    """How many technicians working ``hours`` give ``ratio`` times the ``needed_hours`` (the hours
    first come, first served would need to serve every request) between ``start`` and ``end``;
    at least one.

    >>> week = WeeklyHours.parse({"mon": [["08:00", "18:00"]]}, "UTC")
    >>> technicians_for(0.6, 100.0, week, 1_805_673_600.0, 1_805_673_600.0 + 7 * DAY)  # 10 h each
    6
    """
    each = sum(b - a for a, b in working_windows(hours, start, end)) / HOUR
    if each <= 0.0:
        raise ValueError("these working hours give no time between start and end")
    return max(1, round(ratio * needed_hours / each))

"""Technician capacity (``predictor.capacity``): slots only in working time a technician is free,
ranked by harm, overbooked when nothing fits before the failure; the harm never falls as the case
for the visit grows."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from predictor.capacity import (
    HOUR,
    RANKINGS,
    Booking,
    Crew,
    Demand,
    by_harm,
    earliest_start,
    first_come,
    harm,
    schedule,
)

DAY = 24 * HOUR
WORKDAYS = tuple((d * DAY + 8 * HOUR, d * DAY + 16 * HOUR) for d in range(14))  # 08:00-16:00 daily


def crew(
    tech: str = "t1", skills: tuple[str, ...] = ("pump",), regions: tuple[str, ...] = ("north",)
) -> Crew:
    return Crew(tech, frozenset(skills), frozenset(regions), WORKDAYS)


def demand(visit: str, deadline_h: float, harm_: float, *, created_h: float = 0.0, kind: str = "pump",
           site: str = "north", hours: float = 3.0) -> Demand:  # fmt: skip
    return Demand(visit, frozenset({kind}), frozenset({site}), hours * HOUR, deadline_h * HOUR, harm_,
                  created_h * HOUR)  # fmt: skip


def test_a_visit_is_booked_in_working_time_only() -> None:
    [placed] = schedule([demand("a", 48.0, 0.5)], [crew()], [], now=0.0)  # midnight: nobody works
    assert placed.slot is not None and not placed.overbooked
    assert (placed.slot.technician_id, placed.slot.start, placed.slot.end) == ("t1", 8 * HOUR, 11 * HOUR)


def test_the_more_harmful_visit_goes_first_and_the_other_is_overbooked_when_nothing_fits() -> None:
    low, high = demand("low", 12.0, 0.1, created_h=0.0), demand("high", 12.0, 0.9, created_h=1.0)
    plan = {a.visit_id: a for a in schedule([low, high], [crew()], [], now=8 * HOUR)}
    assert plan["high"].rank == 1 and not plan["high"].overbooked
    assert plan["low"].rank == 2 and plan["low"].overbooked
    # what would fit: right after the first visit, past the 12:00 deadline; held, not promised
    assert plan["low"].slot is not None and plan["low"].slot.start == 11 * HOUR
    fifo = {a.visit_id: a for a in schedule([low, high], [crew()], [], now=8 * HOUR, key=first_come)}
    assert fifo["low"].rank == 1 and fifo["high"].overbooked


def test_skills_regions_and_bookings_are_respected() -> None:
    crews = [crew("pumps-north"), crew("valves-south", ("valve",), ("south",))]
    plan = schedule(
        [demand("v", 100.0, 0.5, kind="valve", site="south"), demand("p", 100.0, 0.5),
         demand("x", 100.0, 0.5, kind="chiller")],
        crews,
        [Booking("pumps-north", 8 * HOUR, 14 * HOUR)],
        now=0.0,
    )  # fmt: skip
    slots = {a.visit_id: a.slot for a in plan}
    assert slots["v"] is not None and slots["v"].technician_id == "valves-south"
    assert slots["p"] is not None and (slots["p"].technician_id, slots["p"].start) == (
        "pumps-north",
        32 * HOUR,
    )
    assert (
        slots["x"] is None and next(a for a in plan if a.visit_id == "x").overbooked
    )  # nobody has the skill


def test_no_slot_overlaps_another_or_leaves_working_time() -> None:
    demands = [
        demand(f"d{i}", 24.0 * (1 + i % 5), 0.1 * (i % 7), created_h=i, hours=1 + i % 4) for i in range(30)
    ]
    plan = schedule(demands, [crew("t1"), crew("t2")], [], now=0.0)
    slots = [a.slot for a in plan if a.slot is not None]
    assert len(slots) == 30
    for tech in ("t1", "t2"):
        mine = sorted((s.start, s.end) for s in slots if s.technician_id == tech)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(mine))
        assert all(any(lo <= s <= e <= hi for lo, hi in WORKDAYS) for s, e in mine)
    deadlines = {d.visit_id: d.deadline for d in demands}
    assert all(a.slot is not None and a.slot.end <= deadlines[a.visit_id] for a in plan if not a.overbooked)
    assert [a.rank for a in plan] == list(range(1, 31))
    assert [a.visit_id for a in plan] == [d.visit_id for d in sorted(demands, key=by_harm)]


def test_earliest_start_skips_busy_time_and_short_windows() -> None:
    assert earliest_start(WORKDAYS, [(8 * HOUR, 9 * HOUR)], 0.0, 2 * HOUR, 30 * DAY) == 9 * HOUR
    assert earliest_start(WORKDAYS, [(9 * HOUR, 15 * HOUR)], 0.0, 2 * HOUR, 30 * DAY) == 32 * HOUR
    assert earliest_start(WORKDAYS, [], 0.0, 9 * HOUR, 30 * DAY) is None  # longer than any shift
    assert earliest_start(WORKDAYS, [], 0.0, 2 * HOUR, 4 * HOUR) is None  # nothing before the limit


@given(
    p=st.floats(0.0, 1.0), more_p=st.floats(0.0, 0.5), ttf=st.floats(0.0, 500.0),
    sooner=st.floats(0.0, 500.0), crit=st.integers(1, 5), index=st.floats(0.0, 100.0),
    more_index=st.floats(0.0, 50.0), safety=st.booleans(),
)  # fmt: skip
def test_harm_never_falls_as_the_case_for_the_visit_grows(
    p: float,
    more_p: float,
    ttf: float,
    sooner: float,
    crit: int,
    index: float,
    more_index: float,
    safety: bool,
) -> None:
    base, factors = harm(p, ttf, crit, safety, index, "standard", "silver")
    assert abs(base - factors["failure_probability"] * factors["urgency"] * factors["asset"]
               * factors["customer_risk"] * factors["segment"] * factors["sla"]) < 1e-12  # fmt: skip
    assert harm(min(p + more_p, 1.0), ttf, crit, safety, index, "standard", "silver")[0] >= base
    assert harm(p, max(ttf - sooner, 0.0), crit, safety, index, "standard", "silver")[0] >= base
    assert harm(p, ttf, min(crit + 1, 5), safety, index, "standard", "silver")[0] >= base
    assert harm(p, ttf, crit, True, index, "standard", "silver")[0] >= base
    assert harm(p, ttf, crit, safety, min(index + more_index, 100.0), "standard", "silver")[0] >= base
    assert harm(p, ttf, crit, safety, index, "key", "platinum")[0] >= base


def test_the_four_plans_rank_by_their_own_rule() -> None:
    def ranked(key: str, demands: list[Demand]) -> list[str]:
        return [a.visit_id for a in schedule(demands, [crew()], [], now=0.0, key=RANKINGS[key])]

    def made(visit: str, created_h: float, harm_: float, p: float, sla: float) -> Demand:
        return Demand(visit, frozenset({"pump"}), frozenset({"north"}), HOUR, 500 * HOUR, harm_,
                      created_h * HOUR, {"failure_probability": p, "sla": sla})  # fmt: skip

    demands = [made("old", 0, 0.2, 0.7, 1.0), made("gold", 1, 0.3, 0.75, 1.15),
               made("likely", 2, 0.25, 0.99, 0.85), made("harmful", 3, 0.9, 0.8, 1.0)]  # fmt: skip
    assert ranked("forestall", demands) == ["harmful", "gold", "likely", "old"]
    assert ranked("fifo", demands) == ["old", "gold", "likely", "harmful"]
    assert ranked("sla", demands) == ["gold", "old", "harmful", "likely"]
    assert ranked("probability", demands) == ["likely", "harmful", "gold", "old"]

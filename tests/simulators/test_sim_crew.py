"""The FSM's technicians: a queue served in a plan's order, within working hours, with travel."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forestall.workhours import WeeklyHours, working_windows
from simulators.crew import (
    HOUR,
    Crew,
    Job,
    Technician,
    Travel,
    covered_sites,
    crew_from_world,
    technician_hours,
    technicians_for,
)
from simulators.worlds import WORLDS_DIR, load_world

MONDAY = 1_805_673_600.0  # 2027-03-22T00:00:00Z
DAY = 24 * HOUR
WEEKDAYS = WeeklyHours.parse({d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}, "UTC")
ONE_HOUR_AWAY = Travel(seed=1, regions=1, within=(1.0, 1.0), between=(2.0, 2.0))


def tech(n: int = 1, skills: tuple[str, ...] = ("pump",), region: str = "region-1") -> Technician:
    return Technician(f"tech-{n}", f"T{n}", skills, (region,), WEEKDAYS, region)


def job(job_id: str, ready_h: float = 0.0, **fields: object) -> Job:
    base = Job(
        job_id, (f"{job_id}-asset",), "preventive", MONDAY + ready_h * HOUR, ("pump",), f"site-{job_id}"
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def timeline(crew: Crew, until_h: float) -> list[tuple[str, float, float]]:
    return [
        (a.job.id, (a.arrive - MONDAY) / HOUR, (a.done - MONDAY) / HOUR)
        for a in crew.dispatch(MONDAY + until_h * HOUR)
    ]


def test_one_technician_serves_one_job_at_a_time_within_working_hours() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY, "fifo")
    for n in range(4):
        crew.submit(job(f"r{n}", ready_h=n * 0.1, work_hours=2.0))
    # From home at 08:00: an hour's travel, two hours' work, an hour to the next site. The third
    # job (an hour away, two hours long) does not fit after 14:00 and waits for Tuesday, when
    # the day starts from home again.
    assert timeline(crew, 72) == [("r0", 9, 11), ("r1", 12, 14), ("r2", 33, 35), ("r3", 36, 38)]
    assert crew.waiting == []


def test_two_technicians_serve_in_parallel_and_the_rest_waits() -> None:
    crew = Crew([tech(1), tech(2)], ONE_HOUR_AWAY, "fifo")
    for n in range(3):
        crew.submit(job(f"r{n}", ready_h=0.0, work_hours=5.0))
    assert timeline(crew, 10) == [("r0", 9, 14), ("r1", 9, 14)]  # decided by 08:00
    assert [j.id for j in crew.waiting] == ["r2"]  # nobody is free before 14:00
    assert timeline(crew, 13.9) == []
    assert timeline(crew, 48) == [("r2", 33, 38)]  # 14:00 + 6 h runs past 16:00: Tuesday


def test_a_request_after_hours_waits_for_the_morning_and_a_weekend_for_monday() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY)
    crew.submit(job("late", ready_h=20.0))  # Monday 20:00
    crew.submit(job("friday", ready_h=4 * 24 + 17.0))  # Friday 17:00
    assert timeline(crew, 7 * 24 + 12) == [("late", 33, 34), ("friday", 7 * 24 + 9, 7 * 24 + 10)]


def test_travel_is_from_the_last_site_and_from_home_at_the_start_of_a_day() -> None:
    travel = Travel(seed=1, regions=1, within=(1.0, 1.0), between=(2.0, 2.0))
    crew = Crew([tech()], travel, "fifo")
    crew.submit(job("a", site="plant"))
    crew.submit(job("b", ready_h=0.1, site="plant"))  # same site: no travel
    assert timeline(crew, 24) == [("a", 9, 10), ("b", 10, 11)]


def test_a_job_longer_than_a_working_day_starts_in_the_morning_and_runs_over() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY)
    crew.submit(job("overhaul", ready_h=10.0, work_hours=12.0))
    assert timeline(crew, 48) == [("overhaul", 33, 45)]


def test_decisions_are_taken_up_to_now_and_later_requests_wait_for_the_next() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY, "forestall")
    crew.submit(job("low", ready_h=8.0, priority_score=1.0))
    assert timeline(crew, 7.0) == []  # nothing is ready before now
    assert timeline(crew, 8.5) == [("low", 9, 10)]
    crew.submit(job("high", ready_h=8.2, priority_score=9.0))  # ready earlier than now, heard late
    assert timeline(crew, 12) == [("high", 11, 12)]


def test_each_plan_orders_the_waiting_jobs_and_a_breakdown_comes_first() -> None:
    jobs = [
        job("old-bronze", ready_h=1.0, sla_tier="bronze", probability=0.9, priority_score=1.0, harm=0.1),
        job("platinum", ready_h=2.0, sla_tier="platinum", probability=0.2, priority_score=3.0, harm=0.2),
        job("harmful", ready_h=3.0, sla_tier="silver", probability=0.5, priority_score=2.0, harm=0.9),
        job("broken", ready_h=4.0, kind="corrective", probability=1.0, sla_tier="bronze"),
    ]
    firsts = {}
    for plan in ("forestall", "fifo", "sla", "probability"):
        crew = Crew([tech()], ONE_HOUR_AWAY, plan)
        for j in jobs:
            crew.submit(j)
        firsts[plan] = [a.job.id for a in crew.dispatch(MONDAY + 7 * DAY)]
    assert firsts == {
        "forestall": ["broken", "harmful", "platinum", "old-bronze"],
        "fifo": ["broken", "old-bronze", "platinum", "harmful"],
        "sla": ["broken", "platinum", "harmful", "old-bronze"],
        "probability": ["broken", "old-bronze", "harmful", "platinum"],
    }


def test_without_harm_forestall_orders_by_priority_score() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY, "forestall")
    crew.submit(job("a", priority_score=1.0))
    crew.submit(job("b", priority_score=5.0))
    assert [a.job.id for a in crew.dispatch(MONDAY + DAY)] == ["b", "a"]


def test_skills_and_regions_decide_who_may_go() -> None:
    travel = Travel(seed=1, regions=2, within=(1.0, 1.0), between=(2.0, 2.0))
    site_in = {travel.region_of(f"site-{n}"): f"site-{n}" for n in range(20)}
    crew = Crew([tech(1, ("chiller",), "region-1"), tech(2, ("pump",), "region-2")], travel)
    crew.submit(job("pump-north", site=site_in["region-1"]))  # the pump man covers region 2 only
    crew.submit(job("pump-south", site=site_in["region-2"]))
    assert [(a.job.id, a.technician_id) for a in crew.dispatch(MONDAY + 7 * DAY)] == [
        ("pump-south", "tech-2")
    ]
    assert [j.id for j in crew.waiting] == ["pump-north"]


def test_a_cancelled_job_is_never_served_and_a_resubmitted_one_keeps_its_place() -> None:
    crew = Crew([tech()], ONE_HOUR_AWAY, "fifo")
    crew.submit(job("a", ready_h=9.0))
    crew.submit(job("b", ready_h=9.5))
    crew.submit(job("a", ready_h=9.9, priority_score=4.0))  # an update: still first come
    assert crew.cancel("b") and not crew.cancel("b")
    assert timeline(crew, 48) == [("a", 10, 11)]


@settings(max_examples=60, deadline=None)
@given(
    readies=st.lists(st.floats(0, 24 * 6), min_size=1, max_size=25),
    works=st.lists(st.floats(0.25, 4.5), min_size=25, max_size=25),  # each fits in a day
    technicians=st.integers(1, 3),
    plan=st.sampled_from(["forestall", "fifo", "sla", "probability"]),
)
def test_no_technician_is_in_two_places_nor_starts_outside_working_hours(
    readies: list[float], works: list[float], technicians: int, plan: str
) -> None:
    travel = Travel(seed=5, regions=2, within=(0.5, 1.5), between=(1.5, 3.0))
    both = ("region-1", "region-2")
    crew = Crew(
        [Technician(f"t{n}", "T", ("pump",), both, WEEKDAYS, both[n % 2]) for n in range(technicians)],
        travel,
        plan,
    )
    for n, ready in enumerate(readies):
        crew.submit(job(f"j{n}", ready_h=ready, work_hours=works[n], sla_tier="gold", harm=works[n]))
    done = crew.dispatch(MONDAY + 30 * DAY)
    assert sorted(a.job.id for a in done) == sorted(f"j{n}" for n in range(len(readies)))
    windows = working_windows(WEEKDAYS, MONDAY, MONDAY + 31 * DAY)
    by_technician = defaultdict(list)
    for a in done:
        assert a.depart >= a.job.ready_at
        assert 0.0 <= a.arrive - a.depart <= 3.0 * HOUR  # at most the longest trip
        assert a.done == pytest.approx(a.arrive + a.job.work_hours * HOUR)
        window = next(w for w in windows if w[0] <= a.depart < w[1])
        assert a.done <= window[1] + 1e-6  # every job here fits in a day: none runs over
        by_technician[a.technician_id].append((a.depart, a.done))
    for spans in by_technician.values():
        spans.sort()
        assert all(end <= start + 1e-6 for (_, end), (start, _) in itertools.pairwise(spans))


def test_capacity_helpers() -> None:
    week = WeeklyHours.parse({"mon": [["08:00", "18:00"]]}, "UTC")
    crew = Crew([tech(1), tech(2)], ONE_HOUR_AWAY)
    assert technician_hours(crew.technicians, MONDAY, MONDAY + 7 * DAY) == 2 * 5 * 8
    assert technicians_for(0.6, 100.0, week, MONDAY, MONDAY + 7 * DAY) == 6
    assert technicians_for(0.01, 100.0, week, MONDAY, MONDAY + 7 * DAY) == 1  # at least one
    with pytest.raises(ValueError, match="no time"):
        technicians_for(0.6, 100.0, week, MONDAY + DAY, MONDAY + 2 * DAY)


def test_a_world_files_crew_and_what_registers_it() -> None:
    world = load_world(WORLDS_DIR / "outages.toml")
    crew = crew_from_world(world.technicians, seed=3, skills=("pump", "chiller"))
    assert len(crew.technicians) == world.technicians.count
    assert {t.home for t in crew.technicians} == {f"region-{k + 1}" for k in range(world.technicians.regions)}
    sites = [f"cust-{n:03d}-site-1" for n in range(40)]
    first = crew.technicians[0]
    assert first.skills == ("pump", "chiller") and first.hours.as_text()["mon"] == [["07:00", "17:00"]]
    covered = covered_sites(first, sites, crew.travel)
    assert covered and all(crew.travel.region_of(s) == first.home for s in covered)
    everyone = {s for t in crew.technicians for s in covered_sites(t, sites, crew.travel)}
    assert everyone == set(sites)  # every site has someone
    with pytest.raises(ValueError, match="unknown plan"):
        crew_from_world(world.technicians, seed=3, plan="random")

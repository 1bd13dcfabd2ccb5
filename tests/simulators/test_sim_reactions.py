"""Customers react: grievance rises with what happens to them and never falls for more of it;
negative outcomes follow from it; who minds what differs between customers and between worlds."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.customers import (
    DAY,
    HOUR,
    ContractEvent,
    Customer,
    CustomerEvent,
    CustomerStream,
    Incident,
    Survey,
    make_customers,
)
from simulators.reactions import (
    Grievance,
    contract_per_hour,
    draw_minds,
    escalation_per_hour,
    outage_weight,
    survey_quality,
)
from simulators.worlds import WORLDS_DIR, WorldFile, load_world

START = 1_790_000_000.0
WORLDS = {name: load_world(WORLDS_DIR / f"{name}.toml") for name in ("outages", "billing", "visit_averse")}

times = st.floats(0.0, 60 * DAY)
shocks = st.lists(st.tuples(times, st.floats(0.0, 5.0)), max_size=8)
outages = st.lists(st.tuples(times, st.floats(0.0, 72 * HOUR), st.floats(0.0, 1.0)), max_size=5)


def grievance(history: list[tuple[float, float]], downs: list[tuple[float, float, float]]) -> Grievance:
    g = Grievance(memory_s=10 * DAY)
    for at, magnitude in history:
        g.add(at, magnitude)
    for start, length, per_hour in downs:
        g.add_outage(start, start + length, per_hour)
    return g


@settings(max_examples=200, deadline=None)
@given(history=shocks, downs=outages, extra=st.tuples(times, st.floats(0.0, 5.0)), at=times)
def test_another_failure_billing_error_or_visit_never_lowers_the_grievance(
    history: list[tuple[float, float]],
    downs: list[tuple[float, float, float]],
    extra: tuple[float, float],
    at: float,
) -> None:
    assert grievance([*history, extra], downs).level(at) >= grievance(history, downs).level(at)


@settings(max_examples=200, deadline=None)
@given(
    history=shocks,
    downs=outages,
    more=st.tuples(times, st.floats(0.0, 72 * HOUR), st.floats(0.0, 1.0)),
    longer=st.floats(0.0, 48 * HOUR),
    at=times,
)
def test_another_outage_or_a_longer_one_never_lowers_the_grievance(
    history: list[tuple[float, float]],
    downs: list[tuple[float, float, float]],
    more: tuple[float, float, float],
    longer: float,
    at: float,
) -> None:
    base = grievance(history, downs).level(at)
    assert grievance(history, [*downs, more]).level(at) >= base
    start, length, per_hour = more
    assert outage_weight(per_hour, start, start + length + longer, at, 10 * DAY) >= outage_weight(
        per_hour, start, start + length, at, 10 * DAY
    )
    assert outage_weight(per_hour, start, None, at, 10 * DAY) >= outage_weight(
        per_hour, start, start + length, at, 10 * DAY
    )


@settings(max_examples=100, deadline=None)
@given(low=st.floats(0.0, 20.0), more=st.floats(0.0, 20.0), satisfaction=st.floats(0.0, 1.0))
def test_outcomes_grow_with_grievance(low: float, more: float, satisfaction: float) -> None:
    for world in WORLDS.values():
        outcomes = world.outcomes
        assert escalation_per_hour(0.01, 1.0, outcomes, low + more) >= escalation_per_hour(
            0.01, 1.0, outcomes, low
        )
        assert contract_per_hour(outcomes, low + more) >= contract_per_hour(outcomes, low)
        assert survey_quality(satisfaction, outcomes, low + more) <= survey_quality(
            satisfaction, outcomes, low
        )
    assert contract_per_hour(WORLDS["outages"].outcomes, 0.0) == 0.0  # a content customer stays


def test_an_open_outage_weighs_more_every_hour_until_it_is_closed() -> None:
    g = Grievance(memory_s=20 * DAY)
    g.open_outage("pump-1", 0.0, per_hour=0.05)
    g.open_outage("pump-1", 5 * HOUR, per_hour=0.05)  # the same machine, still down: no second outage
    levels = [g.level(h * HOUR) for h in range(0, 25, 6)]
    assert levels == sorted(levels) and levels[-1] > 0.05 * 23
    g.close_outage("pump-1", 24 * HOUR)
    assert g.level(30 * HOUR) < g.level(24 * HOUR)


def stream_with(world: WorldFile, seed: int = 1, **history: int) -> CustomerStream:
    """A key account of ``world`` minding what the world's strengths say, with a fortnight of
    history: ``failures`` (each down 12 h), ``billing_errors``, ``visits`` (finding nothing)."""
    customer = Customer("cust-001", "Acme", "key", "gold", 0.8, 0.93)
    stream = CustomerStream(customer, seed=seed, start=START, world=world)
    for n in range(history.get("failures", 0)):
        stream.record_failure(START + n * 3 * DAY, f"pump-{n}")
        stream.record_repair(f"pump-{n}", START + n * 3 * DAY + 12 * HOUR)
    for n in range(history.get("billing_errors", 0)):
        stream.grievance.add(START + n * 3 * DAY, stream.minds.billing_error)
    for n in range(history.get("visits", 0)):
        stream.record_visit(START + n * 3 * DAY, fault_found=False)
    return stream


def test_who_minds_what_differs_between_worlds() -> None:
    at = START + 30 * DAY
    mood = {
        (name, cause): stream_with(world, **{cause: 5}).level(at)
        for name, world in WORLDS.items()
        for cause in ("failures", "billing_errors", "visits")
    }
    assert max(mood, key=lambda k: mood[k] if k[0] == "outages" else -1.0) == ("outages", "failures")
    assert max(mood, key=lambda k: mood[k] if k[0] == "billing" else -1.0) == ("billing", "billing_errors")
    assert max(mood, key=lambda k: mood[k] if k[0] == "visit_averse" else -1.0) == ("visit_averse", "visits")
    assert mood[("outages", "failures")] > 5 * mood[("billing", "failures")]


def test_who_minds_what_differs_between_customers() -> None:
    world = WORLDS["billing"]
    customers = make_customers(60, seed=4, world=world)
    minds = [c.minds for c in customers if c.minds is not None]
    billing = sorted(m.billing_error for m in minds)
    assert len(minds) == 60 and billing[-6] > 1.5 * billing[5]  # the top tenth minds far more
    assert (
        abs(sum(billing) / len(billing) - world.reactions.billing_error)
        < 0.25 * world.reactions.billing_error
    )
    averse = make_customers(60, seed=4, world=WORLDS["visit_averse"])
    key = [c.minds.visit for c in averse if c.segment == "key" and c.minds]
    others = [c.minds.visit for c in averse if c.segment != "key" and c.minds]
    assert min(key) > max(others)
    assert (
        draw_minds(world.reactions, 0.5, 0.0, random.Random(1)).billing_error == world.reactions.billing_error
    )


def negatives(events: list[CustomerEvent]) -> Counter[str]:
    found: Counter[str] = Counter()
    for e in events:
        if isinstance(e, Survey) and e.kind == "nps" and e.score <= 6:
            found["detractor"] += 1
        elif isinstance(e, Incident) and e.kind == "escalation":
            found["escalation"] += 1
        elif isinstance(e, ContractEvent):
            found[f"contract_{e.kind}"] += 1
    return found


def test_negative_outcomes_follow_from_what_the_world_minds() -> None:
    def outcomes(world: WorldFile, **history: int) -> int:
        return sum(
            sum(negatives(stream_with(world, seed, **history).advance(START + 40 * DAY)).values())
            for seed in range(20)
        )

    for name, minded in (("outages", "failures"), ("billing", "billing_errors"), ("visit_averse", "visits")):
        world = WORLDS[name]
        calm = outcomes(world)
        after = {cause: outcomes(world, **{cause: 5}) for cause in ("failures", "billing_errors", "visits")}
        assert max(after, key=lambda cause: after[cause]) == minded, (name, after)
        assert after[minded] > 2 * calm + 10, (name, calm, after)


def test_a_customer_who_ended_the_contract_ends_it_once() -> None:
    world = WORLDS["outages"].model_copy(
        update={
            "outcomes": WORLDS["outages"].outcomes.model_copy(
                update={"contracts_per_day": 1.0, "downgrade_share": 0.0}
            )
        }
    )
    stream = stream_with(world, failures=10)
    contracts = [e for e in stream.advance(START + 200 * DAY) if isinstance(e, ContractEvent)]
    assert [e.kind for e in contracts] == ["ended"] and stream.contract_ended


def test_one_visit_more_changes_nothing_before_it_and_the_stream_does_not_depend_on_steps() -> None:
    world = WORLDS["visit_averse"]
    customer = make_customers(5, seed=2, world=world)[0]
    plain = CustomerStream(customer, 3, START, world)
    visited = CustomerStream(customer, 3, START, world)
    before = plain.advance(START + 20 * DAY)
    assert visited.advance(START + 20 * DAY) == before
    visited.record_visit(START + 20 * DAY, fault_found=False)
    assert visited.level(START + 21 * DAY) > plain.level(START + 21 * DAY)
    stepped = CustomerStream(customer, 3, START, world)
    fine = [e for h in range(1, 20 * 24 + 1) for e in stepped.advance(START + h * HOUR)]
    stepped.record_visit(START + 20 * DAY, fault_found=False)
    fine += [e for h in range(20 * 24 + 1, 60 * 24 + 1) for e in stepped.advance(START + h * HOUR)]
    assert before + visited.advance(START + 60 * DAY) == fine

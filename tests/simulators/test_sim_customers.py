"""Customers: segments and tiers, event rates, and how failures and visits sour the mood."""

from __future__ import annotations

import statistics

import pytest

from forestall.vocab import SLA_TIERS
from simulators.customers import (
    DAY,
    HOUR,
    SEGMENT_VOLUME,
    SEGMENTS,
    Customer,
    CustomerStream,
    Incident,
    Survey,
    make_customers,
)
from simulators.worlds import default_world

START = 1_790_000_000.0


def customer(segment: str = "standard", satisfaction: float = 0.8) -> Customer:
    return Customer("cust-001", "Acme", segment, "silver", 0.5, satisfaction)


def test_make_customers_is_seeded_and_valid() -> None:
    customers = make_customers(40, seed=3)
    assert customers == make_customers(40, seed=3) != make_customers(40, seed=4)
    assert len({c.id for c in customers}) == 40
    assert {c.segment for c in customers} == set(SEGMENTS)
    assert all(c.sla_tier in SLA_TIERS and 0 <= c.visit_sensitivity <= 1 for c in customers)


def test_stream_does_not_depend_on_step_size() -> None:
    coarse = CustomerStream(customer(), 1, START).advance(START + 60 * DAY)
    fine_stream = CustomerStream(customer(), 1, START)
    fine = [e for h in range(1, 60 * 24 + 1) for e in fine_stream.advance(START + h * HOUR)]
    assert coarse == fine and len(coarse) > 20


@pytest.mark.parametrize("segment", SEGMENTS)
def test_rates_match_the_model(segment: str) -> None:
    days = 2000
    events = CustomerStream(customer(segment), 9, START).advance(START + days * DAY)
    for kind in ("ticket", "survey"):
        count = sum(
            1
            for e in events
            if (isinstance(e, Incident) and e.kind == kind) or (kind == "survey" and isinstance(e, Survey))
        )
        per_day = {"ticket": default_world().events.tickets, "survey": default_world().events.surveys}[kind]
        expected = per_day * SEGMENT_VOLUME[segment] * days
        assert abs(count - expected) < 4 * expected**0.5 + 3, (kind, count, expected)


def test_events_are_well_formed() -> None:
    events = CustomerStream(customer(), 2, START).advance(START + 365 * DAY)
    kinds = {e.kind for e in events}
    assert {"ticket", "csat", "nps"} <= kinds
    for e in events:
        if isinstance(e, Survey):
            low, high = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}[e.kind]
            assert low <= e.score <= high
        else:
            assert e.opened_at >= START
            if e.resolved_at is not None:
                assert e.resolved_at >= e.opened_at and e.duration_min is not None and e.duration_min > 0
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_failures_raise_escalations_and_lower_scores() -> None:
    def run(with_failures: bool) -> tuple[int, float]:
        stream = CustomerStream(customer(), 4, START)
        events = []
        for week in range(100):
            if with_failures:
                stream.record_failure(START + week * 7 * DAY)
            events += stream.advance(START + (week + 1) * 7 * DAY)
        escalations = sum(isinstance(e, Incident) and e.kind == "escalation" for e in events)
        csat = statistics.fmean(e.score for e in events if isinstance(e, Survey) and e.kind == "csat")
        return escalations, csat

    calm_escalations, calm_csat = run(False)
    hit_escalations, hit_csat = run(True)
    assert hit_escalations > 2 * calm_escalations + 5
    assert hit_csat < calm_csat - 0.4


def test_false_visits_annoy_sensitive_customers_more() -> None:
    stream = CustomerStream(customer(), 5, START)
    stream.record_visit(START, fault_found=True)
    useful = stream.level(START + HOUR)
    stream.record_visit(START, fault_found=False)
    assert stream.level(START + HOUR) - useful > 2 * useful > 0
    assert stream.level(START + 30 * DAY) < 0.01

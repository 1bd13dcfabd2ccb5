"""The same fleet read at another cadence gives the same models: steps, operating regimes and the
fleet normal's maturity run in event time, not in readings."""

from __future__ import annotations

import random

import pytest

from predictor.engine import Predictor
from predictor.models import HOUR
from programs.backtest.resample import Cadence, pick, spells
from simulators.histories import generate_fleet
from tests.predictor.test_models import reading

SPEEDS = (1000.0, 1800.0, 2600.0)


def switching(rng: random.Random) -> dict[str, float]:
    """Three operating points far apart, a new one drawn for every reading (a pump's speed steps)."""
    speed = rng.choice(SPEEDS)
    return {
        "speed_rpm": speed + rng.gauss(0, 3),
        "temp_c": 40 + speed / 100 + rng.gauss(0, 0.3),
        "current_a": 10 + speed / 200 + rng.gauss(0, 0.1),
    }


def test_regimes_that_switch_within_a_step_are_found_as_at_an_hourly_cadence() -> None:
    # Before, a 10-minute mean of a device switching every 5 minutes blended two operating points
    # into a third, and the type's regimes were never found.
    for interval in (300.0, 3600.0):
        predictor, rng = Predictor(), random.Random(3)
        for asset in ("p1", "p2", "p3", "p4"):
            t = 0.0
            while t < 4 * 24 * HOUR:
                predictor.observe("acme", asset, "pump", t, switching(rng))
                t += interval
        fleet = predictor.types[("acme", "pump")]
        assert (interval, fleet.regimes.count) == (interval, 3)
        model = predictor.assets[("acme", "p1")]
        steps = model.steps
        for speed in SPEEDS:  # every reading goes to the regime of its own speed
            model.update(4 * 24 * HOUR + speed, {"speed_rpm": speed, "temp_c": 40 + speed / 100})
            assert model.step_regime == fleet.regimes.assign({"speed_rpm": speed})
        assert model.steps >= steps + 2  # a reading of another regime closes the step


def first_alarm_ready(interval: float) -> float:
    """When the first asset of two new ones, read every ``interval`` seconds, leaves its warm-up."""
    predictor, rng = Predictor(), random.Random(8)
    t = 0.0
    while t < 4 * 24 * HOUR:
        for asset in ("a", "b"):
            if not predictor.observe("acme", asset, "chiller", t, reading(rng, t, 0.0)).warming_up:
                return t
        t += interval
    raise AssertionError(f"read every {interval:.0f} s, the assets never left their warm-up")


def test_the_fleet_normal_is_trusted_after_the_same_event_time_at_any_cadence() -> None:
    # Before, the fleet's normal was trusted after 100 young readings per sensor: two hourly assets
    # never showed that many in their young day, and stayed silent for good.
    ready = {interval: first_alarm_ready(interval) for interval in (60.0, 600.0, 3600.0)}
    assert ready[60.0] == ready[600.0], ready
    # Read hourly, two assets give the fleet's scale its 30 readings a few hours later.
    assert ready[600.0] <= ready[3600.0] <= ready[600.0] + 6 * HOUR, ready


def first_alarms(cadence: Cadence, seed: int = 3) -> list[float | None]:
    """Per failure of one generated fleet read at ``cadence``: how many hours before it the
    failure probability first reached the planner's 0.7 (None: never)."""
    fleet = generate_fleet(
        seed,
        assets=5,
        two_lives=2,
        censored=1,
        life_hours=(50, 80),
        stagger_hours=20,
        hours_per_reading=10 / 3600,
    )
    rng = random.Random(1)
    events: list[tuple[float, int, str, dict[str, float] | None]] = []
    for generated in fleet.assets:
        times = [ts for ts, _ in generated.rows]
        offline = spells(times[0], times[-1], cadence, rng)
        for i in pick(times, cadence, rng):
            if not any(begin <= times[i] < end for begin, end in offline):
                events.append((times[i], 0, generated.asset, generated.rows[i][1]))
        events += [(at, 1, generated.asset, None) for at in generated.failures]
    predictor = Predictor()
    life = dict.fromkeys((a.asset for a in fleet.assets), 0)
    first: dict[tuple[str, int], float] = {}
    for ts, _, asset, values in sorted(events, key=lambda e: (e[0], e[1])):
        if values is None:
            predictor.label("acme", asset, "pump", "failure", ts)
            predictor.label("acme", asset, "pump", "repair", ts + HOUR)
            life[asset] += 1
        elif predictor.observe("acme", asset, "pump", ts, values).failure_probability >= 0.7:
            first.setdefault((asset, life[asset]), ts)
    return [
        (at - first[(a.asset, n)]) / HOUR if (a.asset, n) in first else None
        for a in fleet.assets
        for n, at in enumerate(a.failures)
    ]


def test_the_same_wear_is_flagged_as_early_whether_read_every_10_s_1_min_or_10_min() -> None:
    # Before, a step's mean of sixty quiet readings made the same wear many more healthy spreads
    # than a step of one: read every 10 s the fleet was flagged two days before it was read
    # every 10 minutes, from the same machines.
    leads = {every: first_alarms(Cadence(every)) for every in (10.0, 60.0, 600.0)}
    for n, per_cadence in enumerate(zip(*leads.values(), strict=True)):
        assert all(lead is not None and 2.0 <= lead <= 96.0 for lead in per_cadence), (n, leads)
        known = [lead for lead in per_cadence if lead is not None]
        assert max(known) - min(known) <= 6.0, (n, leads)


@pytest.mark.parametrize(
    "cadence",
    [Cadence(3600.0), Cadence(300.0, jitter=0.5, gaps_per_100h=2.0, gap_s=6 * HOUR)],
    ids=["hourly", "jittered-with-6-h-gaps"],
)
def test_every_failure_is_flagged_in_time_when_read_hourly_or_irregularly(cadence: Cadence) -> None:
    leads = first_alarms(cadence)
    assert all(lead is not None and 2.0 <= lead <= 96.0 for lead in leads), leads

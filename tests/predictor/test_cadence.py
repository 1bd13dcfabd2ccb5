"""The same fleet read at another cadence gives the same models: steps, operating regimes and the
fleet normal's maturity run in event time, not in readings."""

from __future__ import annotations

import random

from predictor.engine import Predictor
from predictor.models import HOUR
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
    assert max(ready.values()) - min(ready.values()) <= HOUR, ready

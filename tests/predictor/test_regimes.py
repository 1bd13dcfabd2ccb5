"""Operating regimes (``predictor.regimes``) are found in event time: from the same days of a
type's readings whatever the cadence, and an idle state each machine visits only now and then
is a regime of its own."""

from __future__ import annotations

import itertools
import random

import pytest

from predictor.regimes import RegimeModel
from simulators.operating import Conditions, OperatingSchedule

HOUR = 3600.0
IDLING = Conditions(load_cycles=0.5, idle_share=0.2)  # setpoints held 1-6 h, idle a fifth of the time


def reading(rng: random.Random, schedule: OperatingSchedule, t: float) -> dict[str, float]:
    """A motor's current and temperature: both follow the load while it runs, and rest when it idles."""
    state = schedule.at(t)
    if not state.running:
        return {"current_a": 0.0, "temp_c": round(20.0 + rng.gauss(0, 0.1), 3)}
    return {
        "current_a": round(20.0 + 30.0 * state.load + rng.gauss(0, 0.5), 3),
        "temp_c": round(45.0 + 10.0 * state.load + rng.gauss(0, 0.4), 3),
    }


def found(interval: float, assets: int, hours: float) -> RegimeModel:
    rng = random.Random(5)
    schedules = [OperatingSchedule(IDLING, 5, f"m{i}", 0.0) for i in range(assets)]
    model = RegimeModel()
    t = 0.0
    while t < hours * HOUR and not model.fitted:
        for n, schedule in enumerate(schedules):
            model.assign(reading(rng, schedule, t), f"m{n}", ts=t)
        t += interval
    return model


@pytest.mark.parametrize(("interval", "assets"), [(1.0, 3), (600.0, 17)])
def test_an_idle_state_visited_a_fifth_of_the_time_is_a_regime_at_any_cadence(
    interval: float, assets: int
) -> None:
    # Before, the regimes were found from the type's first 240 readings: four minutes of a machine
    # read every second, two hours and a half of seventeen stepping every ten minutes, and no
    # machine idled in them.
    model = found(interval, assets, hours=60)
    assert model.fitted and model.count == 2
    idle, running = {"current_a": 0.0, "temp_c": 20.0}, {"current_a": 38.0, "temp_c": 51.0}
    assert model.assign(idle) != model.assign(running)
    assert model.assign({"current_a": 0.2, "temp_c": 20.3}) == model.assign(idle)


def test_the_regimes_are_found_after_two_days_of_event_time_however_many_readings() -> None:
    for interval in (10.0, 3600.0):
        model = found(interval, assets=4, hours=47.5)
        assert not model.fitted  # nor after hundreds of thousands of readings at 10 s
    assert found(3600.0, assets=4, hours=49.5).fitted


def test_the_readings_kept_are_bounded_and_one_per_asset_per_spacing() -> None:
    model = RegimeModel(collect_s=1e9, max_samples=400)
    rng = random.Random(1)
    for k in range(20_000):
        t = k * 60.0 + rng.uniform(0, 30)  # jittered minutes
        model.assign({"x": rng.gauss(0, 1)}, "a", ts=t)
        model.assign({"x": rng.gauss(0, 1)}, "b", ts=t)
    assert not model.fitted
    assert len(model._seen) <= 400  # the state a fleet of any cadence keeps
    times = sorted(t for t, s in zip(model._times, model._sources, strict=True) if s == "a")
    assert min(b - a for a, b in itertools.pairwise(times)) > 0.5 * model.spacing
    assert 20_000 * 60.0 / model.spacing * 0.9 <= len(times) <= 400


def test_assets_that_each_sit_at_their_own_level_are_no_regimes() -> None:
    """Two groups of assets read at offsets of their own and never move between them: not a way
    the equipment runs, whichever share of the fleet each holds."""
    rng = random.Random(2)
    model = RegimeModel(collect_s=10 * HOUR)
    for k in range(70):
        for n in range(8):
            offset = 0.0 if n < 4 else 50.0
            model.assign({"temp_c": 40.0 + offset + rng.gauss(0, 0.3)}, f"a{n}", ts=k * 600.0)
    assert model.fitted and model.count == 1


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"collect_s": 0.0}, {"spacing": -1.0}, {"max_regimes": 0}, {"max_samples": 10}):
        with pytest.raises(ValueError, match="collect_s"):
            RegimeModel(**kwargs)

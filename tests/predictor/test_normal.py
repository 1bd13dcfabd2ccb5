"""An asset's own normal: learnt in its first day, then slow to follow what the asset does."""

from __future__ import annotations

import random

import pytest

from predictor.normal import OWN_SETTLED, AssetNormal

STEP = 600.0
DAY = 86400.0


def test_an_asset_wearing_from_its_second_day_does_not_teach_its_normal_the_wear() -> None:
    rng = random.Random(3)
    normal = AssetNormal()
    t = 0.0
    while t < DAY:  # its first day: healthy, scattered about 0 (fleet units)
        normal.learn({"x": rng.gauss(0.0, 0.3)}, t, young=True)
        t += STEP
    settled = normal.offsets["x"]
    drift = 0.0
    while t < 5 * DAY:  # then wear: a slow drift, each step still within the learning gate
        drift = 2.0 * (t - DAY) / (4 * DAY)
        normal.learn({"x": drift + rng.gauss(0.0, 0.3)}, t, young=False)
        t += STEP
    assert abs(settled) < 0.1
    assert abs(normal.offsets["x"] - settled) < 0.05 * drift  # a plain running mean took in half of it


def test_an_asset_read_hourly_averages_its_first_day_of_steps_before_it_settles() -> None:
    """Read once an hour, an asset's youth holds 24 steps: its offset stays a plain mean until
    it has a day's worth of steps (OWN_SETTLED), then follows only slowly."""
    rng = random.Random(5)
    normal = AssetNormal()
    values = [rng.gauss(1.0, 0.3) for _ in range(OWN_SETTLED)]
    for i, value in enumerate(values):
        normal.learn({"x": value}, i * 3600.0, young=i < 24)
    assert normal.offsets["x"] == pytest.approx(sum(values) / len(values))
    settled = normal.offsets["x"]
    for i in range(OWN_SETTLED, OWN_SETTLED + 48):  # two days a full unit away
        normal.learn({"x": settled + 1.0}, i * 3600.0, young=False)
    assert 0.0 < normal.offsets["x"] - settled < 0.05

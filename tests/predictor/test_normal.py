"""An asset's own normal: learnt in its first day, then slow to follow what the asset does."""

from __future__ import annotations

import random

from predictor.normal import AssetNormal

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

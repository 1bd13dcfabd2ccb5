"""Per-asset online models on synthetic signals: calm when healthy, alarmed when degrading."""

from __future__ import annotations

import math
import pickle
import random
from pathlib import Path

from predictor.engine import Predictor

HOUR = 3600.0


def reading(rng: random.Random, t: float, wear: float) -> dict[str, float]:
    day = math.sin(2 * math.pi * t / (24 * HOUR))
    return {
        "temp_c": 60 + 3 * day + rng.gauss(0, 0.5) + 25 * wear**2,
        "vibration_mm_s": 2.5 + 0.2 * day + rng.gauss(0, 0.1) + 8 * wear**2,
        "pressure_bar": 4.0 + rng.gauss(0, 0.05),
    }


def run(
    predictor: Predictor, asset: str, hours: float, fault_from: float | None, seed: int, start: float = 0.0
):
    rng = random.Random(seed)
    healths = []
    t = start
    while t < start + hours * HOUR:
        wear = 0.0 if fault_from is None or t < fault_from else min((t - fault_from) / (48 * HOUR), 1.0)
        healths.append(predictor.observe("acme", asset, "pump", t, reading(rng, t, wear)))
        t += 600.0
    return healths


def test_healthy_assets_stay_calm_for_days() -> None:
    predictor = Predictor()
    for i in range(5):
        run(predictor, f"p{i}", 24, None, seed=i)
    healths = run(predictor, "p9", 24 * 5, None, seed=99)
    assert max(h.failure_probability for h in healths[36:]) < 0.3
    assert max(h.anomaly_score for h in healths[36:]) < 0.5


def test_a_degrading_asset_is_flagged_before_it_fails_with_a_shrinking_ttf() -> None:
    predictor = Predictor()
    for i in range(5):
        run(predictor, f"p{i}", 24, None, seed=i)
    onset = 48 * HOUR  # failure when wear reaches 1, 48 h after onset
    healths = run(predictor, "sick", 96, onset, seed=7)
    alarms = [h for h in healths if h.failure_probability >= 0.6]
    assert alarms, "never alarmed"
    first = alarms[0]
    assert onset < first.at < onset + 44 * HOUR  # before the failure, with hours to spare
    later = [h for h in healths if h.at > first.at and h.ttf_hours is not None]
    assert later and later[-1].ttf_hours is not None and later[-1].ttf_hours < 48
    assert {"temp_c", "vibration_mm_s"} & set(first.top_sensors)


def test_labels_teach_the_fleet_and_a_repair_resets_the_asset(tmp_path: Path) -> None:
    predictor = Predictor()
    run(predictor, "p1", 24, None, seed=1)
    run(predictor, "sick", 60, 10 * HOUR, seed=2)
    fleet = predictor.types[("acme", "pump")]
    negatives_before = fleet.negatives
    predictor.label("acme", "sick", "pump", "fault", at=60 * HOUR)
    assert fleet.positives > 0
    model = predictor.assets[("acme", "sick")]
    assert model.indicator == 0.0 and not model.pending
    predictor.label("acme", "p1", "pump", "no_fault", at=24 * HOUR)
    assert fleet.negatives > negatives_before
    path = tmp_path / "ck" / "worker.pkl"
    predictor.save(path)
    restored = Predictor.load(path)
    assert restored is not None
    assert restored.types[("acme", "pump")].positives == fleet.positives
    assert Predictor.load(tmp_path / "missing.pkl") is None


def test_a_failure_marks_the_asset_down_until_repaired() -> None:
    predictor = Predictor()
    run(predictor, "p1", 30, 2 * HOUR, seed=3)
    predictor.label("acme", "p1", "pump", "failure", at=30 * HOUR)
    model = predictor.assets[("acme", "p1")]
    assert model.down
    assert predictor.types[("acme", "pump")].failure_level.n == 1
    health = run(predictor, "p1", 1, None, seed=4, start=30 * HOUR)[-1]
    assert health.failure_probability == 0.0
    predictor.label("acme", "p1", "pump", "repair", at=31 * HOUR)
    assert not model.down


def test_a_lasting_shift_is_flagged_as_drift_and_a_no_fault_visit_adapts_to_it() -> None:
    predictor = Predictor()
    rng = random.Random(5)
    t = 0.0
    healths = []
    while t < 72 * HOUR:  # three healthy days, then a permanent step (e.g. a new operating point)
        values = reading(rng, t, 0.0)
        if t >= 48 * HOUR:
            values["pressure_bar"] += 0.6
        healths.append(predictor.observe("acme", "p1", "pump", t, values))
        t += 600.0
    assert not any(h.drift for h in healths if h.at < 48 * HOUR)
    assert healths[-1].drift
    shifted = healths[-1].indicator
    predictor.label("acme", "p1", "pump", "no_fault", at=t)
    for _ in range(int(30 * HOUR / 600)):  # the new normal is learnt after a fresh warm-up
        values = reading(rng, t, 0.0)
        values["pressure_bar"] += 0.6
        health = predictor.observe("acme", "p1", "pump", t, values)
        t += 600.0
    assert health.indicator < shifted / 2
    assert not health.drift


def test_the_daily_duty_cycle_is_normal_but_a_small_shift_at_any_hour_is_not() -> None:
    """Against a learned daily profile, a shift far smaller than the daily swing stands out."""
    from predictor.detectors import BaselineDetector

    rng = random.Random(3)
    det = BaselineDetector(warmup=10)

    def level(t: float) -> float:
        return 50.0 + 10.0 * math.sin(2 * math.pi * t / (24 * HOUR))  # daily swing of ±10

    t = 0.0
    while t < 7 * 24 * HOUR:
        det.learn_one({"temp_c": level(t) + rng.gauss(0, 0.3)}, at=t)
        t += 600.0
    for hour in range(0, 24, 3):
        at = t + hour * HOUR
        assert det.score_one({"temp_c": level(at)}, at=at) < 1.0  # peak or trough: normal
        assert det.score_one({"temp_c": level(at) + 2.0}, at=at) > 4.0  # +2 on a ±10 swing: not


def test_models_step_on_event_time_means_so_state_does_not_grow_with_the_sample_rate() -> None:
    predictor = Predictor()
    rng = random.Random(5)
    t = 0.0
    while t < 3 * 24 * HOUR:  # a reading every 10 s
        predictor.observe("acme", "fast", "pump", t, reading(rng, t, 0.0))
        t += 10.0
    model = predictor.assets[("acme", "fast")]
    assert model.since_reset == 3 * 24 * 6  # one step per 10 minutes, not one per reading
    assert len(model.trend.points) <= 24 * 6 + 1
    assert 24 <= len(model.pending) <= 3 * 24 + 1  # one labelling row an hour
    slow = Predictor()
    t = 0.0
    while t < 3 * 24 * HOUR:
        slow.observe("acme", "slow", "pump", t, reading(rng, t, 0.0))
        t += 600.0
    fast_size = len(pickle.dumps(model))
    slow_size = len(pickle.dumps(slow.assets[("acme", "slow")]))
    assert fast_size < 1.2 * slow_size

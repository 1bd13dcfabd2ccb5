"""RulFeatures (per-asset steps, history) and RulModel (fleet RUL learned at each failure)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from predictor.rul import HOUR, RulFeatures, RulModel


def test_every_hourly_reading_on_the_boundary_is_its_own_step() -> None:
    feats = RulFeatures(step_s=HOUR)
    out = [feats.add(c * HOUR, {"temp_c": float(c)}) for c in range(10)]
    assert all(x is not None for x in out)
    assert out[-1] is not None
    assert out[-1]["temp_c:mean_5h"] == pytest.approx(7.0)  # mean of 5..9
    assert out[-1]["temp_c:mean_30h"] == pytest.approx(4.5)  # all ten steps so far


def test_readings_within_a_step_are_averaged_and_emitted_at_the_boundary() -> None:
    feats = RulFeatures(step_s=HOUR)
    assert feats.add(100.0, {"temp_c": 1.0}) is None  # the first step ends at 3600 s
    assert feats.add(1800.0, {"temp_c": 3.0}) is None
    first = feats.add(3600.0, {"temp_c": 5.0})  # reaching the boundary closes the step, with it
    assert first == {}  # one step: nothing varies yet
    for ts in (4000.0, 5000.0, 6000.0):
        assert feats.add(ts, {"temp_c": 8.0}) is None
    second = feats.add(7200.0, {"temp_c": 8.0})
    assert second is not None
    assert second["temp_c:mean_5h"] == pytest.approx((3.0 + 8.0) / 2)
    # A gap over several boundaries still gives one step, and the next boundary follows it.
    assert feats.add(30000.0, {"temp_c": 2.0}) is not None
    assert feats.add(32000.0, {"temp_c": 2.0}) is None
    assert feats.add(32400.0, {"temp_c": 2.0}) is not None


def test_constant_sensors_give_no_features_until_they_move() -> None:
    feats = RulFeatures()
    for c in range(20):
        x = feats.add(c * HOUR, {"temp_c": 50.0 + 0.1 * c, "rpm": 1500.0})
    assert x is not None
    assert set(x) == {"temp_c:mean_5h", "temp_c:mean_15h", "temp_c:mean_30h"}
    x = feats.add(20 * HOUR, {"temp_c": 52.0, "rpm": 1400.0})
    assert x is not None and "rpm:mean_5h" in x


def test_a_silent_sensor_keeps_its_last_step_value() -> None:
    feats = RulFeatures()
    feats.add(0.0, {"a": 1.0, "b": 10.0})
    feats.add(HOUR, {"a": 3.0, "b": 20.0})
    x = feats.add(2 * HOUR, {"a": 5.0})
    assert x is not None
    assert x["b:mean_5h"] == pytest.approx((10.0 + 20.0 + 20.0) / 3)


def test_history_is_bounded_matches_the_emitted_vectors_and_fits_the_state_budget() -> None:
    feats = RulFeatures(keep=200)
    rng = np.random.default_rng(1)
    emitted = []
    for c in range(500):
        x = feats.add(c * HOUR, {f"sensor_{i}": 100.0 * i + float(rng.normal()) for i in range(1, 22)})
        assert x is not None
        emitted.append((c * HOUR, x))
    history = feats.history()
    assert len(history) == 200
    assert [ts for ts, _ in history] == [ts for ts, _ in emitted[-200:]]
    for (_, rebuilt), (_, original) in zip(history[-150:], emitted[-150:], strict=True):
        assert rebuilt.keys() == original.keys()
        assert all(rebuilt[k] == pytest.approx(original[k], rel=1e-6) for k in original)
    assert len(feats.history(last=10)) == 10
    assert len(pickle.dumps(feats)) <= 24 * 1024


def test_a_large_level_does_not_eat_the_precision_of_small_changes() -> None:
    """A line frequency, an absolute pressure in Pa: the changes that matter are tiny next to
    the level, and the stored step means (float32) must not round them away."""
    plain, shifted = RulFeatures(), RulFeatures()
    for i in range(60):
        x = 0.001 * math.sin(i / 5.0) + 1e-5 * i
        a = plain.add(i * HOUR, {"f": x})
        b = shifted.add(i * HOUR, {"f": 1e5 + x})
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert [v - 1e5 for v in b.values()] == pytest.approx(list(a.values()), abs=1e-8)
    for (_, a), (_, b) in zip(plain.history(), shifted.history(), strict=True):
        assert [v - 1e5 for v in b.values()] == pytest.approx(list(a.values()), abs=1e-8)


def test_after_a_reset_the_precision_follows_the_new_units() -> None:
    """Once a type's regimes are found, the features go from raw readings to fleet units: the
    level the stored step means are kept against is taken again, not the old raw one."""
    features, fresh = RulFeatures(), RulFeatures()
    for i in range(10):
        features.add(i * HOUR, {"f": 101_325.0 + i})
    features.reset()
    for i in range(10, 60):
        x = 0.001 * math.sin(i / 5.0) + 1e-5 * i
        a = features.add(i * HOUR, {"f": x})
        b = fresh.add(i * HOUR, {"f": x})
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert list(a.values()) == pytest.approx(list(b.values()), abs=1e-9)


def test_reset_forgets_the_past() -> None:
    feats = RulFeatures()
    for c in range(50):
        feats.add(c * HOUR, {"temp_c": 100.0 + c})
    feats.reset()
    assert feats.history() == []
    feats.add(60 * HOUR, {"temp_c": 1.0})
    x = feats.add(61 * HOUR, {"temp_c": 3.0})
    assert x is not None
    assert x["temp_c:mean_30h"] == pytest.approx(2.0)
    assert len(feats.history()) == 2


def _engine(rng: np.random.Generator, life: int) -> list[dict[str, float]]:
    """A degrading unit: two sensors drift up as failure nears, one is noise, one constant."""
    wear = np.exp((np.arange(life) - life) / 40.0)
    offset = rng.normal(0.0, 0.2)
    return [
        {
            "temp_c": 60.0 + offset + 4.0 * w + float(rng.normal(0.0, 0.3)),
            "vib_mm_s": 2.0 + 1.5 * w + float(rng.normal(0.0, 0.1)),
            "noise": float(rng.normal()),
            "rpm": 1500.0,
        }
        for w in wear
    ]


def _stream_fleet(model: RulModel, engines: list[list[dict[str, float]]]) -> None:
    """Interleaved like a fleet; each unit's failure is learned at its last step."""
    feats = [RulFeatures() for _ in engines]
    for c in range(max(len(e) for e in engines)):
        for f, engine in zip(feats, engines, strict=True):
            if c < len(engine):
                f.add(c * HOUR, engine[c])
                if c == len(engine) - 1:
                    model.learn_failure(f.history(), failed_at=c * HOUR)
                    f.reset()


@pytest.fixture(scope="module")
def trained() -> tuple[RulModel, list[list[dict[str, float]]]]:
    rng = np.random.default_rng(7)
    model = RulModel(cap_hours=125.0, min_failures=5, components=60)
    _stream_fleet(model, [_engine(rng, int(rng.integers(150, 230))) for _ in range(16)])
    return model, [_engine(rng, int(rng.integers(150, 230))) for _ in range(6)]


def test_no_prediction_before_min_failures() -> None:
    rng = np.random.default_rng(3)
    model = RulModel(min_failures=3, components=20)
    _stream_fleet(model, [_engine(rng, 100) for _ in range(2)])
    assert model.failures == 2
    assert model.predict({"temp_c:mean_5h": 60.0}) is None
    _stream_fleet(model, [_engine(rng, 100)])
    assert model.failures == 3
    assert model.predict({"temp_c:mean_5h": 60.0}) is not None


def test_learning_from_failures_beats_a_constant_estimate(
    trained: tuple[RulModel, list[list[dict[str, float]]]],
) -> None:
    model, held_out = trained
    assert model.failures == 16
    errors, constant_errors = [], []
    for engine in held_out:
        feats = RulFeatures()
        for c, reading in enumerate(engine):
            x = feats.add(c * HOUR, reading)
            if c % 20 == 10 and x is not None:
                truth = min(len(engine) - 1 - c, 125.0)
                estimate = model.predict(x, feats.history(last=model.match_steps))
                assert estimate is not None
                rul, low, high = estimate
                assert 0.0 <= low <= rul <= high
                errors.append(rul - truth)
                constant_errors.append(125.0 / 2 - truth)
    rmse = math.sqrt(np.mean(np.square(errors)))
    constant = math.sqrt(np.mean(np.square(constant_errors)))
    assert rmse < 0.5 * constant, (rmse, constant)


def test_estimate_without_history_and_after_a_pickle_round_trip(
    trained: tuple[RulModel, list[list[dict[str, float]]]],
) -> None:
    model, held_out = trained
    feats = RulFeatures()
    for c, reading in enumerate(held_out[0][:80]):
        x = feats.add(c * HOUR, reading)
    assert x is not None
    alone = model.predict(x)
    assert alone is not None and 0.0 <= alone[1] <= alone[0] <= alone[2] <= 125.0
    restored = pickle.loads(pickle.dumps(model))
    history = feats.history()
    assert restored.predict(x, history) == model.predict(x, history)
    assert restored.failures == model.failures


def test_the_live_model_keeps_the_trajectory_and_agrees_with_a_full_rebuild() -> None:
    """The asset's kept indicator trajectory (one value added an hour) gives what the full
    history would; a new failure learned by the fleet makes the asset rebuild it."""
    from predictor.engine import Predictor

    rng = np.random.default_rng(3)
    predictor = Predictor()
    end = 0.0
    for unit in range(6):
        rows = _engine(rng, int(rng.integers(150, 200)))
        for c, row in enumerate(rows):
            predictor.observe("acme", f"u{unit}", "turbofan", c * HOUR, row)
        end = max(end, (len(rows) - 1) * HOUR)
        predictor.label("acme", f"u{unit}", "turbofan", "failure", (len(rows) - 1) * HOUR)
    rul = predictor.types[("acme", "turbofan")].rul
    assert rul.trained
    model = predictor.model("acme", "live", "turbofan")
    for c, row in enumerate(_engine(rng, 160)[:120]):
        health = predictor.observe("acme", "live", "turbofan", end + (c + 1) * HOUR, row)
    assert model.rul_revision == rul.revision and len(model.rul_recent) == rul.match_steps
    history = model.rul_features.history(rul.match_steps)
    rebuilt = rul.predict(history[-1][1], history)
    assert rebuilt is not None and model.ttf is not None
    assert model.ttf[1] == pytest.approx(rebuilt[0], rel=1e-3, abs=0.5)
    assert health.ttf_hours == pytest.approx(max(rebuilt[0], 0.5), rel=1e-3, abs=0.5)
    revision = rul.revision
    rows = _engine(rng, 170)
    for c, row in enumerate(rows):
        predictor.observe("acme", "u9", "turbofan", end + c * HOUR, row)
    predictor.label("acme", "u9", "turbofan", "failure", end + (len(rows) - 1) * HOUR)
    assert rul.revision > revision
    predictor.observe("acme", "live", "turbofan", end + 200 * HOUR, _engine(rng, 160)[125])
    assert model.rul_revision == rul.revision  # rebuilt against the new weights

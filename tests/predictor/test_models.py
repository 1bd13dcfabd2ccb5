"""Per-asset online models on synthetic signals: calm when healthy, alarmed when degrading, taught."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictor.calibration import ROW_WEIGHT
from predictor.engine import Predictor
from predictor.models import Health
from simulators.histories import generate_fleet

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
) -> list[Health]:
    rng = random.Random(seed)
    healths = []
    t = start
    while t < start + hours * HOUR:
        wear = 0.0 if fault_from is None or t < fault_from else min((t - fault_from) / (48 * HOUR), 1.0)
        healths.append(predictor.observe("acme", asset, "pump", t, reading(rng, t, wear)))
        t += 600.0
    return healths


def healthy_fleet(predictor: Predictor, assets: int = 6, hours: float = 24) -> None:
    for i in range(assets):
        run(predictor, f"p{i}", hours, None, seed=i)


def test_healthy_assets_stay_calm_for_days() -> None:
    predictor = Predictor()
    healthy_fleet(predictor)
    healths = run(predictor, "p9", 24 * 5, None, seed=99)
    assert all(h.warming_up for h in healths[:68])  # a new asset sees half a day before it may alarm
    assert max(h.failure_probability for h in healths[150:]) < 0.2
    assert max(h.anomaly_score for h in healths[150:]) < 0.5


@pytest.mark.parametrize("start_hour", [0, 5, 9, 14, 19])
def test_a_new_fleet_with_a_daily_cycle_stays_calm_whatever_the_hour_it_starts(start_hour: int) -> None:
    # Installed together, before a daily cycle could be known (it takes days of data): the
    # scatter learned on the first day must cover the whole day, not the hours seen so far.
    predictor = Predictor()
    start = start_hour * HOUR
    fleet = [run(predictor, f"p{i}", 72, None, seed=i, start=start) for i in range(3)]
    settled = [h for healths in fleet for h in healths if not h.warming_up]
    assert len(settled) > 3 * 6 * 40
    assert max(h.failure_probability for h in settled) < 0.2


def test_a_new_asset_that_fails_within_a_day_is_flagged_in_time() -> None:
    # Short-lived machines (pump bearings that overheat a day after a repair) failed before a
    # whole day's warm-up ended, and were never flagged.
    predictor = Predictor()
    healthy_fleet(predictor)
    start = 24 * HOUR  # installed once the fleet knows its normal; worn out 22 h later
    healths = run(predictor, "short", 22, fault_from=start - 26 * HOUR, seed=5, start=start)
    alarms = [h for h in healths if h.failure_probability >= 0.6]
    assert alarms and alarms[0].at <= start + 20 * HOUR, "not flagged two hours before it failed"


def test_a_degrading_asset_is_flagged_before_it_fails() -> None:
    predictor = Predictor()
    healthy_fleet(predictor)
    onset = 48 * HOUR  # failure when wear reaches 1, 48 h after onset
    healths = run(predictor, "sick", 96, onset, seed=7)
    alarms = [h for h in healths if h.failure_probability >= 0.6]
    assert alarms, "never alarmed"
    first = alarms[0]
    assert onset < first.at < onset + 44 * HOUR  # before the failure, with hours to spare
    assert {"temp_c", "vibration_mm_s"} & set(first.top_sensors)
    assert first.evidence["anomaly"] > 0.5  # no failure seen yet: the anomaly alone says so


def replay(predictor: Predictor, seed: int, labels_late_by: float = 0.0) -> None:
    """A generated run-to-failure fleet, its failures labelled ``labels_late_by`` seconds after they
    happen (negative: before the asset's last readings have arrived)."""
    fleet = generate_fleet(seed, assets=5, two_lives=1, censored=1)
    readings = sorted((ts, a.asset, v) for a in fleet.assets for ts, v in a.rows)
    labels = sorted((t + labels_late_by, t, a.asset) for a in fleet.assets for t in a.failures)
    due = 0
    repaired: set[tuple[str, float]] = set()
    for ts, asset, values in readings:
        while due < len(labels) and labels[due][0] <= ts:
            _, at, failed = labels[due]
            predictor.label("t", failed, fleet.asset_type, "failure", at)
            due += 1
        for at in next(a.failures for a in fleet.assets if a.asset == asset):
            if at < ts and (asset, at) not in repaired:
                repaired.add((asset, at))
                predictor.label("t", asset, fleet.asset_type, "repair", at + 1.0)
        predictor.observe("t", asset, fleet.asset_type, ts, values)
        predictor.advance("t", ts)


def test_a_label_that_overtakes_its_data_teaches_the_same_history() -> None:
    """A failure posted hours before its last readings arrive (after a backlog, say) waits for
    them: the fleet learns exactly what it learns from a label posted after the data."""
    on_time, early = Predictor(), Predictor()
    replay(on_time, seed=21)
    replay(early, seed=21, labels_late_by=-6 * HOUR)
    (fleet_a,) = on_time.types.values()
    (fleet_b,) = early.types.values()
    assert fleet_a.library.failures == fleet_b.library.failures >= 4
    assert fleet_a.library.signature() == pytest.approx(fleet_b.library.signature())
    assert fleet_a.rul.failures == fleet_b.rul.failures
    for stage_a, stage_b in zip(fleet_a.calibrator.weights, fleet_b.calibrator.weights, strict=True):
        assert stage_a == pytest.approx(stage_b)


def test_failures_teach_where_the_end_is_and_the_evidence_follows() -> None:
    predictor = Predictor()
    replay(predictor, seed=5)
    (fleet,) = predictor.types.values()
    signature = fleet.library.signature()
    assert fleet.library.failures >= 4 and max(abs(v) for v in signature.values()) > 1.0
    models = [m for m in predictor.assets.values() if m.last is not None and "crossing" in m.hourly]
    assert models, "no asset weighs the crossing evidence after the fleet's failures"


def test_a_failure_marks_the_asset_down_and_a_repair_starts_a_new_life(tmp_path: Path) -> None:
    predictor = Predictor()
    healthy_fleet(predictor)
    run(predictor, "p1", 30, 2 * HOUR, seed=3, start=24 * HOUR)
    predictor.label("acme", "p1", "pump", "failure", at=54 * HOUR)
    model = predictor.assets[("acme", "p1")]
    assert not model.down  # the data may not all be here: the label waits
    predictor.advance("acme", 54.5 * HOUR)
    assert not model.down
    predictor.advance("acme", 55.5 * HOUR)  # the tenant's clock is well past it: no more data to wait for
    assert model.down and model.failed_at == 54 * HOUR
    assert predictor.types[("acme", "pump")].library.failures == 1
    health = run(predictor, "p1", 1, None, seed=4, start=55.5 * HOUR)[-1]
    assert health.failure_probability == 0.0
    predictor.label("acme", "p1", "pump", "repair", at=56 * HOUR)
    assert not model.down
    assert model.last is not None and model.last.failure_probability == 0.0 and model.last.warming_up
    path = tmp_path / "ck" / "worker.pkl"
    predictor.save(path)
    restored = Predictor.load(path)
    assert restored is not None and restored.types[("acme", "pump")].library.failures == 1
    assert Predictor.load(tmp_path / "missing.pkl") is None


@pytest.mark.parametrize("kind", ["fault", "failure"])
def test_a_fault_found_in_time_is_a_censored_failure_not_a_failure_at_the_visit(kind: str) -> None:
    """A failure labels the horizon before it positive; a fault found before the failure only says
    the asset ran more than a horizon past the older rows (negatives), and nothing about the rest.
    Every row weighs what a row that aged out weighs, however it was labelled."""
    predictor = Predictor()
    healthy_fleet(predictor)
    run(predictor, "p1", 60, 40 * HOUR, seed=3, start=24 * HOUR)
    model = predictor.assets[("acme", "p1")]
    calibrator = model.fleet.calibrator
    rows = [ts for ts, _ in model.pending]
    horizon = 48 * HOUR
    at = rows[5] + horizon  # a row exactly a horizon before the label is older than the horizon
    assert at <= (model.latest or 0.0)  # its data is all here: the label applies at once
    before = len(calibrator._labels)
    predictor.label("acme", "p1", "pump", kind, at=at)
    taught = calibrator._labels[before:].tolist()
    weights = calibrator._weights[before:].tolist()
    if kind == "failure":
        labelled = [ts for ts in rows if ts <= at]
        assert taught == [float(at - ts <= horizon) for ts in labelled] and any(taught)
        assert weights == pytest.approx([ROW_WEIGHT] * len(labelled))
    else:
        assert taught == [0.0] * 6
        assert weights == pytest.approx([ROW_WEIGHT] * 6)
    assert len(model.pending) == 0


def test_a_lasting_shift_is_flagged_as_drift_and_a_no_fault_visit_adapts_to_it() -> None:
    predictor = Predictor()
    healthy_fleet(predictor)
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
    for _ in range(int(30 * HOUR / 600)):  # the new normal is learnt after a fresh settling
        values = reading(rng, t, 0.0)
        values["pressure_bar"] += 0.6
        health = predictor.observe("acme", "p1", "pump", t, values)
        t += 600.0
    assert health.indicator < shifted / 2
    assert not health.drift


def test_models_step_on_event_time_means_so_state_does_not_grow_with_the_sample_rate() -> None:
    fast, slow = Predictor(), Predictor()
    rng = random.Random(5)
    for predictor, interval in ((fast, 10.0), (slow, 600.0)):
        t = 0.0
        while t < 3 * 24 * HOUR:
            predictor.observe("acme", "p", "pump", t, reading(rng, t, 0.0))
            t += interval
    model = fast.assets[("acme", "p")]
    assert model.steps == 3 * 24 * 6  # one step per 10 minutes, not one per reading
    assert len(model.trend.points) <= 24 * 6 + 1
    assert len(model.pending) <= 3 * 24 + 1  # one labelling row an hour
    assert len(pickle.dumps(model)) < 1.2 * len(pickle.dumps(slow.assets[("acme", "p")]))


def regimes(rng: random.Random, t: float, wear: float) -> dict[str, float]:
    """Three operating points far apart; wear moves two sensors within each."""
    k = int(t / 600.0) % 3
    speed = (1000.0, 1800.0, 2600.0)[k]
    return {
        "speed_rpm": speed + rng.gauss(0, 3),
        "temp_c": 40 + speed / 100 + rng.gauss(0, 0.3) + 6 * wear,
        "current_a": 10 + speed / 200 + rng.gauss(0, 0.1) + 2 * wear,
        "pressure_bar": 2 + speed / 1000 + rng.gauss(0, 0.02),
    }


def series(
    predictor: Predictor, asset: str, hours: float, wear: Iterator[float] | None, seed: int
) -> list[Health]:
    rng = random.Random(seed)
    out, t = [], 0.0
    while t < hours * HOUR:
        out.append(predictor.observe("acme", asset, "skid", t, regimes(rng, t, next(wear) if wear else 0.0)))
        t += 600.0
    return out


def test_operating_regimes_are_found_and_normal_in_each() -> None:
    predictor = Predictor()
    for i in range(4):
        series(predictor, f"s{i}", 36, None, seed=i)
    fleet = predictor.types[("acme", "skid")]
    assert fleet.regimes.count == 3
    calm = series(predictor, "calm", 72, None, seed=10)
    assert max(h.failure_probability for h in calm[200:]) < 0.2  # regime changes are no anomaly
    ramp = (min(max((k * 600.0 - 40 * HOUR) / (30 * HOUR), 0.0), 1.0) for k in range(10**6))
    sick = series(predictor, "sick", 72, ramp, seed=11)
    assert max(h.failure_probability for h in sick) >= 0.6  # a small wear within each regime is


def test_unknown_names_and_scales_change_nothing() -> None:
    """Renamed, rescaled (also flipped) and reordered sensors give the same probabilities."""
    fleet = generate_fleet(8, assets=5, two_lives=0, censored=0)
    maps = {
        s.name: (f"x{i}", (-3.0 if i % 2 else 0.01), 100.0 * i) for i, s in enumerate(reversed(fleet.sensors))
    }
    plain, disguised = Predictor(), Predictor()
    readings = sorted((ts, a.asset, v) for a in fleet.assets for ts, v in a.rows)
    failures = sorted((t, a.asset) for a in fleet.assets for t in a.failures)
    out: dict[str, list[float]] = {"plain": [], "disguised": []}
    for ts, asset, values in readings:
        while failures and failures[0][0] <= ts:
            at, failed = failures.pop(0)
            for p in (plain, disguised):
                p.label("t", failed, "a", "failure", at)
        shown = {maps[k][0]: v * maps[k][1] + maps[k][2] for k, v in values.items()}
        out["plain"].append(plain.observe("t", asset, "a", ts, values).failure_probability)
        out["disguised"].append(disguised.observe("t", asset, "b", ts, shown).failure_probability)
        plain.advance("t", ts)
        disguised.advance("t", ts)
    diff = [abs(a - b) for a, b in zip(out["plain"], out["disguised"], strict=True)]
    assert max(diff) < 1e-6

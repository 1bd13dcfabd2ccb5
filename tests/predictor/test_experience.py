"""The Experience index learnt from outcomes (predictor.experience): it explains itself, every
driver moves it the way its evidence says, the prior holds until enough outcomes, learning
follows the drivers that predict, and its checkpoint round-trips."""

from __future__ import annotations

import dataclasses
import doctest
import json
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import predictor.experience
from forestall.vocab import SEGMENTS
from predictor.experience import (
    BASE,
    DRIVERS,
    MIN_OUTCOMES,
    ExperienceModel,
    IndexParams,
    features,
    percent_of_fixed,
    prior_params,
    sigmoid,
)
from predictor.risk import AssetRisk, CustomerFactors, evidence
from tests.predictor.test_risk import assets, factors

log_odds = st.floats(-6.0, 6.0)
params = st.builds(
    IndexParams,
    intercept=log_odds,
    segments=st.fixed_dictionaries({s: st.floats(-2.0, 2.0) for s in SEGMENTS}),
    weights=st.fixed_dictionaries({d: st.floats(0.0, 8.0) for d in DRIVERS}),
)
segments = st.sampled_from([*SEGMENTS, "other"])


def test_docstring_examples() -> None:
    result = doctest.testmod(predictor.experience)
    assert result.failed == 0 and result.attempted > 0


@given(params, assets, factors, segments)
def test_contributions_add_up_to_the_index(
    p: IndexParams, a: list[AssetRisk], f: CustomerFactors, segment: str
) -> None:
    result = p.explain(evidence(a, f), segment)
    assert 0.0 <= result.index <= 100.0
    assert sum(result.contributions.values()) == pytest.approx(result.index, abs=1e-9)
    assert set(result.contributions) == {BASE, *DRIVERS}
    assert all(v >= 0.0 for v in result.contributions.values())
    assert result.contributions[BASE] == pytest.approx(100.0 * sigmoid(p.base_log_odds(segment)))


Worse = Callable[[list[AssetRisk], CustomerFactors], tuple[list[AssetRisk], CustomerFactors]]
WORSE: dict[str, Worse] = {
    "an outage": lambda a, f: (a, dataclasses.replace(f, outages=f.outages + 1)),
    "a supply interruption": lambda a, f: (
        a,
        dataclasses.replace(f, supply_interruptions=f.supply_interruptions + 1),
    ),
    "an escalation": lambda a, f: (a, dataclasses.replace(f, escalations=f.escalations + 1)),
    "a billing error": lambda a, f: (a, dataclasses.replace(f, billing_errors=f.billing_errors + 1)),
    "a slow resolution": lambda a, f: (
        a,
        dataclasses.replace(f, resolution_hours=(*f.resolution_hours, 400.0)),
    ),
    "a long request": lambda a, f: (a, dataclasses.replace(f, request_minutes=(*f.request_minutes, 1500.0))),
    "a bad CSAT": lambda a, f: (a, dataclasses.replace(f, csat=(*f.csat, 1.0))),
    "a detractor NPS": lambda a, f: (a, dataclasses.replace(f, nps=(*f.nps, 2.0))),
    "a hard CES": lambda a, f: (a, dataclasses.replace(f, ces=(*f.ces, 7.0))),
    "a repeat fault": lambda a, f: (a, dataclasses.replace(f, repeat_faults=f.repeat_faults + 1)),
    "an upcoming visit": lambda a, f: (a, dataclasses.replace(f, upcoming_visits=f.upcoming_visits + 1)),
    "a nearer failure": lambda a, f: (
        [dataclasses.replace(x, ttf_hours=x.ttf_hours / 2 if x.ttf_hours is not None else 1.0) for x in a],
        f,
    ),
    "a likelier failure": lambda a, f: (
        [dataclasses.replace(x, failure_probability=min(1.0, x.failure_probability + 0.3)) for x in a],
        f,
    ),
    "a new asset at risk": lambda a, f: ([*a, AssetRisk("new", 0.9, 6.0, 4, False)], f),
}


@pytest.mark.parametrize("what", sorted(WORSE))
@given(p=params, a=assets, f=factors, segment=segments)
def test_more_evidence_never_lowers_the_index(
    what: str, p: IndexParams, a: list[AssetRisk], f: CustomerFactors, segment: str
) -> None:
    worse_assets, worse_factors = WORSE[what](a, f)
    before = p.explain(evidence(a, f), segment).index
    after = p.explain(evidence(worse_assets, worse_factors), segment).index
    assert after >= before


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.lists(st.floats(0, 1), min_size=12, max_size=12), st.booleans()), max_size=40))
def test_learning_anything_keeps_every_weight_non_negative(rows: list[tuple[list[float], bool]]) -> None:
    model = ExperienceModel()
    for values, y in rows:
        model.learn_one(features(dict(zip(DRIVERS, values, strict=True)), "standard"), y)
    assert all(w >= 0.0 for w in model.posterior().weights.values())


def test_prior_is_todays_weights_and_the_old_threshold_maps_to_fifty() -> None:
    prior = prior_params({"outages": 100.0})
    assert prior.in_force == "prior" and prior.outcomes == 0
    assert prior.weights["outages"] == pytest.approx(4.0)  # 100 points × 0.04
    assert prior.weights["predicted_disruption"] == pytest.approx(35.0 * 0.04)
    assert prior.explain({}, "key").index == pytest.approx(10.0)
    assert percent_of_fixed(60.0) == pytest.approx(50.0, abs=0.1)
    assert percent_of_fixed(0.0) == pytest.approx(10.0) and percent_of_fixed(100.0) == 100.0


# -- learning -------------------------------------------------------------------------------------

WORLD_SHIFT = {"key": 0.8, "enterprise": 0.3, "standard": -0.2, "smb": -0.6}


def world(truth: dict[str, float], seed: int, n: int) -> list[tuple[dict[str, float], bool]]:
    """Customer-days of a world whose outcomes follow ``truth`` (log-odds per driver) and the
    segment; each driver shows evidence on a quarter of the days."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ev = {d: rng.random() if rng.random() < 0.25 else 0.0 for d in DRIVERS}
        segment = rng.choice(SEGMENTS)
        z = -2.5 + WORLD_SHIFT[segment] + sum(truth.get(d, 0.0) * ev[d] for d in DRIVERS)
        rows.append((features(ev, segment), rng.random() < sigmoid(z)))
    return rows


def auc(scores: list[float], labels: list[bool]) -> float:
    """The probability that a positive scores above a negative (ties count a half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def learn(model: ExperienceModel, rows: list[tuple[dict[str, float], bool]], per_day: int = 40) -> None:
    for day in range(0, len(rows), per_day):
        batch = rows[day : day + per_day]
        model.learn_day(day / per_day * 86_400.0, batch, sum(y for _, y in batch))


def test_learning_weighs_the_drivers_that_predict_and_drops_one_that_does_not() -> None:
    # Billing errors and slow resolution drive this world; predicted disruption, the prior's
    # heaviest driver, does nothing at all.
    truth = {"billing_errors": 3.0, "resolution_time": 2.0}
    model = ExperienceModel()
    prior = model.params()
    learn(model, world(truth, seed=1, n=3000))
    learnt = model.params()
    assert learnt.in_force == "learned"
    assert learnt.weights["billing_errors"] > 2.0 > prior.weights["billing_errors"] * 5
    assert learnt.weights["resolution_time"] > 1.2 > prior.weights["resolution_time"] * 3
    assert learnt.weights["predicted_disruption"] < 0.4 < prior.weights["predicted_disruption"]
    # Calibration per segment: each segment's base rate follows the world's.
    order = sorted(SEGMENTS, key=lambda s: learnt.base_log_odds(s))
    assert order == sorted(SEGMENTS, key=WORLD_SHIFT.__getitem__)
    # On fresh customer-days of the same world, the learnt index ranks better than the prior.
    test = world(truth, seed=2, n=2000)
    labels = [y for _, y in test]

    def scores(p: IndexParams) -> list[float]:
        return [p.explain(x, next(s for s in SEGMENTS if x.get(f"segment={s}"))).index for x, _ in test]

    assert auc(scores(learnt), labels) > auc(scores(prior), labels) + 0.1
    assert learnt.quality["brier"] < learnt.quality["base_rate_brier"]


def test_the_prior_is_in_force_until_enough_outcomes() -> None:
    model = ExperienceModel()
    rows = world({"outages": 3.0}, seed=3, n=200)
    model.learn_day(0.0, rows[:100], MIN_OUTCOMES - 1)
    held = model.params()
    assert (held.in_force, held.outcomes, held.customer_days) == ("prior", MIN_OUTCOMES - 1, 100)
    assert held.weights == prior_params().weights and held.intercept == prior_params().intercept
    assert model.posterior().weights != held.weights  # it has learnt meanwhile
    model.learn_day(86_400.0, rows[100:], 1)
    learnt = model.params()
    assert (learnt.in_force, learnt.outcomes, learnt.customer_days) == ("learned", MIN_OUTCOMES, 200)
    assert learnt.weights == model.posterior().weights
    assert learnt.describe() == {"in_force": "learned", "outcomes": MIN_OUTCOMES, "customer_days": 200}


def test_the_posterior_forgets_towards_the_prior() -> None:
    model = ExperienceModel()
    learn(model, world({"outages": 3.0}, seed=4, n=400))
    tight = model.cov.copy()
    model.forget(365.0)
    assert (model.cov.diagonal() > tight.diagonal()).all()
    assert (model.cov.diagonal() < ExperienceModel().cov.diagonal() + 1e-9).all()


def test_checkpoint_round_trip_and_version() -> None:
    model = ExperienceModel({"billing_errors": 50.0})
    rows = world({"billing_errors": 3.0}, seed=5, n=600)
    learn(model, rows[:300])
    restored = ExperienceModel.from_state(json.loads(json.dumps(model.to_state())))
    assert restored is not None and restored.prior == model.prior
    assert restored.params() == model.params()
    learn(model, rows[300:])
    learn(restored, rows[300:])
    assert restored.to_state() == model.to_state()
    assert ExperienceModel.from_state({**model.to_state(), "version": "experience-0"}) is None
    assert ExperienceModel.from_state({**model.to_state(), "mean": [0.0]}) is None
    assert ExperienceModel.from_state({"version": model.to_state()["version"]}) is None
    stored = IndexParams.from_json(json.loads(json.dumps(model.params().to_json())))
    assert stored == model.params()
    assert IndexParams.from_json({**model.params().to_json(), "version": "experience-0"}) is None
    assert IndexParams.from_json({**model.params().to_json(), "weights": None}) is None

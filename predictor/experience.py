"""The Experience index, learnt from outcomes (docs/ARCHITECTURE.md, the Experience index).

The index is the calibrated probability, in percent, that a customer has a negative outcome (a
detractor NPS, an escalation, a contract ended or downgraded: ``forestall.state.outcomes``)
within the next ``HORIZON_DAYS`` of event time. Its features are the drivers' evidence
(``risk.evidence``: each in [0, 1], growing with what happened) and the customer's segment:

    log-odds = intercept + shift[segment] + Σ weight[driver] · evidence[driver]

Every driver's weight is kept ≥ 0, so more outages, slower resolution or a nearer predicted
failure never lower the index; each segment has its own intercept, fitted like the weights, so
the probabilities are calibrated per segment.

**The prior** is today's fixed index (``risk.DEFAULT_WEIGHTS``, or the tenant's weights): a
weight of ``w`` points is ``w · LOG_ODDS_PER_POINT`` in log-odds, and a customer without any
evidence has ``PRIOR_BASE_RATE``. Under it, the fixed index's old threshold of 60 is a
probability of 50 % (``percent_of_fixed``).

**Learning** (``ExperienceModel``, River's classifier contract) is online: a Gaussian posterior
over the parameters, starting at the prior, moved by each labelled customer-day (a snapshot of
the drivers, labelled once its 30 days have passed) by the Laplace approximation: the posterior's
mode along the row's direction, and the curvature there. The driver weights are then projected
back onto ≥ 0 in the posterior's own metric. The days of one customer overlap (one outcome
labels thirty of them), so a customer-day counts as ``ROW_WEIGHT`` of an observation; the
posterior forgets slowly towards the prior (``FORGET_DAYS``), so a world that changes is
followed. Until ``MIN_OUTCOMES`` negative outcomes have been learnt from, the prior is in force.

**Explanation** (``IndexParams.explain``): the index is ``100 · σ(z)`` and the segment's base rate
``100 · σ(intercept + shift)`` (its index with no evidence). The contributions are the base rate
and, per driver, the index above the base rate shared out in proportion to the driver's part of
the log-odds above it (``weight · evidence``). They add up to the index, and none is negative.

>>> prior = prior_params()
>>> quiet = prior.explain({}, "standard")
>>> round(quiet.index, 1), quiet.contributions["base_rate"] == quiet.index
(10.0, True)
>>> stormy = prior.explain({"outages": 0.9, "predicted_disruption": 0.8}, "standard")
>>> round(sum(stormy.contributions.values()), 9) == round(stormy.index, 9) and stormy.index > quiet.index
True
>>> stormy.contributions["predicted_disruption"] > stormy.contributions["outages"] > 0
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from river import base

from forestall.vocab import SEGMENTS
from predictor.risk import DEFAULT_WEIGHTS, INDEX_SCALE, RiskResult

EXPERIENCE_VERSION = "experience-1"
HORIZON_DAYS = 30  # the index is the probability of a negative outcome within this many days
DRIVERS: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)
BASE = "base_rate"  # the contribution of the segment's base rate
InForce = Literal["prior", "learned"]

PRIOR_BASE_RATE = 0.10  # a customer with no evidence: one in ten has a negative outcome in 30 days
LOG_ODDS_PER_POINT = 0.04  # a fixed-index point in log-odds: the old threshold 60 lands on 50 %
INTERCEPT_SD = 2.0  # prior spreads, in log-odds
SEGMENT_SD = 1.0
WEIGHT_SD = 1.5
ROW_WEIGHT = 0.2  # a customer-day is a fifth of an observation: neighbouring days share their label
FORGET_DAYS = 365.0  # the posterior's precision relaxes towards the prior's at this time constant
MIN_OUTCOMES = 20  # negative outcomes learnt from before the learned model is in force
DEFAULT_THRESHOLD_PERCENT = 50.0  # risk.threshold_crossed: a negative outcome more likely than not

PARAMS: tuple[str, ...] = ("intercept", *(f"segment={s}" for s in SEGMENTS), *DRIVERS)
_FIRST_DRIVER = 1 + len(SEGMENTS)
_DRIVER_INDEX = np.arange(_FIRST_DRIVER, len(PARAMS))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def prior_weights(points: Mapping[str, float] | None = None) -> dict[str, float]:
    """Driver weights in log-odds from fixed-index points (the defaults where not given)."""
    merged = {**DEFAULT_WEIGHTS, **(points or {})}
    return {name: max(float(merged[name]), 0.0) * LOG_ODDS_PER_POINT for name in DRIVERS}


def percent_of_fixed(index: float) -> float:
    """The prior's probability (in %) for a customer the fixed index scored ``index`` (0–100).

    >>> round(percent_of_fixed(60.0), 1), round(percent_of_fixed(0.0), 1)
    (50.0, 10.0)
    """
    if index >= 100.0:
        return 100.0
    points = -INDEX_SCALE * math.log(1.0 - max(index, 0.0) / 100.0)
    return 100.0 * sigmoid(logit(PRIOR_BASE_RATE) + LOG_ODDS_PER_POINT * points)


@dataclass(frozen=True, slots=True)
class IndexParams:
    """The parameters an index is computed with, and where they come from (``in_force``)."""

    intercept: float
    segments: dict[str, float]  # each segment's shift of the intercept
    weights: dict[str, float]  # per driver, log-odds at full evidence; never negative
    in_force: InForce = "prior"
    outcomes: int = 0  # negative outcomes the learner has learnt from
    customer_days: int = 0  # labelled customer-days it has learnt from
    version: str = EXPERIENCE_VERSION
    quality: dict[str, float] = field(default_factory=dict)  # prequential Brier scores, when known

    def base_log_odds(self, segment: str) -> float:
        return self.intercept + self.segments.get(segment, 0.0)

    def explain(self, evidence: Mapping[str, float], segment: str) -> RiskResult:
        """The index (0–100) and its contributions: the base rate and each driver's share."""
        base_z = self.base_log_odds(segment)
        parts = {
            name: max(self.weights.get(name, 0.0), 0.0) * min(max(evidence.get(name, 0.0), 0.0), 1.0)
            for name in DRIVERS
        }
        above = sum(parts.values())
        base_rate = 100.0 * sigmoid(base_z)
        index = 100.0 * sigmoid(base_z + above)
        lift = index - base_rate
        contributions = {BASE: base_rate}
        contributions.update(
            {name: lift * part / above if above > 0 else 0.0 for name, part in parts.items()}
        )
        return RiskResult(index, contributions)

    def describe(self) -> dict[str, Any]:
        """What the API shows of the model in force."""
        return {"in_force": self.in_force, "outcomes": self.outcomes, "customer_days": self.customer_days}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "in_force": self.in_force,
            "outcomes": self.outcomes,
            "customer_days": self.customer_days,
            "intercept": self.intercept,
            "segments": dict(self.segments),
            "weights": dict(self.weights),
            "quality": dict(self.quality),
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> IndexParams | None:
        """The parameters stored by ``to_json``; None when of another version (or not parameters)."""
        if doc.get("version") != EXPERIENCE_VERSION:
            return None
        try:
            return IndexParams(
                intercept=float(doc["intercept"]),
                segments={str(k): float(v) for k, v in doc["segments"].items()},
                weights={str(k): max(float(v), 0.0) for k, v in doc["weights"].items()},
                in_force="learned" if doc.get("in_force") == "learned" else "prior",
                outcomes=int(doc.get("outcomes", 0)),
                customer_days=int(doc.get("customer_days", 0)),
                quality={str(k): float(v) for k, v in doc.get("quality", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def prior_params(points: Mapping[str, float] | None = None) -> IndexParams:
    """The index under the prior: today's weights (or the tenant's) in log-odds, the base rate."""
    return IndexParams(logit(PRIOR_BASE_RATE), {s: 0.0 for s in SEGMENTS}, prior_weights(points))


def features(evidence: Mapping[str, float], segment: str) -> dict[str, float]:
    """A customer-day as the model reads it: the drivers' evidence and its segment, one-hot."""
    x = {name: min(max(float(evidence.get(name, 0.0)), 0.0), 1.0) for name in DRIVERS}
    x[f"segment={segment}"] = 1.0
    return x


class ExperienceModel(base.Classifier):
    """Online Bayesian logistic regression with monotone drivers and per-segment intercepts.

    ``learn_one(x, y)`` takes one labelled customer-day (``features``), ``predict_proba_one(x)``
    gives the posterior mean's probability; ``params()`` the parameters to publish.
    """

    def __init__(self, prior: Mapping[str, float] | None = None) -> None:
        self.prior = {name: float(v) for name, v in {**DEFAULT_WEIGHTS, **(prior or {})}.items()}
        start = prior_params(self.prior)
        self._prior_mean = np.array(
            [start.intercept, *(0.0 for _ in SEGMENTS), *(start.weights[n] for n in DRIVERS)]
        )
        sds = [INTERCEPT_SD, *(SEGMENT_SD for _ in SEGMENTS), *(WEIGHT_SD for _ in DRIVERS)]
        self._prior_precision = np.diag([1.0 / sd**2 for sd in sds])
        self.mean = self._prior_mean.copy()
        self.cov = np.diag([sd**2 for sd in sds])
        self.customer_days = 0
        self.positives = 0
        self.outcomes = 0
        self.brier_sum = 0.0  # of the probabilities given before each label was learnt
        self.last_day: float | None = None  # event time of the newest customer-day learnt

    @staticmethod
    def _vector(x: Mapping[str, float]) -> NDArray[np.float64]:
        return np.array([1.0, *(x.get(name, 0.0) for name in PARAMS[1:])])

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:  # type: ignore[override]
        p = sigmoid(float(self.mean @ self._vector(x)))
        return {True: p, False: 1.0 - p}

    def learn_one(self, x: dict[str, float], y: bool, w: float = ROW_WEIGHT) -> None:  # type: ignore[override]
        v = self._vector(x)
        z0 = float(self.mean @ v)
        self.customer_days += 1
        self.positives += int(y)
        self.brier_sum += (sigmoid(z0) - float(y)) ** 2
        spread = self.cov @ v
        s = float(v @ spread)
        step = _mode_step(z0, s, float(y), w)
        self.mean = self.mean - step * spread
        z1 = z0 - step * s
        curvature = w * sigmoid(z1) * (1.0 - sigmoid(z1))
        self.cov = self.cov - np.outer(spread, spread) * (curvature / (1.0 + curvature * s))
        self.mean = _project(self.mean, self.cov)

    def forget(self, days: float) -> None:
        """``days`` of event time passed: the precision relaxes towards the prior's."""
        if days <= 0:
            return
        keep = math.exp(-days / FORGET_DAYS)
        precision = keep * np.linalg.inv(self.cov) + (1.0 - keep) * self._prior_precision
        self.cov = np.linalg.inv(precision)
        self.cov = 0.5 * (self.cov + self.cov.T)

    def learn_day(self, at: float, rows: list[tuple[dict[str, float], bool]], outcomes: int) -> None:
        """The customer-days of the day at ``at`` (event time), and the negative outcomes they
        brought into view; the posterior first forgets the days since the last one learnt."""
        if self.last_day is not None:
            self.forget((at - self.last_day) / 86_400.0)
        for x, y in rows:
            self.learn_one(x, y)
        self.outcomes += outcomes
        self.last_day = at if self.last_day is None else max(self.last_day, at)

    @property
    def in_force(self) -> InForce:
        return "learned" if self.outcomes >= MIN_OUTCOMES else "prior"

    def _quality(self) -> dict[str, float]:
        if not self.customer_days:
            return {}
        rate = self.positives / self.customer_days
        return {"brier": self.brier_sum / self.customer_days, "base_rate_brier": rate * (1.0 - rate)}

    def posterior(self) -> IndexParams:
        """The posterior mean, in force or not: what has been learnt so far."""
        return replace(
            _as_params(self.mean),
            in_force=self.in_force,
            outcomes=self.outcomes,
            customer_days=self.customer_days,
            quality=self._quality(),
        )

    def params(self) -> IndexParams:
        """What an index is computed with: the posterior mean once in force, else the prior."""
        if self.in_force == "learned":
            return self.posterior()
        return replace(
            prior_params(self.prior),
            outcomes=self.outcomes,
            customer_days=self.customer_days,
            quality=self._quality(),
        )

    # -- a checkpoint as JSON (the state DB keeps it) ----------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": EXPERIENCE_VERSION,
            "params": list(PARAMS),
            "prior": dict(self.prior),
            "mean": [float(v) for v in self.mean],
            "cov": [[float(v) for v in row] for row in self.cov],
            "customer_days": self.customer_days,
            "positives": self.positives,
            "outcomes": self.outcomes,
            "brier_sum": self.brier_sum,
            "last_day": self.last_day,
        }

    @staticmethod
    def from_state(doc: Mapping[str, Any]) -> ExperienceModel | None:
        """The model a ``to_state`` checkpoint holds; None when of another version or shape."""
        if doc.get("version") != EXPERIENCE_VERSION or doc.get("params") != list(PARAMS):
            return None
        try:
            model = ExperienceModel(doc["prior"])
            mean = np.array(doc["mean"], dtype=float)
            cov = np.array(doc["cov"], dtype=float)
            if mean.shape != (len(PARAMS),) or cov.shape != (len(PARAMS), len(PARAMS)):
                return None
            model.mean, model.cov = mean, cov
            model.customer_days, model.positives = int(doc["customer_days"]), int(doc["positives"])
            model.outcomes, model.brier_sum = int(doc["outcomes"]), float(doc["brier_sum"])
            last = doc.get("last_day")
            model.last_day = None if last is None else float(last)
        except (KeyError, TypeError, ValueError):
            return None
        return model


def _as_params(vector: NDArray[np.float64]) -> IndexParams:
    return IndexParams(
        intercept=float(vector[0]),
        segments={s: float(vector[1 + i]) for i, s in enumerate(SEGMENTS)},
        weights={n: max(float(vector[_FIRST_DRIVER + i]), 0.0) for i, n in enumerate(DRIVERS)},
    )


def _mode_step(z: float, s: float, y: float, w: float) -> float:
    """The step ``a`` along the row's direction to the posterior's mode: ``a = w (σ(z − a s) − y)``.

    The left side grows with ``a`` and the right side falls, so the root is unique and lies
    between ``-w`` and ``w``; Newton's method, kept inside that bracket, finds it.

    >>> a = _mode_step(0.0, 2.0, 1.0, 0.5)
    >>> -0.5 < a < 0 and abs(a - 0.5 * (sigmoid(0.0 - a * 2.0) - 1.0)) < 1e-9
    True
    """
    low, high = -w, w
    a = 0.0
    for _ in range(30):
        p = sigmoid(z - a * s)
        f = a - w * (p - y)
        if abs(f) < 1e-12:
            break
        if f > 0:
            high = a
        else:
            low = a
        a -= f / (1.0 + w * s * p * (1.0 - p))
        if not low < a < high:
            a = 0.5 * (low + high)
    return a


def _project(mean: NDArray[np.float64], cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """The nearest point (in the posterior's metric) whose driver weights are all ≥ 0.

    A weight pushed below zero is held at zero and the other parameters take the value they have
    given it (the Gaussian's conditional mean): the intercept takes up what the weight no longer
    explains. Repeated while holding one pushes another below zero.
    """
    mean = mean.copy()
    held: list[int] = []
    for _ in range(len(_DRIVER_INDEX)):
        below = [int(i) for i in _DRIVER_INDEX if mean[i] < 0.0 and int(i) not in held]
        if not below:
            break
        held += below
        free = [i for i in range(len(mean)) if i not in held]
        gap = np.linalg.solve(cov[np.ix_(held, held)], -mean[held])
        mean[free] += cov[np.ix_(free, held)] @ gap
        mean[held] = 0.0
    return mean

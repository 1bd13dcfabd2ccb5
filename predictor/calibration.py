"""Turn the evidence about an asset into one calibrated probability of failure within the horizon.

Three pieces of evidence, each already a probability of failure within the planning horizon:

- ``anomaly``: how far the asset sits from its own normal and how fast it moves away (a
  prior that needs no label at all);
- ``crossing``: where the failed assets of its type stood that long before they failed
  (``failures.FailureLibrary``, from the first failure on);
- ``rul``: the learned remaining-useful-life distribution (``rul.RulModel``, once the type
  has enough run-to-failure histories).

``Calibrator`` stacks them: a logistic regression on their logits, one per *stage* of what is
known (the anomaly alone; with the crossing; with the RUL as well), fitted to the field labels
(did the asset fail within the horizon?) with a Gaussian prior centred on sensible weights
(lean on the most specific evidence there is), so that a few labels cannot throw it far. The
weights are kept non-negative: more evidence of failure never lowers the probability. The
hourly rows of one asset are strongly correlated, so each counts as ``ROW_WEIGHT`` of an
observation, whether it was labelled alone (it aged a horizon past unfailed) or with the others
of a life (at a failure, a fault found or none found). One weight for every row keeps the
labelled rows a fair sample of the rows forecast: rows that aged out are negatives learnt one by
one, and the rows labelled at a failure are mostly its last horizon's positives, so a life's rows
weighted as one life each made positives count about twice and every forecast too high (a pump
fleet's 0.85 came true 0.6 of the time). Each stage is refitted (Newton's
method on the kept rows that carry its evidence) when a batch of labels arrives. It follows
River's classifier contract (``learn_one``, ``predict_proba_one``, plus ``learn_life`` for the
rows of one life); ``brier`` is its running prequential Brier score.

>>> cal = Calibrator()
>>> x = evidence(anomaly=0.3, crossing=0.95, rul=None, failures=10)
>>> 0.6 < cal.predict_proba_one(x)[True] < 0.95
True
>>> for _ in range(20):  # twenty lives where this evidence never meant a failure soon
...     cal.learn_life([x] * 50, [False] * 50)
>>> cal.predict_proba_one(x)[True] < 0.5
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from river import base

P_FLOOR = 1e-3
ANOMALY_MIDPOINT = 3.5  # deviation (healthy spreads) at which the anomaly alone means even odds
ANOMALY_GAIN = 2.0
ANOMALY_SLOPE = 0.5  # per unit of deviation per day
EVIDENCE = ("anomaly", "crossing", "rul")
# Prior weights per stage: with failures seen the crossing leads, with a learned RUL the RUL.
STAGES: tuple[dict[str, float], ...] = (
    {"anomaly": 1.0},
    {"anomaly": 0.3, "crossing": 0.9},
    {"anomaly": 0.1, "crossing": 0.3, "rul": 0.9},
)
PRIOR_SD = 0.5  # how far, in logit weight, the data may pull a weight from its prior before it costs
ROW_WEIGHT = 0.04  # observations one hourly evidence row is worth (its neighbours say much the same)
MAX_ROWS = 20_000
REFIT_AFTER = 200  # single rows between refits
NEWTON_STEPS = 25
MAX_STEP = 0.5  # per weight and Newton step: rows the model saturates on must not throw it


def logit(p: float) -> float:
    p = min(max(p, P_FLOOR), 1.0 - P_FLOOR)
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def anomaly_probability(deviation: float, slope_per_day: float, midpoint: float = ANOMALY_MIDPOINT) -> float:
    """The prior: failure within the horizon is as likely as not at ``midpoint`` spreads.

    >>> anomaly_probability(1.0, 0.0) < 0.05 < 0.5 < anomaly_probability(5.0, 0.0)
    True
    """
    slope = max(min(slope_per_day, 4.0), -4.0)
    return sigmoid(ANOMALY_GAIN * (deviation - midpoint) + ANOMALY_SLOPE * slope)


def probability_from_band(rul: float, low: float, high: float, horizon_h: float) -> float:
    """P(failure within the horizon) from a RUL estimate and its 5-95 % band (a split normal)."""
    side = (rul - low) if horizon_h < rul else (high - rul)
    spread = max(side / 1.645, 0.1 * rul + 1.0)
    return 0.5 * math.erfc((rul - horizon_h) / (spread * math.sqrt(2.0)))


def evidence(
    anomaly: float, crossing: float | None, rul: float | None, failures: int = 0
) -> dict[str, float]:
    """The calibrator's features: the logits of the evidence there is (None: not there yet).

    The crossing and RUL logits are shrunk while the type has few failures behind them: one
    failed life says little about the next, and a RUL model learnt from five says not much more.
    """
    x = {"anomaly": logit(anomaly)}
    if crossing is not None:
        x["crossing"] = logit(crossing) * failures / (failures + 2.0)
    if rul is not None:
        x["rul"] = logit(rul) * max(failures - 4.0, 0.0) / (failures + 16.0)
    return x


def stage_of(x: Mapping[str, float]) -> int:
    """Which stacker applies: the evidence there is (a RUL without failure trajectories counts as none)."""
    if "crossing" not in x:
        return 0
    return 2 if "rul" in x else 1


class Calibrator(base.Classifier):
    """One logistic regression per stage of evidence, non-negative weights under a Gaussian prior."""

    def __init__(self) -> None:
        self.weights = [dict(stage) for stage in STAGES]
        self.bias = [0.0 for _ in STAGES]
        self._rows = np.zeros((0, len(EVIDENCE)), dtype=np.float32)  # NaN: absent
        self._labels = np.zeros(0, dtype=np.float32)
        self._weights = np.zeros(0, dtype=np.float32)
        self._unfitted = 0
        self.labels = 0
        self.brier_sum = 0.0

    def _score(self, x: Mapping[str, float]) -> float:
        stage = stage_of(x)
        weights = self.weights[stage]
        return self.bias[stage] + sum(weights[name] * x[name] for name in weights)

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:  # type: ignore[override]
        p = sigmoid(self._score(x))
        return {True: p, False: 1.0 - p}

    def learn_one(self, x: dict[str, float], y: bool) -> None:  # type: ignore[override]
        """One row labelled on its own (it aged past the horizon without a failure)."""
        self._add([x], [y], ROW_WEIGHT)
        self._unfitted += 1
        if self._unfitted >= REFIT_AFTER:
            self._fit()

    def learn_life(self, rows: Sequence[Mapping[str, float]], labels: Sequence[bool]) -> None:
        """The rows of one life, labelled together (a failure, a fault found, no fault found)."""
        if rows:
            self._add(rows, labels, ROW_WEIGHT)
            self._fit()

    def _add(self, rows: Sequence[Mapping[str, float]], labels: Sequence[bool], weight: float) -> None:
        for x, y in zip(rows, labels, strict=True):
            self.labels += 1
            self.brier_sum += (sigmoid(self._score(x)) - float(y)) ** 2
        matrix = np.array([[x.get(n, math.nan) for n in EVIDENCE] for x in rows], dtype=np.float32)
        self._rows = np.vstack([self._rows, matrix])[-MAX_ROWS:]
        self._labels = np.concatenate([self._labels, np.array(labels, dtype=np.float32)])[-MAX_ROWS:]
        self._weights = np.concatenate([self._weights, np.full(len(rows), weight, np.float32)])[-MAX_ROWS:]

    def _fit(self) -> None:
        self._unfitted = 0
        for stage, prior in enumerate(STAGES):
            columns = [EVIDENCE.index(name) for name in prior]
            usable = ~np.isnan(self._rows[:, columns]).any(axis=1)
            if not usable.any():
                continue
            beta = _posterior_mode(
                self._rows[usable][:, columns].astype(np.float64),
                self._labels[usable].astype(np.float64),
                self._weights[usable].astype(np.float64),
                np.array([*prior.values(), 0.0]),
                np.array([*self.weights[stage].values(), self.bias[stage]]),
            )
            self.weights[stage] = {name: float(b) for name, b in zip(prior, beta[:-1], strict=True)}
            self.bias[stage] = float(beta[-1])

    @property
    def brier(self) -> float | None:
        """Mean squared error of the probabilities given before each label was learnt."""
        return self.brier_sum / self.labels if self.labels else None


def _posterior_mode(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64],
    prior: NDArray[np.float64],
    start: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Projected Newton on the weighted log loss plus the Gaussian prior; weights ≥ 0, bias free."""
    x = np.hstack([x, np.ones((len(x), 1))])
    precision = np.full(len(prior), 1.0 / PRIOR_SD**2)
    # The bias is held as tightly as the weights: the first labels of a stage are mostly the
    # positives of lives that failed soon after it began (negatives only come as rows age out).
    beta = start.copy()
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -50.0, 50.0)))
        gradient = x.T @ (w * (p - y)) + precision * (beta - prior)
        hessian = (x * (w * p * (1.0 - p))[:, None]).T @ x + np.diag(precision)
        step = np.linalg.solve(hessian, gradient)
        step *= min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-12))
        beta -= step
        beta[:-1] = np.maximum(beta[:-1], 0.0)
        if float(np.abs(step).max()) < 1e-6:
            break
    return beta

"""Scores of probability forecasts against what happened (pure): AUC, Brier score, reliability.

The experience backtest scores each index (learned, fixed, recency) with these, on the same
customer-days; ``base_rate_brier`` is the Brier score of always forecasting the observed rate,
the bar a forecast must clear to say anything.

>>> forecasts = [0.9, 0.8, 0.3, 0.1]
>>> happened = [True, False, True, False]
>>> auc(forecasts, happened), round(brier(forecasts, happened), 4), base_rate_brier(happened)
(0.75, 0.2875, 0.25)
>>> reliability(forecasts, happened, bins=2)
[{'predicted': 0.2, 'observed': 0.5, 'n': 2}, {'predicted': 0.85, 'observed': 0.5, 'n': 2}]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _checked(forecasts: Sequence[float], happened: Sequence[bool]) -> None:
    if len(forecasts) != len(happened):
        raise ValueError("one outcome per forecast")
    if any(not (0.0 <= p <= 1.0) or math.isnan(p) for p in forecasts):
        raise ValueError("forecasts are probabilities in [0, 1]")


def auc(forecasts: Sequence[float], happened: Sequence[bool]) -> float | None:
    """The probability that a random positive is ranked above a random negative (ties count half);
    None without both classes.

    >>> auc([0.5, 0.5], [True, False]), auc([0.2], [True]) is None
    (0.5, True)
    """
    _checked(forecasts, happened)
    positives = sum(1 for y in happened if y)
    negatives = len(happened) - positives
    if positives == 0 or negatives == 0:
        return None
    # Mann-Whitney U from mid-ranks: O(n log n), exact with ties.
    order = sorted(range(len(forecasts)), key=lambda i: forecasts[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and forecasts[order[j + 1]] == forecasts[order[i]]:
            j += 1
        mid = (i + j) / 2.0 + 1.0
        rank_sum += mid * sum(1 for k in order[i : j + 1] if happened[k])
        i = j + 1
    u = rank_sum - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def brier(forecasts: Sequence[float], happened: Sequence[bool]) -> float | None:
    """Mean squared error of the forecasts (None without any)."""
    _checked(forecasts, happened)
    if not forecasts:
        return None
    return sum((p - float(y)) ** 2 for p, y in zip(forecasts, happened, strict=True)) / len(forecasts)


def base_rate_brier(happened: Sequence[bool]) -> float | None:
    """The Brier score of forecasting the observed rate every time: rate × (1 − rate)."""
    if not happened:
        return None
    rate = sum(happened) / len(happened)
    return rate * (1.0 - rate)


def reliability(forecasts: Sequence[float], happened: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Per bin of equal width that holds forecasts: their mean, the observed rate and the count."""
    _checked(forecasts, happened)
    sums = [[0, 0.0, 0.0] for _ in range(bins)]
    for p, y in zip(forecasts, happened, strict=True):
        b = sums[min(int(p * bins), bins - 1)]
        b[0], b[1], b[2] = b[0] + 1, b[1] + p, b[2] + float(y)
    return [
        {"predicted": round(b[1] / b[0], 3), "observed": round(b[2] / b[0], 3), "n": int(b[0])}
        for b in sums
        if b[0]
    ]

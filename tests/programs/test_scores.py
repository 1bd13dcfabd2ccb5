"""Forecast scores (``programs.backtest.scores``): the AUC equals the share of correctly ordered
positive-negative pairs, the Brier score of the base rate is its variance, and bad input is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from programs.backtest.scores import auc, base_rate_brier, brier, reliability

rows = st.lists(st.tuples(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 1.0]), st.booleans()), max_size=60)


@given(rows)
def test_auc_is_the_share_of_pairs_in_order(data: list[tuple[float, bool]]) -> None:
    forecasts, happened = [p for p, _ in data], [y for _, y in data]
    pos = [p for p, y in data if y]
    neg = [p for p, y in data if not y]
    expected = (
        sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))
        if pos and neg
        else None
    )
    assert auc(forecasts, happened) == pytest.approx(expected)


@given(rows)
def test_the_base_rate_is_no_better_than_itself_and_bins_count_every_row(
    data: list[tuple[float, bool]],
) -> None:
    forecasts, happened = [p for p, _ in data], [y for _, y in data]
    bins = reliability(forecasts, happened)
    assert sum(b["n"] for b in bins) == len(data)
    if data:
        rate = sum(happened) / len(happened)
        assert brier([rate] * len(data), happened) == pytest.approx(base_rate_brier(happened))


def test_a_perfect_ranking_and_bad_input() -> None:
    assert auc([0.9, 0.8, 0.2], [True, True, False]) == 1.0
    assert auc([0.1, 0.9], [True, False]) == 0.0
    assert brier([], []) is None and base_rate_brier([]) is None
    with pytest.raises(ValueError, match="one outcome per forecast"):
        auc([0.5], [True, False])
    with pytest.raises(ValueError, match="probabilities"):
        brier([1.5], [True])

"""Experience Risk Index properties (docs/ARCHITECTURE.md, risk index and visit planning)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from predictor.risk import DEFAULT_WEIGHTS, AssetRisk, CustomerFactors, crossed, score

counts = st.integers(min_value=0, max_value=30)
assets = st.lists(
    st.builds(
        AssetRisk,
        st.text(min_size=1, max_size=5),
        st.floats(0, 1),
        st.none() | st.floats(0, 2000),
        st.integers(1, 5),
        st.booleans(),
    ),
    max_size=6,
)
factors = st.builds(
    CustomerFactors,
    segment=st.sampled_from(["key", "standard", "smb", "other"]),
    sla_tier=st.sampled_from(["platinum", "gold", "silver", "bronze"]),
    visit_sensitivity=st.floats(0, 1),
    outages=counts,
    supply_interruptions=counts,
    escalations=counts,
    billing_errors=counts,
    resolution_hours=st.lists(st.floats(0, 500), max_size=5).map(tuple),
    request_minutes=st.lists(st.floats(0, 2000), max_size=5).map(tuple),
    csat=st.lists(st.floats(1, 5), max_size=5).map(tuple),
    nps=st.lists(st.floats(0, 10), max_size=5).map(tuple),
    ces=st.lists(st.floats(1, 7), max_size=5).map(tuple),
    upcoming_visits=counts,
    repeat_faults=counts,
)


@given(assets, factors)
def test_contributions_add_up_to_an_index_within_0_and_100(a: list[AssetRisk], f: CustomerFactors) -> None:
    result = score(a, f)
    assert 0.0 <= result.index <= 100.0
    assert sum(result.contributions.values()) == pytest.approx(result.index, abs=1e-9)
    assert set(result.contributions) == set(DEFAULT_WEIGHTS)
    assert all(v >= 0 for v in result.contributions.values())


@pytest.mark.parametrize(
    "field", ["outages", "supply_interruptions", "escalations", "billing_errors", "repeat_faults"]
)
@given(a=assets, f=factors, extra=st.integers(1, 10))
def test_more_incidents_never_lower_the_index(
    field: str, a: list[AssetRisk], f: CustomerFactors, extra: int
) -> None:
    worse = dataclasses.replace(f, **{field: getattr(f, field) + extra})
    assert score(a, worse).index >= score(a, f).index


@given(assets, factors, st.floats(1, 5), st.floats(0, 10), st.floats(1, 7))
def test_any_further_survey_never_lowers_the_index(
    a: list[AssetRisk], f: CustomerFactors, csat: float, nps: float, ces: float
) -> None:
    base = score(a, f).index
    assert score(a, dataclasses.replace(f, csat=(*f.csat, csat))).index >= base
    assert score(a, dataclasses.replace(f, nps=(*f.nps, nps))).index >= base
    assert score(a, dataclasses.replace(f, ces=(*f.ces, ces))).index >= base


@given(factors, st.floats(0, 0.5), st.floats(0, 0.5), st.floats(0, 500))
def test_higher_failure_probability_never_lowers_the_index(
    f: CustomerFactors, p: float, dp: float, ttf: float
) -> None:
    low = score([AssetRisk("a", p, ttf, 3, False)], f).index
    high = score([AssetRisk("a", p + dp, ttf, 3, False)], f).index
    assert high >= low


def test_a_calm_customer_scores_zero_and_a_troubled_one_high() -> None:
    assert score([], CustomerFactors(visit_sensitivity=0.0)).index == 0.0
    troubled = CustomerFactors(
        segment="key", sla_tier="platinum", outages=4, escalations=3, csat=(1, 2), nps=(0, 3)
    )
    assert score([AssetRisk("a", 0.95, 6.0, 5, True)], troubled).index > 70
    assert score([], CustomerFactors(visit_sensitivity=0.0, outages=1)).index < 15


def test_weights_change_what_counts() -> None:
    f = CustomerFactors(outages=3)
    assert score([], f, {"outages": 0.0}).index == 0.0
    assert score([], f, {"outages": 30.0}).index > score([], f).index


def test_threshold_crossing_goes_both_ways() -> None:
    assert crossed(None, 70.0, 60.0) and not crossed(None, 10.0, 60.0)
    assert crossed(59.0, 61.0, 60.0) and crossed(61.0, 59.0, 60.0)
    assert not crossed(61.0, 65.0, 60.0)

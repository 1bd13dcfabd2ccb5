"""The failure library: where failed lives stood, and what that says of an asset's time to failure."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from predictor.failures import FailureLibrary


def life(hours: int, unsettled: float, precursor_h: int) -> list[dict[str, float]]:
    """A life whose deviation sat at ``unsettled`` (its normal not yet learned), then rose to
    4 spreads over its last ``precursor_h`` hours."""
    rows = []
    for h in range(hours):
        to_go = hours - h
        rise = 4.0 * (1.0 - to_go / precursor_h) if to_go <= precursor_h else 0.0
        rows.append({"pressure": unsettled + rise, "temp": 0.0})
    return rows


def test_a_healthy_asset_is_not_a_day_from_failure_because_a_failed_life_started_below_normal() -> None:
    library = FailureLibrary()
    library.learn(life(64, unsettled=-0.4, precursor_h=16))
    healthy, mode = library.index({"pressure": 0.05, "temp": 0.1})
    assert healthy < 0.1  # a twentieth of the way to where that life failed
    assert library.times_to_failure(healthy, mode) == [64.0]  # all of that life ahead of it
    within = library.probability_within(healthy, mode, horizon_hours=48.0)
    assert within is not None and within < 0.4
    on_the_path, mode = library.index({"pressure": 3.0, "temp": 0.0})
    late = library.probability_within(on_the_path, mode, horizon_hours=48.0)
    assert late is not None and late == pytest.approx(0.75, abs=0.01)  # one life: never sure


def test_a_few_fast_lives_never_make_a_failure_sure_and_many_say_what_they_say() -> None:
    """The first failures of a fleet are its fastest-wearing machines: one, two or three lives that
    failed soon after an index leave room for the slower peers; twenty that all did, hardly any."""
    library = FailureLibrary()
    on_the_path: list[float] = []
    for _ in range(20):
        library.learn(life(64, unsettled=0.0, precursor_h=16))
        index, mode = library.index({"pressure": 3.0, "temp": 0.0})
        p = library.probability_within(index, mode, horizon_hours=48.0)
        assert p is not None
        on_the_path.append(p)
    assert on_the_path[0] == pytest.approx(0.75, abs=0.01) and on_the_path[2] < 0.9
    assert all(a <= b for a, b in itertools.pairwise(on_the_path)) and on_the_path[-1] > 0.97


@given(st.floats(-1.0, 1.0), st.integers(20, 300), st.integers(2, 19))
def test_closer_to_the_failure_level_is_never_further_from_failure(
    unsettled: float, hours: int, gap: int
) -> None:
    library = FailureLibrary()
    library.learn(life(hours, unsettled, precursor_h=hours // 2))
    indices = [i / 20.0 for i in range(0, 21, gap)]
    times = [library.times_to_failure(i, 0)[0] for i in indices]
    assert all(a >= b for a, b in itertools.pairwise(times))

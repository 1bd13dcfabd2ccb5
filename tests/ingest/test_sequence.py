"""Dedupe by seq: duplicates, out-of-order arrival, device resets, restarts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.sequence import SeqWindow


def test_replayed_batches_are_duplicates_and_gaps_fill_in() -> None:
    window = SeqWindow()
    assert [window.check(s, float(s)) for s in (1, 2, 4, 3, 4, 1)] == [
        "new",
        "new",
        "new",
        "new",
        "duplicate",
        "duplicate",
    ]
    assert window.starts == [1] and window.ends == [4]


def test_far_below_high_water_is_a_reset() -> None:
    window = SeqWindow(window=100)
    for s in range(1000, 1010):
        window.check(s, float(s))
    assert window.check(5, 2000.0) == "seq_reset"
    assert window.check(6, 2001.0) == "new"
    assert window.check(5, 2000.0) == "duplicate"


def test_a_reflashed_device_reusing_low_numbers_with_new_samples_is_a_reset() -> None:
    window = SeqWindow()
    for s in range(1, 50):
        window.check(s, float(s))
    window.observe_ts(49.0)
    assert window.check(3, 3.0) == "duplicate"  # old batch replayed
    assert window.check(1, 500.0) == "seq_reset"  # newer samples under an old number


def test_resume_treats_everything_up_to_high_water_as_seen() -> None:
    window = SeqWindow.resume(high_water=500, max_ts=1000.0)
    assert window.check(499, 900.0) == "duplicate"
    assert window.check(501, 1001.0) == "new"


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=200))
def test_each_seq_is_new_exactly_once_within_the_window(seqs: list[int]) -> None:
    window = SeqWindow(window=1000)
    verdicts = [window.check(s) for s in seqs]
    new = [s for s, v in zip(seqs, verdicts, strict=True) if v == "new"]
    assert sorted(new) == sorted(set(seqs))
    assert all(a <= b for a, b in zip(window.starts, window.ends, strict=True))
    assert all(window.ends[i] + 1 < window.starts[i + 1] for i in range(len(window.starts) - 1))

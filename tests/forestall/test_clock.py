"""The clocks: the compose demo's catch-up clock never stamps a time ahead of the wall clock."""

from __future__ import annotations

import time

from forestall.clock import CatchUpClock, SimClock


def test_the_catch_up_clock_runs_fast_until_the_wall_clock_then_with_it() -> None:
    clock = CatchUpClock(behind=2.0, speed=20.0)
    first = clock.now()
    assert time.time() - 2.1 <= first <= time.time() - 1.9  # starts two seconds behind
    time.sleep(0.05)
    moved = clock.now() - first
    assert 0.8 <= moved <= 5.0  # about 20 times the 0.05 s slept (at least), not the wall's pace
    time.sleep(0.1)
    for _ in range(20):  # caught up: it runs with the wall clock, never ahead of it
        before = time.time()
        now = clock.now()
        assert before - 0.01 <= now <= time.time()
        time.sleep(0.01)
    ahead = SimClock(start=time.time(), speed=20.0)  # the plain simulated clock runs on past it
    time.sleep(0.1)
    assert ahead.now() > time.time() + 1.0

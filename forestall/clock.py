"""Clocks. Event time drives everything; the simulated clock lets the demo run faster than life."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current event time, Unix epoch seconds."""
        ...


class WallClock:
    def now(self) -> float:
        return time.time()


class SimClock:
    """Event time that starts at ``start`` and runs ``speed`` times faster than the wall clock.

    >>> clock = SimClock(start=1_000.0, speed=3600.0)
    >>> clock.now() >= 1_000.0
    True
    """

    def __init__(self, start: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def wall_seconds(self, event_seconds: float) -> float:
        return event_seconds / self.speed


class CatchUpClock(SimClock):
    """Event time that starts ``behind`` seconds before the wall clock and runs ``speed`` times
    faster until it reaches it, then runs with it. Nothing it stamps lies in the future, where
    dashboards and alert rules, which read up to now, would not show it: the compose demo
    replays the last weeks of its fleet this way, then goes on live.

    >>> clock = CatchUpClock(behind=3600.0, speed=3600.0)
    >>> time.time() - 3600.0 <= clock.now() <= time.time()
    True
    """

    def __init__(self, behind: float, speed: float) -> None:
        super().__init__(time.time() - behind, speed)

    def now(self) -> float:
        return min(super().now(), time.time())


def clock_from(newest: Sequence[float], wall: float) -> float | None:
    """The event clock that the newest sample times of a tenant's two most advanced assets give.

    One device alone moves it no further than the wall clock: past it (a replay or the accelerated
    demo) only as far as a second asset has come, so a device with a wrong clock cannot drag a
    fleet's "now" into the future.

    >>> clock_from([5000.0, 100.0], wall=1000.0), clock_from([5000.0, 3000.0], wall=1000.0)
    (1000.0, 3000.0)
    >>> clock_from([500.0], wall=1000.0), clock_from([5000.0], wall=1000.0), clock_from([], wall=1.0)
    (500.0, 1000.0, None)
    """
    if not newest:
        return None
    second = newest[1] if len(newest) > 1 else float("-inf")
    return min(newest[0], max(second, wall))

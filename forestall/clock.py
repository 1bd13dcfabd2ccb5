"""Clocks. Event time drives everything; the simulated clock lets the demo run faster than life."""

from __future__ import annotations

import time
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

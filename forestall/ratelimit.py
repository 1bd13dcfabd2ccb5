"""Rate limits: a token bucket per key — (tenant, asset) at ingest, (tenant, API key) at the API. Pure logic.

At ingest, a device that sends faster than ``rate_per_s`` once its ``burst`` is spent has the excess
rejected (``rate_limited``) before it reaches the worker's inbox, so one flooding device cannot
delay the others. An edge agent with ``max_inflight`` 20 waits for each PUBACK, and the worker
acknowledges once per chunk commit, so it stays well under the default 200 messages a second
even while it replays a long backlog.

>>> limiter = TokenBuckets(rate_per_s=1.0, burst=2)
>>> [limiter.allow(("t", "a"), now=0.0) for _ in range(3)], limiter.allow(("t", "a"), now=1.0)
([True, True, False], True)
>>> limiter.take_excess()
{('t', 'a'): 1}

A device that goes on flooding still costs every other device the broker's and the worker's time
to receive and refuse each message; ``FloodGuard`` names the devices to disable at the broker.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

Key = tuple[str, str]
MAX_TRACKED = 100_000  # devices with a bucket; beyond, the full buckets (idle devices) are dropped


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: int, *, tally: bool = True) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.tally = tally  # count refusals per key for take_excess (ingest keeps them as rejections)
        self._buckets: dict[Key, tuple[float, float]] = {}  # tokens, time of the last refill
        self._excess: dict[Key, int] = {}
        # At ingest allow() runs on paho's thread and take_excess() on the worker's; the API calls
        # allow() from its thread pool: every method holds the lock.
        self._lock = threading.Lock()

    def allow(self, key: Key, now: float) -> bool:
        with self._lock:  # uncontended at ingest (one paho thread); the API's pool shares it
            if len(self._buckets) >= MAX_TRACKED and key not in self._buckets:
                self._forget_idle(now)
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True
            self._buckets[key] = (tokens, now)
            if self.tally:
                self._excess[key] = self._excess.get(key, 0) + 1
            return False

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled: a device (or a topic a device made up) that went
        quiet costs nothing, and its next message starts from a full burst as it would anyway."""
        full = self.burst - 1.0
        self._buckets = {
            key: (tokens, at)
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate_per_s < full
        }

    def take_excess(self) -> dict[Key, int]:
        """Messages refused per device since the last call."""
        with self._lock:
            excess, self._excess = self._excess, {}
        return excess


class FloodGuard:
    """The devices refused ``limit`` messages or more within ``window_s``: to disable at the broker.

    A device is named once; it may be named again a window later (an operator re-enabled it and it
    floods again). Pure logic: the worker feeds it ``TokenBuckets.take_excess`` and does the I/O.

    >>> guard = FloodGuard(limit=100, window_s=60.0)
    >>> guard.observe({("t", "a"): 60}, now=0.0), guard.observe({("t", "a"): 60}, now=1.0)
    ([], [('t', 'a')])
    >>> guard.observe({("t", "a"): 500}, now=2.0)  # named already
    []
    >>> guard.observe({("t", "b"): 60}, now=0.0), guard.observe({("t", "b"): 60}, now=61.0)
    ([], [])
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._counts: dict[Key, tuple[int, float]] = {}  # refused since, start of its window
        self._named: dict[Key, float] = {}

    def observe(self, excess: Mapping[Key, int], now: float) -> list[Key]:
        named: list[Key] = []
        for key, refused in excess.items():
            count, since = self._counts.get(key, (0, now))
            if now - since > self.window_s:
                count, since = 0, now
            count += refused
            self._counts[key] = (count, since)
            if count >= self.limit and now - self._named.get(key, float("-inf")) > self.window_s:
                self._named[key] = now
                self._counts[key] = (0, now)
                named.append(key)
        self._forget(now)
        return named

    def _forget(self, now: float) -> None:
        """Windows that ended cost nothing: a device that made its excess up once is forgotten."""
        if len(self._counts) + len(self._named) < MAX_TRACKED:
            return
        self._counts = {k: v for k, v in self._counts.items() if now - v[1] <= self.window_s}
        self._named = {k: at for k, at in self._named.items() if now - at <= self.window_s}

"""Retry rules for webhook delivery: pure functions of an attempt's result.

>>> rng = random.Random(1)
>>> 0.5 <= backoff_delay(1, base_s=1.0, rng=rng) < 1.5
True
>>> 4.0 <= backoff_delay(4, base_s=1.0, rng=rng) < 12.0
True
>>> parse_retry_after("120", now=0.0)
120.0
>>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
10.0
>>> next_state(AttemptResult(1, 0.0, 503, None, 5.0), attempts=2, max_attempts=8).status
'pending'
>>> next_state(AttemptResult(1, 0.0, 204, None, 5.0), attempts=1, max_attempts=8).status
'delivered'
>>> next_state(AttemptResult(1, 0.0, None, "connect refused", 5.0), attempts=8, max_attempts=8).status
'dead'
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_DELAY_S = 3600.0
# Statuses that say "later" rather than "never"; other 4xx are retried too (see package doc)
# but are worth telling apart in the delivery log and metrics.
TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery_id: int
    at: float  # wall clock when the attempt started
    status_code: int | None  # None: no HTTP answer (transport error)
    error: str | None
    duration_ms: float
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def kind(self) -> str:
        """delivered | transport | server | throttled | client (a metrics label)."""
        code = self.status_code
        if code is None:
            return "transport"
        if 200 <= code < 300:
            return "delivered"
        if code >= 500:
            return "server"
        return "throttled" if code in TRANSIENT_STATUSES else "client"


@dataclass(frozen=True, slots=True)
class NextState:
    status: str  # delivered | pending | dead
    delay_s: float = 0.0


def backoff_delay(attempts: int, *, base_s: float, rng: random.Random) -> float:
    """Delay after the ``attempts``-th failure: base·2^(attempts−1), jittered by ±50 %."""
    exponent = min(max(attempts - 1, 0), 30)
    return min(base_s * (2.0**exponent), MAX_DELAY_S) * rng.uniform(0.5, 1.5)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_DELAY_S)
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when - now, 0.0), MAX_DELAY_S)


def next_state(
    result: AttemptResult,
    *,
    attempts: int,
    max_attempts: int,
    base_s: float = 1.0,
    rng: random.Random | None = None,
) -> NextState:
    """Where a delivery goes after its ``attempts``-th attempt ended with ``result``."""
    if result.ok:
        return NextState("delivered")
    if attempts >= max_attempts:
        return NextState("dead")
    delay = backoff_delay(attempts, base_s=base_s, rng=rng or random.Random())
    if result.retry_after_s is not None:
        delay = max(delay, result.retry_after_s)
    return NextState("pending", delay)

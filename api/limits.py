"""What one client may cost the API: body size (``BodyLimit``) and request rate (``KeyLimiter``).

``BodyLimit`` is pure ASGI middleware: a body declared larger than ``max_bytes`` is answered 413
before the app sees it, and a chunked body is cut off with 413 as soon as it passes the limit,
so neither is ever held in memory. The rest of such a body is read and dropped first, up to
``DRAIN_FACTOR`` times the limit: a server that closes the connection on a client still
sending resets it, and most clients then report the reset instead of the 413.

``KeyLimiter`` gives each API key a token bucket (the one ingest keeps per device,
``forestall.ratelimit.TokenBuckets``): ``rate_per_s`` requests a second once ``burst`` is spent.
It is consulted after the key is verified, so requests without a valid key never touch a real
key's bucket.

>>> limiter = KeyLimiter(rate_per_s=0.5, burst=2)
>>> [limiter.retry_after("t", "k1", now=0.0) for _ in range(3)], limiter.retry_after("t", "k2", now=0.0)
([None, None, 2], None)
>>> limiter.retry_after("t", "k1", now=2.0) is None
True
"""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forestall.ratelimit import TokenBuckets

DRAIN_FACTOR = 16


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"request body over {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared > self.max_bytes:
            if declared <= DRAIN_FACTOR * self.max_bytes:
                await _drop_body(receive, DRAIN_FACTOR * self.max_bytes)
            reply = JSONResponse({"detail": self.detail}, status.HTTP_413_CONTENT_TOO_LARGE)
            await reply(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await _drop_body(receive, DRAIN_FACTOR * self.max_bytes - received)
                    # An HTTPException passes FastAPI's body reading untouched and is answered
                    # by its handler as {"detail": …}.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self.detail)
            return message

        await self.app(scope, counted, send)


async def _drop_body(receive: Receive, budget: int) -> None:
    """Read the rest of the request body and drop it, until it ends or ``budget`` bytes are read."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def _declared_length(scope: Scope) -> int:
    """The Content-Length, or 0 when there is none (a chunked body) or the server let a bad one by."""
    try:
        return int(Headers(scope=scope).get("content-length") or 0)
    except ValueError:
        return 0


class KeyLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        # Refusals are counted as 429s in forestall_api_requests_total, not per key here.
        self._buckets = TokenBuckets(rate_per_s, burst, tally=False)
        # A refused request waits for one token: at most 1 / rate seconds, in whole seconds.
        self._wait_s = max(1, math.ceil(1.0 / rate_per_s))

    def retry_after(self, tenant: str, key_id: str, now: float | None = None) -> int | None:
        """None when the key may make this request; else seconds until it may try again."""
        if self._buckets.allow((tenant, key_id), time.monotonic() if now is None else now):
            return None
        return self._wait_s

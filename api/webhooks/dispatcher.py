"""The background worker that delivers webhooks from the outbox over HTTP.

An asyncio loop in a thread of its own (so a slow receiver never stalls the API's event
loop) keeps up to ``concurrency`` attempts in flight: claim due rows, send, record results
in batches, repeat. Attempts run on a thread pool, each thread with its own keep-alive sync
``httpx.Client`` (the async client spends more CPU per request than a thread hop costs, and
one client shared by all threads contends on its pool lock); database calls
run in worker threads too. A receiver that hangs holds one slot until the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.metrics import ApiMetrics
from api.webhooks.policy import AttemptResult, parse_retry_after
from api.webhooks.queue import Job, RetryPolicy, claim_due, record_results
from api.webhooks.signing import signed_headers
from forestall.settings import ApiSettings

log = logging.getLogger(__name__)

BATCH_WINDOW_S = 0.01
# A thread sends one attempt at a time; a few connections keep several receivers warm.
PER_THREAD_CONNECTIONS = 4


class _Sender:
    """Sends one attempt per call, on its own thread pool; each pool thread keeps its own
    keep-alive ``httpx.Client``.

    One client shared by all threads serialises them on its connection pool's lock and
    re-checks every pooled connection per request; a small client per thread does neither
    (``bench/bench_api.py``: 804 → 1178 deliveries/s on SQLite, 691 → 720 on PostgreSQL)."""

    def __init__(
        self,
        concurrency: int,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
    ) -> None:
        self.timeout_s = timeout_s
        self.transport = transport
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook-send")
        self.clock = clock
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            limits = httpx.Limits(
                max_connections=PER_THREAD_CONNECTIONS, max_keepalive_connections=PER_THREAD_CONNECTIONS
            )
            client = httpx.Client(
                timeout=self.timeout_s, limits=limits, transport=self.transport, follow_redirects=False
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def send(self, job: Job) -> AttemptResult:
        at = self.clock()
        start = time.perf_counter()
        try:
            headers = signed_headers(job.secret, job.msg_id, job.body, wall=at)
            response = self.client.post(job.url, content=job.body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(job.delivery_id, at, None, _describe(exc), _ms_since(start))
        except Exception as exc:  # a bad URL or secret must fail its delivery, not the loop
            log.exception("webhook dispatcher: delivery %d failed unexpectedly", job.delivery_id)
            return AttemptResult(job.delivery_id, at, None, _describe(exc), _ms_since(start))
        error = None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=at)
        return AttemptResult(job.delivery_id, at, response.status_code, error, _ms_since(start), retry_after)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


class WebhookDispatcher:
    """Deliver due webhooks until stopped: ``start()`` / ``stop()``, or ``deliver_due()`` once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ApiSettings,
        *,
        metrics: ApiMetrics | None = None,
        concurrency: int = 32,
        poll_interval_s: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or poll_interval_s <= 0:
            raise ValueError("concurrency must be >= 1 and poll_interval_s > 0")
        self.sessions = sessions
        self.policy = RetryPolicy(settings.webhook_max_attempts, settings.webhook_backoff_s)
        self.timeout_s = settings.webhook_timeout_s
        # Long enough for the slowest attempt plus recording; then another process may retry.
        self.lease_s = settings.webhook_timeout_s * 2 + 30.0
        self.metrics = metrics
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.transport = transport
        self.clock = clock
        self.rng = rng or random.Random()
        self._inflight: set[asyncio.Future[AttemptResult]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("dispatcher already started")
        ready = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(ready),), name="webhook-dispatcher", daemon=True
        )
        self._thread.start()
        ready.wait(10)

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, let attempts in flight finish (bounded by the HTTP timeout), record them."""
        thread, self._thread = self._thread, None
        self._stopping = True
        self.wake()
        if thread is not None:
            thread.join(timeout if timeout is not None else self.timeout_s + 10.0)

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def deliver_due(self) -> None:
        """Deliver what is due now; returns once nothing is due or in flight (retries may wait)."""
        asyncio.run(self._drain())

    # -- the loop ----------------------------------------------------------------------------

    async def _serve(self, ready: threading.Event) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        sender = self._sender()
        try:
            while not self._stopping:
                if not await self._cycle(sender):
                    await self._pause()
            await self._settle()
        finally:
            self._loop = None
            await asyncio.to_thread(sender.close)

    async def _drain(self) -> None:
        self._wake = asyncio.Event()
        sender = self._sender()
        try:
            while await self._cycle(sender) or self._inflight:
                await self._pause()
            await self._settle()
        finally:
            await asyncio.to_thread(sender.close)

    def _sender(self) -> _Sender:
        return _Sender(self.concurrency, self.timeout_s, self.transport, self.clock)

    async def _cycle(self, sender: _Sender) -> bool:
        """Record finished attempts and start new ones; True when there was anything to do."""
        done = [task for task in self._inflight if task.done()]
        self._inflight.difference_update(done)
        claimed: list[Job] = []
        try:
            if done:
                await self._record([task.result() for task in done])
            free = self.concurrency - len(self._inflight)
            if free > 0 and not self._stopping:
                claimed = await asyncio.to_thread(
                    claim_due, self.sessions, now=self.clock(), lease_s=self.lease_s, limit=free
                )
        except SQLAlchemyError:
            # The state DB is unreachable: unrecorded attempts are retried once the lease ends.
            log.exception("webhook dispatcher: state DB error")
            return False
        loop = asyncio.get_running_loop()
        for job in claimed:
            self._inflight.add(loop.run_in_executor(sender.pool, sender.send, job))
        return bool(done or claimed)

    async def _pause(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError("dispatcher loop is not running")
        waiter = asyncio.ensure_future(wake.wait())
        waitables: set[asyncio.Future[Any]] = {waiter, *self._inflight}
        done, _ = await asyncio.wait(
            waitables, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        wake.clear()
        if done - {waiter} and len(self._inflight) > 1:
            # Let neighbours finish too, so results are recorded (and slots refilled) in
            # batches: one transaction per batch, not one per delivery.
            await asyncio.sleep(BATCH_WINDOW_S)

    async def _settle(self) -> None:
        if self._inflight:
            await asyncio.wait(self._inflight)
            done, self._inflight = list(self._inflight), set()
            try:
                await self._record([task.result() for task in done])
            except SQLAlchemyError:
                log.exception("webhook dispatcher: could not record the last attempts")

    async def _record(self, results: list[AttemptResult]) -> None:
        moved = await asyncio.to_thread(record_results, self.sessions, results, self.policy, self.rng)
        if self.metrics is not None:
            for result in results:
                self.metrics.webhook_attempts.labels(result.kind).inc()
                self.metrics.webhook_latency.observe(result.duration_ms / 1000.0)
        if moved["dead"]:
            log.warning(
                "webhook dispatcher: %d deliveries dead after %d attempts",
                moved["dead"],
                self.policy.max_attempts,
            )


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__

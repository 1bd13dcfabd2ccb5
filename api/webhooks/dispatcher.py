"""The background worker that delivers webhooks from the outbox over HTTP.

An asyncio loop in a thread of its own (so a slow receiver never stalls the API's event
loop) keeps up to ``webhook_concurrency`` attempts in flight: claim due rows fairly (no
tenant or subscription beyond its share, ``queue.Quota``), send, record results in batches,
repeat. Attempts run on a thread pool, each thread with its own keep-alive sync
``httpx.Client`` (httpx's async client costs several times the CPU per request here, and one
client shared by all threads contends on its pool lock); database calls run in worker
threads too.

One attempt is bounded as a whole, not per read (``transport``): connecting to the vetted
address, sending and reading the reply must all end within ``webhook_timeout_s``, so a
receiver that trickles its answer a byte at a time holds its slot no longer than one that
hangs. Only the first ``REPLY_CAP`` bytes of a reply are read, and what is kept of it is a
short excerpt with anything a database or a log cannot hold removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.metrics import ApiMetrics
from api.webhooks.egress import EgressPolicy, EgressRefusedError
from api.webhooks.policy import AttemptResult, parse_retry_after
from api.webhooks.queue import Job, Quota, RetryPolicy, claim_due, record_results
from api.webhooks.signing import signed_headers
from api.webhooks.transport import Deadline, vetted_transport
from forestall.settings import ApiSettings

log = logging.getLogger(__name__)

BATCH_WINDOW_S = 0.01
# A thread sends one attempt at a time; a few connections keep several receivers warm.
PER_THREAD_CONNECTIONS = 4
REPLY_CAP = 2048  # bytes of a reply read at most; the rest is never fetched
EXCERPT_CHARS = 120  # of a failed reply, kept in the delivery log


def excerpt(raw: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """Printable text of at most ``limit`` characters: control characters and NUL become spaces.

    >>> excerpt(b"bad\\x00 gateway\\r\\n<html>")
    'bad gateway <html>'
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(cleaned.split())[:limit]


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
        egress: EgressPolicy,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
    ) -> None:
        self.timeout_s = timeout_s
        self.egress = egress
        self.transport = transport
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook-send")
        self.clock = clock
        self.deadline = Deadline()
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
            transport = self.transport or vetted_transport(self.egress, self.deadline, limits)
            # No proxy from the environment: connections go where the egress policy let them.
            client = httpx.Client(
                timeout=self.timeout_s, transport=transport, follow_redirects=False, trust_env=False
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def send(self, job: Job) -> AttemptResult:
        at = self.clock()
        start = time.perf_counter()
        self.deadline.start(self.timeout_s)
        try:
            status, reply, retry_after = self._post(job, at)
        except httpx.TimeoutException as exc:
            late = f"no complete answer within {self.timeout_s:g} s"
            message = late if self.deadline.passed() else _describe(exc)
            return AttemptResult(job.delivery_id, at, None, message, _ms_since(start))
        except EgressRefusedError as exc:
            return AttemptResult(job.delivery_id, at, None, excerpt(str(exc), 300), _ms_since(start))
        except httpx.HTTPError as exc:
            return AttemptResult(job.delivery_id, at, None, _describe(exc), _ms_since(start))
        except Exception as exc:  # a bad URL or secret must fail its delivery, not the loop
            log.exception("webhook dispatcher: delivery %d failed unexpectedly", job.delivery_id)
            return AttemptResult(job.delivery_id, at, None, _describe(exc), _ms_since(start))
        text = excerpt(reply)
        error = None if 200 <= status < 300 else f"HTTP {status}: {text}" if text else f"HTTP {status}"
        retry_after_s = parse_retry_after(retry_after, now=at)
        return AttemptResult(job.delivery_id, at, status, error, _ms_since(start), retry_after_s)

    def _post(self, job: Job, at: float) -> tuple[int, bytes, str | None]:
        headers = signed_headers(job.secret, job.msg_id, job.body, wall=at)
        with self.client.stream("POST", job.url, content=job.body.encode(), headers=headers) as response:
            reply = bytearray()
            try:
                for chunk in response.iter_raw():  # raw: no decompression bomb either
                    reply += chunk
                    if len(reply) >= REPLY_CAP:
                        break  # closing an unread response drops its connection: nothing more is read
            except httpx.StreamConsumed:  # a reply built in memory (a mock transport) is read already
                reply = bytearray(response.content[:REPLY_CAP])
            return response.status_code, bytes(reply[:REPLY_CAP]), response.headers.get("retry-after")

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
        concurrency: int | None = None,
        poll_interval_s: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        egress: EgressPolicy | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        concurrency = settings.webhook_concurrency if concurrency is None else concurrency
        if concurrency < 1 or poll_interval_s <= 0:
            raise ValueError("concurrency must be >= 1 and poll_interval_s > 0")
        self.sessions = sessions
        self.policy = RetryPolicy(settings.webhook_max_attempts, settings.webhook_backoff_s)
        self.timeout_s = settings.webhook_timeout_s
        # Longer than any attempt can run (each is cut off at the timeout), plus recording;
        # only then may another process try the row again.
        self.lease_s = settings.webhook_timeout_s * 2 + 30.0
        self.quota = Quota(
            min(settings.webhook_tenant_concurrency, concurrency),
            min(settings.webhook_subscription_concurrency, concurrency),
        )
        self.egress = egress or EgressPolicy(settings.webhook_allowed_networks)
        self.metrics = metrics
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.transport = transport
        self.clock = clock
        self.rng = rng or random.Random()
        self._inflight: dict[asyncio.Future[AttemptResult], Job] = {}
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
        return _Sender(self.concurrency, self.timeout_s, self.egress, self.transport, self.clock)

    async def _cycle(self, sender: _Sender) -> bool:
        """Record finished attempts and start new ones; True when there was anything to do."""
        done = [task for task in self._inflight if task.done()]
        for task in done:
            del self._inflight[task]
        claimed: list[Job] = []
        try:
            if done:
                await self._record([task.result() for task in done])
            free = self.concurrency - len(self._inflight)
            if free > 0 and not self._stopping:
                jobs = self._inflight.values()
                claimed = await asyncio.to_thread(
                    claim_due,
                    self.sessions,
                    now=self.clock(),
                    lease_s=self.lease_s,
                    limit=free,
                    quota=self.quota,
                    busy_tenants=Counter(job.tenant for job in jobs),
                    busy_subscriptions=Counter(job.subscription_id for job in jobs),
                )
        except SQLAlchemyError:
            # The state DB is unreachable: unrecorded attempts are retried once the lease ends.
            log.exception("webhook dispatcher: state DB error")
            return False
        loop = asyncio.get_running_loop()
        for job in claimed:
            self._inflight[loop.run_in_executor(sender.pool, sender.send, job)] = job
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
            done, self._inflight = list(self._inflight), {}
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
    return excerpt(f"{type(exc).__name__}: {exc}", 300) if str(exc) else type(exc).__name__

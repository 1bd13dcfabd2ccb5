"""Benchmark the API: list latency with 10,000 recommendations, and webhook outbox throughput.

    .venv/bin/python bench/bench_api.py [--recs 10000] [--requests 1000] [--deliveries 5000]
                                   [--backend postgresql|sqlite|both]

1. ``GET /v1/recommendations?limit=100`` against a real API (uvicorn) on a throw-away
   PostgreSQL database holding ``--recs`` recommendations of one tenant: p50 / p99 over
   ``--requests`` calls (first pages, deeper pages via cursors, and a status filter).
2. The webhook dispatcher draining ``--deliveries`` outbox rows to a local HTTP receiver (a
   separate process answering 204 with keep-alive): deliveries per second, per backend.

Prints its figures and the command line; asserts nothing. Needs PostgreSQL on 127.0.0.1:5432
(user postgres, trust), as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# ``api`` package: put the repository root before it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.server import ApiServer
from api.webhooks.dispatcher import WebhookDispatcher
from forestall.broker import free_port
from forestall.settings import LOOPBACK, ApiSettings, Settings, StoreSettings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.keys import create_key
from forestall.state.models import OutboxEvent, Recommendation, WebhookDelivery, WebhookSubscription

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
TENANT = "bench"
EVENT_NOW = 1_800_000_000.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"forestall_bench_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def state_database(backend: str) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_database() as url:
            upgrade(url)
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="forestall-bench-") as tmp:
        url = f"sqlite:///{tmp}/state.db"
        upgrade(url)
        yield url


# -- 1. list latency -------------------------------------------------------------------------


def seed_recommendations(sessions: sessionmaker[Session], n: int) -> None:
    statuses = ("open", "accepted", "scheduled", "completed", "dismissed", "expired")
    rows = [
        {
            "id": f"rec_{i:024x}",
            "tenant": TENANT,
            "customer_id": f"c{i % 500}",
            "site": f"site-{i % 50}",
            "asset_ids": [f"asset-{i % 2000}"],
            "status": statuses[i % len(statuses)],
            "priority": f"P{1 + i % 4}",
            "priority_score": (i % 100) / 100,
            "reason": {"signals": ["anomaly", "ttf"], "top_sensors": ["temp_c", "vibration_mm_s"]},
            "predicted_failure_at": EVENT_NOW + 86400,
            "confidence": 0.7,
            "window_start": EVENT_NOW + 3600,
            "window_end": EVENT_NOW + 7200,
            "sla_due_at": EVENT_NOW + 14400,
            "fits_sla": True,
            "risk_index": 42.0,
            "source": "predictor",
            "created_at": EVENT_NOW - n + i,
            "updated_at": EVENT_NOW - n + i,
        }
        for i in range(n)
    ]
    with sessions.begin() as session:
        session.execute(insert(Recommendation), rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_list(recs: int, requests: int) -> dict[str, float]:
    with postgres_database() as url, tempfile.TemporaryDirectory(prefix="forestall-bench-") as tmp:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        seed_recommendations(sessions, recs)
        with sessions.begin() as session:
            key = create_key(session, TENANT, "dispatcher")
        settings = Settings(
            database_url=url,
            # One key asks as fast as it is answered; the limiter still runs, it never refuses.
            api=ApiSettings(host="127.0.0.1", port=free_port(), rate_per_s=1e9),
            store=StoreSettings(path=Path(tmp) / "tsdb.sqlite"),
        )
        server = ApiServer(settings, deliver_webhooks=False)
        server.start()
        try:
            with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}) as client:
                cursors: list[str] = []
                page = client.get("/v1/recommendations", params={"limit": 100}).json()
                while page["next_cursor"] and len(cursors) < 50:
                    cursors.append(page["next_cursor"])
                    page = client.get(
                        "/v1/recommendations", params={"limit": 100, "cursor": cursors[-1]}
                    ).json()
                for _ in range(50):  # warm up
                    client.get("/v1/recommendations", params={"limit": 100})
                timings: list[float] = []
                for i in range(requests):
                    params: dict[str, str | int] = {"limit": 100}
                    if i % 3 == 1:
                        params["cursor"] = cursors[i % len(cursors)]
                    elif i % 3 == 2:
                        params["status"] = "open,accepted,scheduled"
                    start = time.perf_counter()
                    response = client.get("/v1/recommendations", params=params)
                    timings.append((time.perf_counter() - start) * 1000.0)
                    if response.status_code != 200 or len(response.json()["items"]) != 100:
                        raise RuntimeError(f"unexpected answer: {response.status_code} {response.text[:200]}")
        finally:
            server.stop()
            engine.dispose()
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": percentile(timings, 0.99),
        "max_ms": max(timings),
    }


# -- 2. outbox throughput --------------------------------------------------------------------


def _receiver(port: int, ready: Any) -> None:
    """A minimal HTTP/1.1 server answering 204 on one connection after another (keep-alive)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def seed_outbox(sessions: sessionmaker[Session], n: int, url: str) -> None:
    now = time.time()
    with sessions.begin() as session:
        session.add(
            WebhookSubscription(
                id="wh_bench", tenant=TENANT, url=url, events=[], secret=SECRET, active=True, created_at=now
            )
        )
        session.execute(
            insert(OutboxEvent),
            [
                {
                    "webhook_id": f"msg_{i:032x}",
                    "tenant": TENANT,
                    "type": "visit.updated",
                    "timestamp": EVENT_NOW + i,
                    "data": {"id": f"rec_{i}", "status": "accepted", "priority": "P2", "asset_ids": ["a1"]},
                    "created_at": now,
                    "fanned_out": True,
                }
                for i in range(n)
            ],
        )
        ids = session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)).all()
        session.execute(
            insert(WebhookDelivery),
            [
                {
                    "outbox_id": outbox_id,
                    "subscription_id": "wh_bench",
                    "tenant": TENANT,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for outbox_id in ids
            ],
        )


def delivered(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
            )
            or 0
        )


def bench_outbox(backend: str, n: int, settings: ApiSettings) -> float:
    port = free_port()
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=_receiver, args=(port, ready), daemon=True)
    receiver.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the receiver did not start")
        with state_database(backend) as url:
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            seed_outbox(sessions, n, f"http://127.0.0.1:{port}/hook")
            dispatcher = WebhookDispatcher(sessions, settings, poll_interval_s=0.05)
            start = time.perf_counter()
            dispatcher.start()
            while delivered(sessions) < n:
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            dispatcher.stop()
            engine.dispose()
    finally:
        receiver.terminate()
        receiver.join(5)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=5000)
    defaults = ApiSettings()
    parser.add_argument("--concurrency", type=int, default=defaults.webhook_concurrency)
    parser.add_argument(
        "--subscription-concurrency",
        type=int,
        default=defaults.webhook_subscription_concurrency,
        help="attempts in flight for one subscription (the bench has one)",
    )
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--skip-list", action="store_true")
    args = parser.parse_args()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]), flush=True)
    if not args.skip_list:
        figures = bench_list(args.recs, args.requests)
        print(
            f"GET /v1/recommendations?limit=100 with {args.recs} recommendations (PostgreSQL), "
            f"{args.requests} requests: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
            f"max {figures['max_ms']:.1f} ms",
            flush=True,
        )
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    settings = ApiSettings(
        webhook_allowed_networks=[LOOPBACK],  # the receiver is on loopback
        webhook_concurrency=args.concurrency,
        webhook_tenant_concurrency=args.subscription_concurrency,
        webhook_subscription_concurrency=args.subscription_concurrency,
    )
    for backend in backends:
        rate = bench_outbox(backend, args.deliveries, settings)
        print(
            f"webhook outbox -> local receiver ({backend}, {args.deliveries} deliveries, "
            f"concurrency {args.concurrency}, {args.subscription_concurrency} for its one subscription): "
            f"{rate:.0f} deliveries/s",
            flush=True,
        )


if __name__ == "__main__":
    main()

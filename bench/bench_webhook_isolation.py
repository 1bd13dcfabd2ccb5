"""Benchmark: a calm tenant's webhook latency while another tenant's receivers trickle.

    .venv/bin/python bench/bench_webhook_isolation.py [--backend postgresql|sqlite]
        [--seconds 30] [--rate 10] [--hostile 32] [--interval 3]

Tenant B has one healthy receiver (answers 204 at once). Its events go into the outbox at
``--rate`` per second through ``emit_webhook`` (as the worker and the API do), and each one's
latency is the time from its commit to its arrival at the receiver. Phase 1 measures B alone;
phase 2 again while tenant A has ``--hostile`` subscriptions whose receivers trickle their
answers one byte every ``--interval`` seconds, with A's events arriving fast enough to keep all
of them busy. The dispatcher is the one the API runs, with the default settings (only loopback
allowed as a destination). Prints p50 / p95 / max per phase and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from pathlib import Path

from bench_api import SECRET, percentile, state_database
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.crud.webhooks import create_subscription
from api.webhooks.dispatcher import WebhookDispatcher
from forestall.settings import LOOPBACK, ApiSettings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import OutboxEvent
from forestall.state.repo import emit_webhook
from simulators.receivers import MisbehavingReceiver

CALM, HOSTILE = "calm", "hostile"


def subscribe(sessions: sessionmaker[Session], tenant: str, urls: list[str]) -> None:
    with sessions.begin() as session:
        for url in urls:
            create_subscription(session, tenant, url, [], SECRET, True)


def emit(sessions: sessionmaker[Session], tenant: str, i: int) -> None:
    with sessions.begin() as session:
        emit_webhook(session, tenant, "visit.updated", 1_800_000_000.0 + i, {"id": f"rec_{i}"})


def pace(sessions: sessionmaker[Session], tenant: str, rate: float, seconds: float) -> None:
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        if sent < (time.monotonic() - start) * rate:
            emit(sessions, tenant, sent)
            sent += 1
        time.sleep(0.005)


def latencies(
    sessions: sessionmaker[Session], receiver: MisbehavingReceiver, since: float
) -> tuple[list[float], int]:
    """The calm tenant's events since ``since``: emit-to-arrival seconds of those that arrived; how many."""
    with sessions() as session:
        rows = session.execute(
            select(OutboxEvent.webhook_id, OutboxEvent.created_at).where(
                OutboxEvent.tenant == CALM, OutboxEvent.created_at >= since
            )
        ).all()
    return [receiver.arrivals[msg] - created for msg, created in rows if msg in receiver.arrivals], len(rows)


def phase(
    sessions: sessionmaker[Session],
    calm: MisbehavingReceiver,
    rate: float,
    seconds: float,
    hostile_rate: float = 0.0,
) -> tuple[list[float], int]:
    since = time.time()
    flood = threading.Thread(target=pace, args=(sessions, HOSTILE, hostile_rate, seconds), daemon=True)
    if hostile_rate:
        flood.start()
    pace(sessions, CALM, rate, seconds)
    time.sleep(2.0)  # let the last calm deliveries land
    return latencies(sessions, calm, since)


def report(name: str, values: list[float], emitted: int) -> float:
    p95 = percentile(values, 0.95) if values else float("inf")
    print(
        f"{name}: {len(values)}/{emitted} delivered, p50 {percentile(values, 0.5) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(values, default=float('inf')) * 1000:.0f} ms",
        flush=True,
    )
    return p95


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="calm tenant events per second")
    parser.add_argument("--hostile", type=int, default=32, help="trickling subscriptions of tenant A")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between trickled bytes")
    parser.add_argument(
        "--tenant-concurrency", type=int, default=None, help="override the share of one tenant (to compare)"
    )
    args = parser.parse_args()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]), flush=True)
    calm = MisbehavingReceiver("ok").start()
    trickle = MisbehavingReceiver("trickle", interval_s=args.interval).start()
    settings = ApiSettings(webhook_allowed_networks=[LOOPBACK])
    if args.tenant_concurrency is not None:
        settings = settings.model_copy(
            update={
                "webhook_tenant_concurrency": args.tenant_concurrency,
                "webhook_subscription_concurrency": args.tenant_concurrency,
            }
        )
    print(
        f"dispatcher: {settings.webhook_concurrency} in flight, {settings.webhook_tenant_concurrency} per "
        f"tenant, {settings.webhook_subscription_concurrency} per subscription, "
        f"timeout {settings.webhook_timeout_s:g} s; backend {args.backend}",
        flush=True,
    )
    with state_database(args.backend) as url:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        subscribe(sessions, CALM, [calm.url])
        subscribe(sessions, HOSTILE, [f"{trickle.url}/{i}" for i in range(args.hostile)])
        dispatcher = WebhookDispatcher(sessions, settings)
        dispatcher.start()
        try:
            alone = report("tenant B alone", *phase(sessions, calm, args.rate, args.seconds))
            disturbed = report(
                f"tenant B while {args.hostile} of tenant A's receivers trickle",
                *phase(sessions, calm, args.rate, args.seconds, hostile_rate=2.0),
            )
            print(
                f"trickling attempts started: {trickle.requests}; p95 ratio {disturbed / alone:.2f}",
                flush=True,
            )
        finally:
            trickle.stop()  # its open answers end, and with them the attempts in flight
            dispatcher.stop()
            calm.stop()
            engine.dispose()


if __name__ == "__main__":
    main()

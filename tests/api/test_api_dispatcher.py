"""The webhook dispatcher on its own: signing per attempt, retry rules, no double delivery.

These use a spare state DB of the same backend, so the API server's own dispatcher does not
compete for the rows.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from api.pagination import cursor_key, decode_cursor, encode_cursor
from api.webhooks.dispatcher import WebhookDispatcher
from api.webhooks.policy import MAX_DELAY_S, backoff_delay, parse_retry_after
from forestall.settings import LOOPBACK, ApiSettings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import WebhookDelivery, WebhookSubscription
from tests.conftest import WEBHOOK_SECRET
from tests.support import emit_events, new_tenant

ON_LOOPBACK = ApiSettings(webhook_allowed_networks=[LOOPBACK])  # for the real receivers


def _subscription(
    sessions: sessionmaker[Session], tenant: str, url: str = "http://receiver.test/hook"
) -> str:
    with sessions.begin() as session:
        session.add(
            WebhookSubscription(
                id=f"wh_{tenant}",
                tenant=tenant,
                url=url,
                events=[],
                secret=WEBHOOK_SECRET,
                active=True,
                created_at=time.time(),
            )
        )
    return f"wh_{tenant}"


def _deliveries(sessions: sessionmaker[Session], tenant: str) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.tenant == tenant)))


def test_each_attempt_is_signed_afresh_with_the_same_id(spare: sessionmaker[Session]) -> None:
    tenant = new_tenant("d")
    _subscription(spare, tenant)
    emit_events(spare, tenant, 1)
    answers = [httpx.Response(503), httpx.Response(429, headers={"retry-after": "30"}), httpx.Response(204)]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    now = [float(int(time.time()) + 1)]  # just after emit_webhook made the row due
    dispatcher = WebhookDispatcher(
        spare,
        ApiSettings(webhook_max_attempts=5, webhook_backoff_s=1.0),
        transport=httpx.MockTransport(handler),
        clock=lambda: now[0],
    )
    dispatcher.deliver_due()
    dispatcher.deliver_due()  # the retry is not due yet at the same (fake) wall time
    assert len(seen) == 1
    now[0] += 10
    dispatcher.deliver_due()
    assert len(seen) == 2
    retry_after = _deliveries(spare, tenant)[0].next_attempt_at - now[0]
    assert retry_after >= 30  # Retry-After wins over the shorter backoff
    now[0] += 40
    dispatcher.deliver_due()

    assert len(seen) == 3
    assert len({r.headers["webhook-id"] for r in seen}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in seen]
    assert stamps == [int(now[0]) - 50, int(now[0]) - 40, int(now[0])]
    verifier = Webhook(WEBHOOK_SECRET)
    for request in seen:
        payload = verifier.verify(request.content, dict(request.headers))
        assert payload == {
            "type": "visit.updated",
            "timestamp": "2027-01-15T08:00:00.000Z",
            "data": {"id": "rec_0", "n": 0},
        }
    delivery = _deliveries(spare, tenant)[0]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 204)


def test_many_dispatchers_never_deliver_one_row_twice(
    spare_db_url: str, spare: sessionmaker[Session]
) -> None:
    tenant = new_tenant("d")
    _subscription(spare, tenant)
    emit_events(spare, tenant, 300)
    received: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            received[request.headers["webhook-id"]] += 1
        return httpx.Response(200)

    engines = [make_engine(spare_db_url) for _ in range(3)]
    dispatchers = [
        WebhookDispatcher(
            make_sessionmaker(engine),
            ApiSettings(),
            transport=httpx.MockTransport(handler),
            concurrency=16,
        )
        for engine in engines
    ]
    threads = [threading.Thread(target=d.deliver_due) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()

    assert len(received) == 300 and set(received.values()) == {1}
    deliveries = _deliveries(spare, tenant)
    assert {(d.status, d.attempts) for d in deliveries} == {("delivered", 1)}


def test_started_dispatcher_delivers_concurrently_over_real_http(
    spare: sessionmaker[Session], scripted_receiver: Any, wait: Any
) -> None:
    tenant = new_tenant("d")
    receiver = scripted_receiver(WEBHOOK_SECRET)
    _subscription(spare, tenant, receiver.url)
    emit_events(spare, tenant, 200)
    dispatcher = WebhookDispatcher(spare, ON_LOOPBACK, concurrency=32, poll_interval_s=0.05)
    dispatcher.start()
    try:
        wait(lambda: len(receiver.requests) >= 200, what="200 deliveries")
    finally:
        dispatcher.stop()
    assert all(r.verified for r in receiver.requests)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 200
    assert {d.status for d in _deliveries(spare, tenant)} == {"delivered"}


def test_deliveries_to_inactive_subscriptions_die(spare: sessionmaker[Session]) -> None:
    tenant = new_tenant("d")
    sub_id = _subscription(spare, tenant)
    emit_events(spare, tenant, 1)
    with spare.begin() as session:  # paused after the event was fanned out to it
        session.get(WebhookSubscription, sub_id).active = False  # type: ignore[union-attr]
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))  # type: ignore[func-returns-value]
    WebhookDispatcher(spare, ApiSettings(), transport=transport).deliver_due()
    assert calls == []
    (delivery,) = _deliveries(spare, tenant)
    assert (delivery.status, delivery.last_error) == ("dead", "subscription inactive")


def test_dispatcher_rejects_nonsense_options(spare: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        WebhookDispatcher(spare, ApiSettings(), concurrency=0)


@given(attempts=st.integers(1, 60), base=st.floats(0.001, 100.0), seed=st.integers(0, 2**32))
def test_backoff_grows_and_stays_bounded(attempts: int, base: float, seed: int) -> None:
    delay = backoff_delay(attempts, base_s=base, rng=random.Random(seed))
    nominal = min(base * 2 ** (attempts - 1), MAX_DELAY_S)
    assert 0.5 * nominal <= delay <= 1.5 * nominal


@given(st.text(max_size=40))
def test_retry_after_never_breaks_on_garbage(value: str) -> None:
    parsed = parse_retry_after(value, now=1_800_000_000.0)
    assert parsed is None or 0.0 <= parsed <= MAX_DELAY_S


@given(
    st.lists(
        st.one_of(
            st.text(max_size=20),
            st.integers(-(2**53), 2**53),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_cursors_round_trip(key: list[Any]) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@given(st.text(max_size=60))
def test_foreign_cursors_are_refused_not_crashed(cursor: str) -> None:
    key = cursor_key(cursor, float, str)
    assert key is None or (isinstance(key[0], float) and isinstance(key[1], str))
